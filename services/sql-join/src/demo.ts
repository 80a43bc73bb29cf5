/**
 * The embedded default: demo `users` and `orders` in two separate in-memory DuckDB sources, so
 * the first cross-database join works with no configuration at all, and a tiered `events` table
 * — the last 30 days hot in DuckDB, the 90 days before as Parquet in a cold store — so the first
 * query over it reads both tiers. The data is deterministic (relative to today, for events).
 */
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ColdstoreConnector, type Connector, type SourceConfig } from "@entente/connectors";
import type { Row } from "@entente/sql";
import {
  type LogicalTablesConfig,
  logicalTablesSchema,
  WATERMARK_PROPERTY,
} from "./logical-config.ts";

/** The demo cold store: one directory per process, emptied at start and removed at stop. */
export const DEMO_COLD_PATH = join(tmpdir(), `entente-demo-cold-${process.pid}`);

export const DEMO_SOURCES: Record<string, SourceConfig> = {
  users_db: { kind: "duckdb" },
  orders_db: { kind: "duckdb" },
  events_db: { kind: "duckdb" },
  archive: { kind: "coldstore", path: DEMO_COLD_PATH },
};

/** `events`: hot in `events_db`, cold in `archive`, moved every hour once 30 days old. */
export const DEMO_LOGICAL_TABLES: LogicalTablesConfig = logicalTablesSchema.parse({
  events: {
    tiers: {
      column: "created_at",
      hot: "events_db.main.events",
      cold: "archive.main.events",
      lifecycle: { hotRetention: "30 days", coldRetention: "730 days", every: "1 hour" },
    },
  },
}) as LogicalTablesConfig;

const DAY_MS = 86_400_000;
const DEMO_DAYS = 120;
const EVENTS_PER_DAY = 48;
const KINDS = ["view", "click", "signup", "buy"];

/** Every demo event: one each half hour for the last 120 days, ending at midnight UTC today. */
function demoEvents(today: number): Row[] {
  const start = today - DEMO_DAYS * DAY_MS;
  const count = DEMO_DAYS * EVENTS_PER_DAY;
  return Array.from({ length: count }, (_, i) => [
    i + 1,
    BigInt(start + i * (DAY_MS / EVENTS_PER_DAY)) * 1_000_000n,
    KINDS[(i * 7) % KINDS.length] as string,
    ((i * 13) % 1000) + 1,
    ((i * 37) % 10_000) / 100,
  ]);
}

async function loadDemoEvents(hot: Connector, archive: ColdstoreConnector): Promise<void> {
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const watermark = today - 30 * DAY_MS;
  const watermarkNs = BigInt(watermark) * 1_000_000n;
  const rows = demoEvents(today);
  await hot.execute({
    sql: `CREATE TABLE events (id INTEGER, created_at TIMESTAMP, kind VARCHAR, user_id INTEGER, amount DOUBLE)`,
    params: [],
  });
  await hot.appendRows(
    "events",
    ["id", "created_at", "kind", "user_id", "amount"],
    rows.filter((r) => (r[1] as bigint) >= watermarkNs),
  );
  const store = archive.store;
  // A directory left by an earlier process of the same id holds nothing of this one's.
  await rm(store.tableDir("events"), { recursive: true, force: true });
  await store.create(
    "events",
    [
      { name: "id", type: "integer", nullable: true },
      { name: "created_at", type: "timestamp", nullable: true },
      { name: "kind", type: "text", nullable: true },
      { name: "user_id", type: "integer", nullable: true },
      { name: "amount", type: "double", nullable: true },
    ],
    [{ source: "created_at", transform: "day" }],
  );
  const cold = rows.filter((r) => (r[1] as bigint) < watermarkNs);
  const files = await store.writeFiles(
    "events",
    (async function* () {
      yield cold;
    })(),
    { prefix: "demo" },
  );
  await store.commit("events", "append", () => ({
    files,
    properties: { [WATERMARK_PROPERTY]: new Date(watermark).toISOString() },
    summary: { "entente.demo": "true" },
  }));
}

const COUNTRIES = ["US", "DE", "FR", "JP", "BR", "IN", "GB", "CA", "AU", "ES"];

export async function loadDemoData(connectors: Map<string, Connector>): Promise<void> {
  const users = connectors.get("users_db");
  const orders = connectors.get("orders_db");
  if (!users || !orders) return;
  const events = connectors.get("events_db");
  const archive = connectors.get("archive");
  if (events && archive instanceof ColdstoreConnector) await loadDemoEvents(events, archive);
  const countries = COUNTRIES.map((c) => `'${c}'`).join(", ");
  await users.execute({
    sql: `CREATE TABLE users AS
            SELECT CAST(i AS INTEGER) AS id,
                   'user_' || CAST(i AS VARCHAR) AS name,
                   [${countries}][1 + CAST(i % 10 AS INTEGER)] AS country
              FROM range(1, 1001) t(i)`,
    params: [],
  });
  await orders.execute({
    sql: `CREATE TABLE orders AS
            SELECT CAST(i AS INTEGER) AS id,
                   CAST((i * 7) % 1000 + 1 AS INTEGER) AS user_id,
                   CAST(((i * 37) % 10000) / 100.0 AS DECIMAL(10, 2)) AS total,
                   TIMESTAMP '2026-01-01 00:00:00' + INTERVAL (i) HOUR AS created_at
              FROM range(1, 5001) t(i)`,
    params: [],
  });
}

/** Removes the demo cold store's directory (at stop). */
export async function removeDemoColdStore(): Promise<void> {
  await rm(DEMO_COLD_PATH, { recursive: true, force: true });
}

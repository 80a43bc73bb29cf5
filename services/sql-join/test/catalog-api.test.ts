/**
 * `entente.catalog` over a real sql-join worker: PostgreSQL tables (one plain, two shards of a
 * sharded table, the hot tier of a lifecycle tiered `events` table) and a cold store in a
 * temporary directory. `tables` lists each physical and logical table with its kind, columns
 * and rows; `tableStats` gives a PostgreSQL table's figures (checked against the data), a cold
 * table's from its manifest (checked against the manifest on disk), and a tiered table's per
 * tier and merged after a move; unknown tables are NOT_FOUND, malformed requests BAD_REQUEST.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnector } from "@entente/connectors";
import {
  type CatalogTablesReply,
  collectSqlResult,
  EntenteError,
  SUBJECTS,
  type TableStatsReply,
  type TiersMoveReply,
  type TiersStatusReply,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, type PostgresService, postgres, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Hourly events back from the start of this hour: about 83 days, 30 of them kept hot. */
const EVENTS = 2000;
const MEASUREMENTS = 50;
const POINTS = 30;

let nats: NatsServer;
let pg: PostgresService;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;
let dir: string;
let coldPath: string;
/** The start of the hour the events count back from (ms). */
let hourStart: number;

/** One measurement: a tenth of the names and a seventh of the scores are null. */
function measurement(id: number) {
  return {
    id,
    name: id % 5 === 0 ? null : `m${id}`,
    score: id % 7 === 0 ? null : id * 1.5,
    // ts: an hour after 2025-01-01 per id.
    tsMs: Date.parse("2025-01-01T00:00:00Z") + id * HOUR_MS,
  };
}

/** One event: id i happened i hours before `hourStart`; every tenth has no amount. */
function event(i: number) {
  return { id: i, tsMs: hourStart - i * HOUR_MS, amount: i % 10 === 0 ? null : i % 100 };
}

const ns = (ms: number) => BigInt(ms) * 1_000_000n;

/** A timestamp statistic as ns since the epoch, whatever form it came in (bigint, text, number). */
function nsOf(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw new Error(`not a timestamp statistic: ${JSON.stringify(value)}`);
}

async function catalog<T>(body: unknown): Promise<T> {
  return client.request<T>(SUBJECTS.catalog, body);
}

/** Two uuids, in their canonical text's order. */
const SWATCH_UUIDS = [
  "0eebc999-9c0b-4ef8-bb6d-6bb9bd380a11",
  "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
];

async function failure(work: Promise<unknown>): Promise<EntenteError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

async function sql(statement: string) {
  return collectSqlResult(await client.collect(SUBJECTS.sql, { sql: statement }));
}

/** The cold table's current metadata, read from the directory as a reader would. */
async function manifest(table: string) {
  const metaDir = join(coldPath, "main", table, "metadata");
  const versions = (await readdir(metaDir))
    .map((f) => /^v(\d+)\.metadata\.json$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
  const current = Math.max(...versions);
  const metadata = JSON.parse(
    await readFile(join(metaDir, `v${current}.metadata.json`), "utf8"),
  ) as {
    currentSnapshotId?: number;
    properties: Record<string, string>;
    snapshots: Array<{
      snapshotId: number;
      files: Array<{
        rowCount: number;
        bytes: number;
        columns: Record<string, { min: unknown; max: unknown; nulls: number }>;
      }>;
    }>;
  };
  const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
  return { metadata, files: snapshot?.files ?? [] };
}

beforeAll(async () => {
  hourStart = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  [nats, pg] = await Promise.all([startNatsServer(), postgres()]);
  const url = await pg.createDatabase();
  const setup = await createConnector("setup", { kind: "postgres", url });
  try {
    await setup.execute({
      sql: "CREATE TABLE measurements (id integer PRIMARY KEY, name text, score double precision, ts timestamp NOT NULL)",
      params: [],
    });
    await setup.appendRows(
      "measurements",
      ["id", "name", "score", "ts"],
      Array.from({ length: MEASUREMENTS }, (_, i) => {
        const m = measurement(i + 1);
        return [m.id, m.name, m.score, ns(m.tsMs)];
      }),
    );
    for (const [table, from, to] of [
      ["points_lo", 1, 10],
      ["points_hi", 10, POINTS + 1],
    ] as const) {
      await setup.execute({
        sql: `CREATE TABLE ${table} (id integer PRIMARY KEY, label text NOT NULL)`,
        params: [],
      });
      await setup.execute({
        sql: `INSERT INTO ${table} SELECT g, 'p' || g FROM generate_series(${from}, ${to - 1}) g`,
        params: [],
      });
    }
    for (const statement of [
      // Columns PostgreSQL orders otherwise than by their text, and a uuid it has no MIN for.
      "CREATE TYPE shade AS ENUM ('light', 'dark')",
      "CREATE TABLE swatches (u uuid, shade shade)",
      `INSERT INTO swatches VALUES ('${SWATCH_UUIDS[0]}', 'light'), ('${SWATCH_UUIDS[1]}', 'dark'), (NULL, NULL)`,
      "CREATE TABLE events (id integer PRIMARY KEY, ts timestamp NOT NULL, amount integer)",
    ])
      await setup.execute({ sql: statement, params: [] });
    await setup.appendRows(
      "events",
      ["id", "ts", "amount"],
      Array.from({ length: EVENTS }, (_, i) => {
        const e = event(i);
        return [e.id, ns(e.tsMs), e.amount];
      }),
    );
    for (const table of ["measurements", "points_lo", "points_hi", "events"]) {
      await setup.execute({ sql: `ANALYZE ${table}`, params: [] });
    }
  } finally {
    await setup.close();
  }
  dir = await mkdtemp(join(tmpdir(), "entente-catalog-api-"));
  coldPath = join(dir, "cold");
  const yaml = `
nats: { servers: ["${nats.url}"] }
log: { level: warn }
sources:
  pg: { kind: postgres, url: "${url}" }
  archive: { kind: coldstore, path: "${coldPath}" }
logicalTables:
  events:
    tiers:
      column: ts
      hot: pg.public.events
      cold: archive.main.events
      lifecycle: { hotRetention: "30 days", coldRetention: "730 days", every: "off", graceMs: 0 }
  points:
    shards:
      key: id
      by: range
      members:
        - { table: pg.public.points_lo, to: 10 }
        - { table: pg.public.points_hi, from: 10 }
`;
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: yaml, env: {} }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("entente.catalog tables", () => {
  it("lists physical tables with their kind and source, logical ones with theirs", async () => {
    const { tables } = await catalog<CatalogTablesReply>({ op: "tables" });
    const names = tables.map((t) => t.name);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b)));
    const byName = new Map(tables.map((t) => [t.name, t]));

    expect(byName.get("pg.public.measurements")).toMatchObject({
      kind: "table",
      source: "pg",
      columns: [
        { name: "id", type: "integer" },
        { name: "name", type: "text" },
        { name: "score", type: "double" },
        { name: "ts", type: "timestamp" },
      ],
    });
    // The lifecycle created the cold tier from the hot table's columns.
    expect(byName.get("archive.main.events")).toMatchObject({
      kind: "cold",
      source: "archive",
      columns: [
        { name: "id", type: "integer" },
        { name: "ts", type: "timestamp" },
        { name: "amount", type: "integer" },
      ],
    });
    expect(byName.get("pg.public.events")).toMatchObject({ kind: "table", source: "pg" });

    const events = byName.get("events");
    expect(events).toMatchObject({
      kind: "tiered",
      columns: [
        { name: "id", type: "integer" },
        { name: "ts", type: "timestamp" },
        { name: "amount", type: "integer" },
      ],
    });
    expect(events).not.toHaveProperty("source");
    const points = byName.get("points");
    expect(points).toMatchObject({
      kind: "sharded",
      columns: [
        { name: "id", type: "integer" },
        { name: "label", type: "text" },
      ],
    });
    expect(points).not.toHaveProperty("source");
  });

  it("gives row counts: each table's, and a logical table's as the sum of its members'", async () => {
    const { tables } = await catalog<CatalogTablesReply>({ op: "tables" });
    const byName = new Map(tables.map((t) => [t.name, t]));
    // PostgreSQL's counts come from its statistics (ANALYZE ran on every table).
    expect(byName.get("pg.public.measurements")?.rowCount).toBe(MEASUREMENTS);
    expect(byName.get("pg.public.points_lo")?.rowCount).toBe(9);
    expect(byName.get("pg.public.points_hi")?.rowCount).toBe(POINTS - 9);
    expect(byName.get("points")?.rowCount).toBe(POINTS);
  });
});

describe("entente.catalog tableStats", () => {
  it("gives a PostgreSQL table's rows and each column's min, max and nulls", async () => {
    const stats = await catalog<TableStatsReply>({
      op: "tableStats",
      table: "pg.public.measurements",
    });
    const all = Array.from({ length: MEASUREMENTS }, (_, i) => measurement(i + 1));
    const names = all.flatMap((m) => (m.name === null ? [] : [m.name])).sort();
    const scores = all.flatMap((m) => (m.score === null ? [] : [m.score]));
    expect(stats.table).toBe("pg.public.measurements");
    expect(stats.kind).toBe("table");
    expect(stats.rowCount).toBe(MEASUREMENTS);
    expect(stats.parts).toBeUndefined();
    expect(stats.columns.map((c) => [c.name, c.type])).toEqual([
      ["id", "integer"],
      ["name", "text"],
      ["score", "double"],
      ["ts", "timestamp"],
    ]);
    const [id, name, score, ts] = stats.columns;
    expect(id).toMatchObject({ min: 1, max: MEASUREMENTS, nulls: 0 });
    expect(name).toMatchObject({ min: names[0], max: names.at(-1), nulls: MEASUREMENTS / 5 });
    expect(score).toMatchObject({
      min: Math.min(...scores),
      max: Math.max(...scores),
      nulls: Math.floor(MEASUREMENTS / 7),
    });
    expect(nsOf(ts?.min)).toBe(ns(measurement(1).tsMs));
    expect(nsOf(ts?.max)).toBe(ns(measurement(MEASUREMENTS).tsMs));
    expect(ts?.nulls).toBe(0);
  });

  it("gives uuid and enum columns' min and max as the engine orders their text", async () => {
    const stats = await catalog<TableStatsReply>({
      op: "tableStats",
      table: "pg.public.swatches",
    });
    const [u, shade] = stats.columns;
    expect(u).toMatchObject({ min: SWATCH_UUIDS[0], max: SWATCH_UUIDS[1], nulls: 1 });
    expect(shade).toMatchObject({ min: "dark", max: "light", nulls: 1 });
  });

  it("gives a sharded table's figures per shard and merged", async () => {
    const stats = await catalog<TableStatsReply>({ op: "tableStats", table: "points" });
    expect(stats).toMatchObject({ table: "points", kind: "sharded", rowCount: POINTS });
    expect(stats.parts?.map((p) => [p.table, p.rowCount])).toEqual([
      ["pg.public.points_lo", 9],
      ["pg.public.points_hi", POINTS - 9],
    ]);
    expect(stats.columns[0]).toMatchObject({ name: "id", min: 1, max: POINTS, nulls: 0 });
  });

  it("moves the tiered table's old rows to cold, keeping every row", async () => {
    const moved = await client.request<TiersMoveReply>(
      SUBJECTS.tiers,
      { op: "move", table: "events", wait: true },
      { timeoutMs: 120_000 },
    );
    expect(moved.move.state).toBe("done");
    expect(moved.move.rows).toBeGreaterThan(0);
    const count = await sql("SELECT count(*) AS n FROM events");
    expect(Number(count.rows[0]?.[0])).toBe(EVENTS);
  });

  it("gives a cold table's files, bytes, snapshot and min/max from its manifest", async () => {
    const stats = await catalog<TableStatsReply>({
      op: "tableStats",
      table: "archive.main.events",
    });
    const { metadata, files } = await manifest("events");
    const watermark = Date.parse(metadata.properties["entente.tier.watermark"] as string);
    const cold = Array.from({ length: EVENTS }, (_, i) => event(i)).filter(
      (e) => e.tsMs < watermark,
    );
    expect(cold.length).toBeGreaterThan(0);
    expect(files.length).toBeGreaterThan(0);
    expect(stats.table).toBe("archive.main.events");
    expect(stats.kind).toBe("cold");
    expect(stats.rowCount).toBe(cold.length);
    expect(files.reduce((n, f) => n + f.rowCount, 0)).toBe(cold.length);
    const [id, ts, amount] = stats.columns;
    expect(id).toMatchObject({
      name: "id",
      min: Math.min(...cold.map((e) => e.id)),
      max: Math.max(...cold.map((e) => e.id)),
      nulls: 0,
    });
    expect(nsOf(ts?.min)).toBe(ns(Math.min(...cold.map((e) => e.tsMs))));
    expect(nsOf(ts?.max)).toBe(ns(Math.max(...cold.map((e) => e.tsMs))));
    expect(amount?.nulls).toBe(cold.filter((e) => e.amount === null).length);
    // Those are the manifest's own per-file figures, combined (no file was opened for them).
    const fileIds = files.map((f) => f.columns.id as { min: number; max: number });
    expect(id?.min).toBe(Math.min(...fileIds.map((c) => c.min)));
    expect(id?.max).toBe(Math.max(...fileIds.map((c) => c.max)));
    expect(nsOf(ts?.min)).toBe(
      files.map((f) => nsOf(f.columns.ts?.min)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[0],
    );
    expect(amount?.nulls).toBe(files.reduce((n, f) => n + (f.columns.amount?.nulls ?? 0), 0));
    // A physical table's reply (TableStatsReply) has no place for files, bytes or the snapshot:
    // a cold table's are given as a logical table's cold part.
    const tiered = await catalog<TableStatsReply>({ op: "tableStats", table: "events" });
    const part = tiered.parts?.find((p) => p.label === "cold");
    expect(part).toMatchObject({
      table: "archive.main.events",
      source: "archive",
      rowCount: cold.length,
      files: files.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
    });
    expect(metadata.currentSnapshotId).toEqual(expect.any(Number));
    expect(part?.snapshotId).toBe(metadata.currentSnapshotId);
  });

  it("gives a tiered table's parts hot and cold, and its columns merged over them", async () => {
    const stats = await catalog<TableStatsReply>({ op: "tableStats", table: "events" });
    const { metadata } = await manifest("events");
    const watermark = Date.parse(metadata.properties["entente.tier.watermark"] as string);
    const all = Array.from({ length: EVENTS }, (_, i) => event(i));
    const hot = all.filter((e) => e.tsMs >= watermark);
    const cold = all.filter((e) => e.tsMs < watermark);
    expect(stats.table).toBe("events");
    expect(stats.kind).toBe("tiered");
    expect(stats.rowCount).toBe(EVENTS);
    expect(stats.parts?.map((p) => [p.label, p.table, p.source, p.rowCount])).toEqual([
      ["hot", "pg.public.events", "pg", hot.length],
      ["cold", "archive.main.events", "archive", cold.length],
    ]);
    const hotPart = stats.parts?.[0];
    expect(hotPart?.files).toBeUndefined();
    // Each part's own figures.
    expect(hotPart?.columns[0]).toMatchObject({
      min: Math.min(...hot.map((e) => e.id)),
      max: Math.max(...hot.map((e) => e.id)),
    });
    expect(hotPart?.columns[2]?.nulls).toBe(hot.filter((e) => e.amount === null).length);
    // Merged: the smallest min, the largest max, the nulls added.
    const [id, ts, amount] = stats.columns;
    expect(id).toMatchObject({ name: "id", type: "integer", min: 0, max: EVENTS - 1, nulls: 0 });
    expect(nsOf(ts?.min)).toBe(ns(event(EVENTS - 1).tsMs));
    expect(nsOf(ts?.max)).toBe(ns(event(0).tsMs));
    expect(ts?.nulls).toBe(0);
    const amounts = all.flatMap((e) => (e.amount === null ? [] : [e.amount]));
    expect(amount).toMatchObject({
      name: "amount",
      min: Math.min(...amounts),
      max: Math.max(...amounts),
      nulls: all.filter((e) => e.amount === null).length,
    });
    // The tier status names the same watermark.
    const status = await client.request<TiersStatusReply>(SUBJECTS.tiers, {
      op: "status",
      table: "events",
    });
    expect(Date.parse(status.tables[0]?.watermark ?? "")).toBe(watermark);
    expect(watermark).toBeLessThanOrEqual(hourStart - 29 * DAY_MS);
  });

  it("gives a timestamp column's statistics in one form, whichever tier they came from", async () => {
    const stats = await catalog<TableStatsReply>({ op: "tableStats", table: "events" });
    const [hot, cold] = stats.parts ?? [];
    const kinds = {
      hot: [typeof hot?.columns[1]?.min, typeof hot?.columns[1]?.max],
      cold: [typeof cold?.columns[1]?.min, typeof cold?.columns[1]?.max],
      merged: [typeof stats.columns[1]?.min, typeof stats.columns[1]?.max],
    };
    // PostgreSQL's scan gives the engine's form (a bigint of ns since the epoch): so must the
    // manifest's figures and the merged ones.
    expect(kinds).toEqual({
      hot: ["bigint", "bigint"],
      cold: ["bigint", "bigint"],
      merged: ["bigint", "bigint"],
    });
  });

  it("refuses an unknown table with NOT_FOUND", async () => {
    for (const table of ["pg.public.nope", "nope", "nosource.main.events"]) {
      const err = await failure(catalog({ op: "tableStats", table }));
      expect(err.code, table).toBe("NOT_FOUND");
      expect(err.message, table).toMatch(/tableStats|nope|nosource/);
    }
  });

  it("refuses a malformed request with BAD_REQUEST", async () => {
    const bad: unknown[] = [
      { op: "nope" },
      { op: "tableStats" },
      { op: "tableStats", table: "" },
      { op: "tableStats", table: "events; DROP TABLE events" },
      { op: "tables", extra: true },
      "tables",
    ];
    for (const body of bad) {
      const err = await failure(catalog(body));
      expect(err.code, JSON.stringify(body)).toBe("BAD_REQUEST");
    }
    // And it still answers.
    const { tables } = await catalog<CatalogTablesReply>({ op: "tables" });
    expect(tables.length).toBeGreaterThan(0);
  });
});

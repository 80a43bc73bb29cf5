/**
 * The embedded default's tiered `events` table (no configuration file, no `sources:`): 120 days
 * of 48 events a day, the last 30 hot in DuckDB and the 90 before them cold as Parquet. The first
 * query a newcomer runs reads both tiers and counts every event; `tierFor` sends old dates cold
 * and recent ones hot; the demo cold store's directory goes when the worker stops. Then
 * `entente serve all` on the embedded default answers the README's first GraphQL query.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectSqlResult, type SqlResult, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { DEMO_COLD_PATH, sqlJoinService } from "@entente/sql-join";
import {
  eventually,
  freePort,
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "./cli-fixture.ts";

const DAY_MS = 86_400_000;
const FIRST_QUERY = "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind";
/** 120 days × 48 events, the kinds in turn: a quarter of them each. */
const TOTAL = 120 * 48;
const BY_KIND = [
  ["buy", TOTAL / 4],
  ["click", TOTAL / 4],
  ["signup", TOTAL / 4],
  ["view", TOTAL / 4],
];

/** A day `days` ago, as 'YYYY-MM-DD' (UTC). */
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);

describe("the embedded default's tiered events table", () => {
  let nats: NatsServer;
  let worker: Worker | undefined;
  let nc: NatsConnection;
  let client: EntenteClient;

  async function sql(body: Record<string, unknown>): Promise<SqlResult> {
    return collectSqlResult(await client.collect(SUBJECTS.sql, body));
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    // What a worker started with no file runs on: only where NATS is.
    worker = await startWorker({
      services: [sqlJoinService],
      config: loadConfig({ text: "log: { level: warn }\n", env: { NATS_URL: nats.url } }),
    });
    nc = await connect({ servers: nats.url });
    client = new EntenteClient(nc);
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await nats?.stop();
  });

  it("answers the first query from both tiers, counting every event", async () => {
    const result = await sql({ sql: FIRST_QUERY });
    expect(result.columns.map((c) => c.name)).toEqual(["kind", "n"]);
    expect(result.rows.map(([kind, n]) => [kind, Number(n)])).toEqual(BY_KIND);
    expect(result.rows.reduce((sum, r) => sum + Number(r[1]), 0)).toBe(5760);
    const sources = Object.keys(result.stats?.sources ?? {}).sort();
    expect(sources).toEqual(["archive", "events_db"]);
  });

  it("explains the first query as reading hot and cold", async () => {
    const result = await sql({ sql: FIRST_QUERY, explain: true });
    expect(result.plan).toContain("tiered events: reads hot, cold");
    expect(result.plan).toMatch(/reads hot: /);
    expect(result.plan).toMatch(/reads cold: /);
    expect(result.plan).toMatch(/archive\.main\.events \(snapshot \d+\): reads \d+ of \d+ files/);
  });

  it("splits the events at 30 days: 90 days cold, 30 hot", async () => {
    const result = await sql({
      sql: `SELECT count(*) AS n FROM events WHERE created_at < TIMESTAMP '${daysAgo(30)}'`,
    });
    expect(Number(result.rows[0]?.[0])).toBe(90 * 48);
    const explained = await sql({
      sql: `SELECT count(*) AS n FROM events WHERE created_at < TIMESTAMP '${daysAgo(60)}'`,
      explain: true,
    });
    expect(explained.plan).toContain("tiered events: reads cold; pruned hot");
  });

  it("sends a date 60 days ago to cold, and yesterday to hot", async () => {
    const old = await client.request<{ members: Array<{ label: string; table: string }> }>(
      SUBJECTS.sql,
      { tierFor: { table: "events", at: daysAgo(60) } },
    );
    expect(old.members).toEqual([
      { label: "cold", source: "archive", table: "archive.main.events" },
    ]);
    const recent = await client.request<{ members: Array<{ label: string; table: string }> }>(
      SUBJECTS.sql,
      { tierFor: { table: "events", at: daysAgo(1) } },
    );
    expect(recent.members).toEqual([
      { label: "hot", source: "events_db", table: "events_db.main.events" },
    ]);
  });

  it("removes the demo cold store's directory when the worker stops", async () => {
    expect(existsSync(join(DEMO_COLD_PATH, "main", "events"))).toBe(true);
    await worker?.stop();
    worker = undefined;
    expect(existsSync(DEMO_COLD_PATH)).toBe(false);
  });
});

/**
 * `entente serve all` on the embedded default, as the README starts it: no `sources:`. The port
 * is given (`graphql: { port }`) rather than the default 4000, which another process on this
 * machine may hold; everything else is the embedded default.
 */
describe("entente serve all on the embedded default", () => {
  let nats: NatsServer;
  let dir: string;
  let proc: ManagedProcess;
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "entente-demo-tiers-"));
    const port = await freePort();
    const configFile = join(dir, "entente.yaml");
    await writeFile(configFile, `log: { level: info }\ngraphql: { port: ${port} }\n`);
    url = `http://127.0.0.1:${port}/graphql`;
    proc = await startProcess({
      name: "entente serve all",
      command: process.execPath,
      args: ["--conditions=@entente/source", BIN, "-c", configFile, "serve", "all"],
      cwd: ROOT,
      env: { ...process.env, NATS_URL: nats.url },
      readyLine: /"msg":"service started"/,
      probe: async () => {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ __typename }" }),
        });
        if (!response.ok) throw new Error(`GraphQL answered ${response.status}`);
      },
      timeoutMs: 60_000,
    });
  }, 90_000);

  afterAll(async () => {
    if (proc?.running) await proc.kill();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("answers the README's first GraphQL query, reading both tiers", async () => {
    // Exactly the README's query.
    const query = `{ query(sql: "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind") { rows tiers { table tier read } } }`;
    // sql-join may start after the GraphQL port opens: retry until it answers (bounded).
    const answer = await eventually("the first GraphQL answer", async () => {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query }),
      });
      const body = (await response.json()) as {
        data?: {
          query: {
            rows: unknown[][];
            tiers: Array<{ table: string; tier: string; read: boolean }>;
          };
        };
        errors?: unknown[];
      };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    });
    expect(answer.query.rows.map(([kind, n]) => [kind, Number(n)])).toEqual(BY_KIND);
    expect(answer.query.tiers).toEqual(
      expect.arrayContaining([
        { table: "events", tier: "hot", read: true },
        { table: "events", tier: "cold", read: true },
      ]),
    );
    expect(answer.query.tiers).toHaveLength(2);
  });

  it("removes its demo cold store's directory when it stops", async () => {
    const path = join(tmpdir(), `entente-demo-cold-${proc.pid}`);
    expect(existsSync(join(path, "main", "events"))).toBe(true);
    const exit = await proc.stop("SIGTERM", 30_000);
    expect(exit.signal).toBeNull();
    expect(existsSync(path)).toBe(false);
  });
});

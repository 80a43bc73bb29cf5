/**
 * The catalog and tier fields and mutations against the real sql-join service: a lifecycle-
 * managed tiered `events` table (hot in a DuckDB file, cold in a cold store directory) with
 * about 80 days of hourly rows, 30 of them kept hot. Every field answers as entente.catalog and
 * entente.tiers do, and the table's rows stay whole through a move, a compaction, a repartition
 * and a snapshot expiry.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnector } from "@entente/connectors";
import { loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlService } from "../src/index.ts";
import { codeOf, data, graphql } from "./helpers.ts";

const EVENTS = 2000;
const DAY_MS = 86_400_000;

let nats: NatsServer;
let worker: Worker;
let dir: string;
let url: string;

beforeAll(async () => {
  nats = await startNatsServer();
  dir = await mkdtemp(join(tmpdir(), "entente-graphql-tiers-"));
  const hotPath = join(dir, "hot.duckdb");
  const setup = await createConnector("setup", { kind: "duckdb", path: hotPath });
  // One event an hour back from the start of this hour: about 83 days.
  await setup.execute({
    sql: `CREATE TABLE events AS
            SELECT CAST(i AS INTEGER) AS id,
                   ['click', 'view', 'buy'][1 + CAST(i % 3 AS INTEGER)] AS kind,
                   date_trunc('hour', CAST(now() AS TIMESTAMP)) - INTERVAL (i) HOUR AS ts
              FROM range(0, ${EVENTS}) t(i)`,
    params: [],
  });
  await setup.close();
  const port = await freePort();
  const yaml = `
nats: { servers: ["${nats.url}"] }
sources:
  hot: { kind: duckdb, path: "${hotPath}" }
  archive: { kind: coldstore, path: "${join(dir, "cold")}" }
logicalTables:
  events:
    tiers:
      column: ts
      hot: hot.main.events
      cold: archive.main.events
      lifecycle: { hotRetention: "30 days", coldRetention: "730 days", every: "off", graceMs: 0 }
graphql: { port: ${port}, pageRows: 5000 }
materialize: { source: archive }
`;
  worker = await startWorker({
    services: [sqlJoinService, graphqlService],
    config: loadConfig({ text: yaml, env: {} }),
  });
  url = `http://127.0.0.1:${port}/graphql`;
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function count(): Promise<number> {
  const result = await data<{ query: { rows: [[number | string]] } }>(
    url,
    `{ query(sql: "SELECT count(*) AS n FROM events") { rows } }`,
  );
  return Number(result.query.rows[0][0]);
}

async function ids(): Promise<number[]> {
  const result = await data<{ query: { rows: Array<[number]> } }>(
    url,
    `{ query(sql: "SELECT id FROM events ORDER BY id", first: ${EVENTS}) { rows } }`,
  );
  return result.query.rows.map((r) => r[0]);
}

const ALL_IDS = Array.from({ length: EVENTS }, (_, i) => i);

/** A day `days` ago, as 'YYYY-MM-DD'. */
function daysAgo(days: number): string {
  return new Date(Date.now() - days * DAY_MS).toISOString().slice(0, 10);
}

describe("catalog fields", () => {
  it("lists every table with its kind, source and columns", async () => {
    const result = await data<{
      tables: Array<{
        name: string;
        kind: string;
        source: string | null;
        columns: unknown[];
        rowCount: number | null;
      }>;
    }>(url, "{ tables { name kind source columns { name type } rowCount } }");
    const events = result.tables.find((t) => t.name === "events");
    expect(events).toMatchObject({ kind: "tiered", source: null });
    expect(events?.columns).toEqual([
      { name: "id", type: "integer" },
      { name: "kind", type: "text" },
      { name: "ts", type: "timestamp" },
    ]);
    expect(result.tables.find((t) => t.name === "hot.main.events")).toMatchObject({
      kind: "table",
      source: "hot",
    });
  });

  it("gives a tiered table's statistics per tier", async () => {
    const result = await data<{
      tableStats: {
        table: string;
        kind: string;
        rowCount: number;
        columns: Array<{ name: string; type: string }>;
        parts: Array<{ label: string; source: string; table: string; columns: unknown[] }>;
      };
    }>(
      url,
      `{ tableStats(table: "events") {
          table kind rowCount columns { name type min max nulls distinct }
          parts { label table source rowCount files bytes snapshotId columns { name type min max nulls } } } }`,
    );
    expect(result.tableStats.table).toBe("events");
    expect(result.tableStats.kind).toBe("tiered");
    expect(result.tableStats.columns.map((c) => c.name)).toEqual(["id", "kind", "ts"]);
    // Before the first move there is no watermark: every row is hot, and only hot is a part.
    expect(result.tableStats.parts.map((p) => p.label)).toEqual(["hot"]);
    expect(result.tableStats.parts.find((p) => p.label === "hot")).toMatchObject({
      source: "hot",
      table: "hot.main.events",
    });
  });

  it("refuses statistics of an unknown table with NOT_FOUND", async () => {
    const answer = await graphql(url, `{ tableStats(table: "hot.main.nope") { rowCount } }`);
    expect(codeOf(answer)).toBe("NOT_FOUND");
    expect(answer.errors?.[0]?.path).toEqual(["tableStats"]);
  });
});

describe("tier fields and mutations", () => {
  it("reports retention and status before any move", async () => {
    const result = await data<{
      retention: Array<{
        table: string;
        hotRetention: string;
        coldRetention: string;
        watermark: string | null;
      }>;
      tierStatus: Array<{ table: string; column: string; hot: string; cold: string }>;
    }>(
      url,
      `{ retention { table hotRetention coldRetention watermark }
         tierStatus(table: "events") { table column hot cold watermark hotRetention coldRetention
           running { id state } last { id state } nextRunAt } }`,
    );
    expect(result.retention).toEqual([
      {
        table: "events",
        hotRetention: expect.stringMatching(/30/),
        coldRetention: expect.stringMatching(/730/),
        watermark: null,
      },
    ]);
    expect(result.tierStatus).toEqual([
      expect.objectContaining({
        table: "events",
        column: "ts",
        hot: "hot.main.events",
        cold: "archive.main.events",
      }),
    ]);
  });

  it("moves old rows to cold, losing and doubling none", async () => {
    const moved = await data<{
      moveTiers: {
        table: string;
        move: { state: string; to: string; rows: number; error: string | null };
      };
    }>(
      url,
      `mutation { moveTiers(table: "events", wait: true, timeoutMs: 120000) {
          table move { id state from to partitions copied verified deleted rows startedAt finishedAt error } } }`,
    );
    expect(moved.moveTiers.table).toBe("events");
    expect(moved.moveTiers.move.state).toBe("done");
    expect(moved.moveTiers.move.rows).toBeGreaterThan(0);
    expect(await count()).toBe(EVENTS);
    expect(await ids()).toEqual(ALL_IDS);
    const retention = await data<{ retention: Array<{ watermark: string | null }> }>(
      url,
      `{ retention(table: "events") { watermark } }`,
    );
    expect(retention.retention[0]?.watermark).toEqual(expect.any(String));
    const stats = await data<{
      tableStats: { rowCount: number; parts: Array<{ label: string; rowCount: number }> };
    }>(url, `{ tableStats(table: "events") { rowCount parts { label rowCount } } }`);
    expect(stats.tableStats.parts.map((p) => p.label)).toEqual(["hot", "cold"]);
    expect(stats.tableStats.rowCount).toBe(EVENTS);
    // Every day past the hot retention is cold, though one move takes at most 31 of them.
    const [hot, cold] = stats.tableStats.parts.map((p) => p.rowCount) as [number, number];
    expect(hot + cold).toBe(EVENTS);
    expect(hot).toBeLessThanOrEqual(31 * 24);
  });

  it("recommends cold for an old date and hot for a recent one, for every tiered table", async () => {
    const result = await data<{
      old: Array<{ table: string; tier: string; source: string; member: string }>;
      recent: Array<{ table: string; tier: string }>;
    }>(
      url,
      `{ old: recommendedSource(date: "${daysAgo(60)}") { table tier source member }
         recent: recommendedSource(date: "${daysAgo(2)}") { table tier } }`,
    );
    expect(result.old).toEqual([
      { table: "events", tier: "cold", source: "archive", member: "archive.main.events" },
    ]);
    expect(result.recent).toEqual([{ table: "events", tier: "hot" }]);
  });

  it("says a statement over old days read cold and pruned hot", async () => {
    const result = await data<{ query: { tiers: Array<{ tier: string; read: boolean }> } }>(
      url,
      `{ query(sql: "SELECT count(*) FROM events WHERE ts < TIMESTAMP '${daysAgo(50)}'") { tiers { table tier read } } }`,
    );
    expect(result.query.tiers).toEqual(
      expect.arrayContaining([
        { table: "events", tier: "cold", read: true },
        { table: "events", tier: "hot", read: false },
      ]),
    );
  });

  it("compacts, repartitions and expires snapshots with the rows intact", async () => {
    const compacted = await data<{
      compact: { table: string; filesBefore: number; filesAfter: number; rows: number };
    }>(
      url,
      `mutation { compact(table: "events", targetFileBytes: 1048576) { table filesBefore filesAfter rows snapshotId } }`,
    );
    expect(compacted.compact.filesAfter).toBeLessThanOrEqual(compacted.compact.filesBefore);
    expect(await ids()).toEqual(ALL_IDS);
    const repartitioned = await data<{ repartition: { rows: number } }>(
      url,
      `mutation { repartition(table: "events", partitionBy: [
          { column: "ts", transform: DAY }, { column: "id", transform: BUCKET, buckets: 4 }]) {
          table filesBefore filesAfter rows snapshotId } }`,
    );
    expect(repartitioned.repartition.rows).toBeGreaterThan(0);
    expect(await ids()).toEqual(ALL_IDS);
    const expired = await data<{
      expireSnapshots: { table: string; expiredSnapshots: number; deletedFiles: number };
    }>(
      url,
      `mutation { expireSnapshots(table: "events", olderThanMs: 0, retainLast: 1) { table expiredSnapshots deletedFiles } }`,
    );
    expect(expired.expireSnapshots.expiredSnapshots).toBeGreaterThan(0);
    expect(await ids()).toEqual(ALL_IDS);
  });

  it("refuses maintenance of an unknown table and a bad partitioning with codes", async () => {
    const unknown = await graphql(url, `mutation { compact(table: "nope") { rows } }`);
    expect(["NOT_FOUND", "BAD_REQUEST"]).toContain(codeOf(unknown));
    const noBuckets = await graphql(
      url,
      `mutation { repartition(table: "events", partitionBy: [{ column: "id", transform: BUCKET }]) { rows } }`,
    );
    expect(codeOf(noBuckets)).toBe("BAD_REQUEST");
    const badEnum = await graphql(
      url,
      `mutation { repartition(table: "events", partitionBy: [{ column: "id", transform: HOUR }]) { rows } }`,
    );
    expect(badEnum.errors?.[0]?.message).toMatch(/PartitionTransform/);
  });
});

describe("materialized results", () => {
  it("materializes, lists and refreshes a statement's result", async () => {
    const sql = "SELECT kind, count(*) AS n FROM events GROUP BY kind";
    const made = await data<{
      materialize: {
        id: string;
        sql: string;
        table: string;
        rows: number;
        fresh: boolean;
        expiresAt: string;
      };
    }>(
      url,
      `mutation($sql: String!) { materialize(sql: $sql, ttlMs: 600000) { id sql table rows createdAt expiresAt fresh } }`,
      { sql },
    );
    expect(made.materialize).toMatchObject({ sql, rows: 3, fresh: true });
    const listed = await data<{ materialized: Array<{ id: string; fresh: boolean }> }>(
      url,
      "{ materialized { id sql table rows createdAt expiresAt fresh } }",
    );
    expect(listed.materialized).toContainEqual(
      expect.objectContaining({ id: made.materialize.id, fresh: true }),
    );
    const refreshed = await data<{
      refreshMaterialized: { id: string; rows: number; fresh: boolean };
    }>(
      url,
      `mutation { refreshMaterialized(id: "${made.materialize.id}") { id rows fresh expiresAt } }`,
    );
    expect(refreshed.refreshMaterialized).toMatchObject({
      id: made.materialize.id,
      rows: 3,
      fresh: true,
    });
    // The same statement is answered from the stored result, with the same rows.
    const answered = await data<{ query: { rows: unknown[][] } }>(
      url,
      `query($sql: String!) { query(sql: $sql) { rows } }`,
      { sql },
    );
    expect(answered.query.rows).toHaveLength(3);
    const missing = await graphql(url, `mutation { refreshMaterialized(id: "no-such-id") { id } }`);
    expect(codeOf(missing)).toBe("NOT_FOUND");
  });
});

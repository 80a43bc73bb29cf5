import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MariaDbService, mariadb, type PostgresService, postgres } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BoundStatement,
  batchesChecksum,
  type ColdColumn,
  ColdStore,
  ColdstoreConnector,
  type Connector,
  createConnector,
  partitionChecksums,
  type Row,
  rowsChecksum,
} from "../src/index.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";
process.env.ENTENTE_TEST_MARIADB_URL ??= "mysql://root@127.0.0.1:3306/test";

const ts = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

const allTypes: ColdColumn[] = [
  { name: "ts", type: "timestamp", nullable: false },
  { name: "b", type: "boolean", nullable: true },
  { name: "i", type: "integer", nullable: true },
  { name: "big", type: "bigint", nullable: true },
  { name: "d", type: "double", nullable: true },
  { name: "amount", type: "decimal", nullable: true },
  { name: "t", type: "text", nullable: true },
  { name: "day", type: "date", nullable: true },
  { name: "doc", type: "json", nullable: true },
  { name: "bytes", type: "blob", nullable: true },
];

const allRows: Row[] = [
  [
    ts("2025-03-01T10:00:00.123Z") + 456_000n,
    true,
    1,
    9007199254740993n,
    1.25,
    12.5,
    "héllo 😀",
    "2025-03-01",
    { a: [1, "x"] },
    new Uint8Array([0, 255]),
  ],
  [
    ts("2025-03-02T00:00:00Z"),
    false,
    -2147483648,
    -1n,
    -0.5,
    0.01,
    "",
    "1969-12-31",
    "just text",
    new Uint8Array([]),
  ],
  [ts("1969-12-31T23:59:59Z"), null, null, null, null, null, null, null, null, null],
];

async function* batches(rows: Row[], size = 2): AsyncIterable<Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

async function readRows(
  connector: Connector,
  sql: string,
  scan?: BoundStatement["scan"],
  signal?: AbortSignal,
) {
  const result = await connector.query(
    { sql, params: [], ...(scan ? { scan } : {}) },
    signal ? { signal } : {},
  );
  const rows: Row[] = [];
  for await (const batch of result.batches) rows.push(...batch);
  return { rows, columns: result.columns };
}

const sortByTs = (rows: Row[]) =>
  [...rows].sort((a, b) => (BigInt(a[0] as bigint) < BigInt(b[0] as bigint) ? -1 : 1));

let dir: string;
let store: ColdStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "coldstore-"));
  store = await ColdStore.open({ path: dir });
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

async function appendAll(table: string, rows: Row[], prefix: string, on = store) {
  const files = await on.writeFiles(table, batches(rows), { prefix });
  await on.commit(table, "append", (current) => ({
    files: [
      ...(current.snapshots.find((s) => s.snapshotId === current.currentSnapshotId)?.files ?? []),
      ...files,
    ],
  }));
  return files;
}

describe("cold store files", () => {
  it("round-trips every value type through Parquet and the connector", async () => {
    await store.create("all_types", allTypes, [{ source: "ts", transform: "day" }]);
    await appendAll("all_types", allRows, "move-1");
    const connector = await createConnector("cold", { kind: "coldstore", path: dir });
    try {
      expect(connector.kind).toBe("coldstore");
      const { rows, columns } = await readRows(
        connector,
        `SELECT * FROM "main"."all_types" ORDER BY "ts"`,
      );
      expect(columns.map((c) => [c.name, c.type])).toEqual(allTypes.map((c) => [c.name, c.type]));
      expect(rows).toEqual(sortByTs(allRows));
      const tables = await connector.listTables();
      expect(tables.find((t) => t.name === "all_types")?.columns.map((c) => c.type)).toEqual(
        allTypes.map((c) => c.type),
      );
      expect(await connector.tableStats("main", "all_types")).toMatchObject({ rowCount: 3 });
    } finally {
      await connector.close();
    }
  });

  it("lays files out by partition, one name per prefix and partition", async () => {
    const metadata = await store.require("all_types");
    const files = metadata.snapshots.at(-1)?.files ?? [];
    expect(files.map((f) => f.path.split("/").slice(0, 2).join("/")).sort()).toEqual([
      "data/ts_day=1969-12-31",
      "data/ts_day=2025-03-01",
      "data/ts_day=2025-03-02",
    ]);
    for (const f of files) {
      expect(f.path).toMatch(/^data\/ts_day=[\d-]+\/move-1-[0-9a-f]{12}-0\.parquet$/);
      expect(existsSync(join(dir, "main", "all_types", f.path))).toBe(true);
      expect(f.rowCount).toBe(1);
    }
    const march1 = files.find((f) => f.partition.ts_day === "2025-03-01");
    expect(march1?.columns.ts).toEqual({
      min: String(allRows[0]?.[0]),
      max: String(allRows[0]?.[0]),
      nulls: 0,
    });
    expect(march1?.columns.doc?.min).toBeNull();
    // Writing again with the same prefix replaces the files rather than adding.
    const again = await store.writeFiles("all_types", batches(allRows), { prefix: "move-1" });
    expect(again.map((f) => f.path).sort()).toEqual(files.map((f) => f.path).sort());
  });

  it("splits a partition's rows at targetFileBytes and compacts small files back", async () => {
    const small = await ColdStore.open({ path: dir, targetFileBytes: 40_000 });
    try {
      const columns: ColdColumn[] = [
        { name: "ts", type: "timestamp", nullable: false },
        { name: "payload", type: "text", nullable: false },
      ];
      await small.create("big", columns, [{ source: "ts", transform: "day" }]);
      const rows: Row[] = Array.from({ length: 20_000 }, (_, i) => [
        ts("2025-01-01T00:00:00Z") + BigInt(i) * 1_000_000_000n,
        `row ${i} ${"x".repeat(i % 17)} ${Math.sin(i)}`,
      ]);
      const files = await small.writeFiles("big", batches(rows, 3000), { prefix: "p" });
      expect(files.length).toBeGreaterThan(1);
      expect(files.reduce((n, f) => n + f.rowCount, 0)).toBe(20_000);
      await small.commit("big", "append", () => ({ files }));
      const before = await small.checkFiles("big", files);
      // Everything is below a large target: one file again, same rows.
      const result = await small.compact("big", { targetFileBytes: 10_000_000 });
      expect(result).toMatchObject({ filesBefore: files.length, filesAfter: 1, rows: 20_000 });
      const after = await small.require("big");
      const compacted = after.snapshots.at(-1)?.files ?? [];
      expect(after.snapshots.at(-1)?.operation).toBe("replace");
      expect(await small.checkFiles("big", compacted)).toEqual(before);
    } finally {
      await small.close();
    }
  });
});

describe("pruning and querying", () => {
  let connector: ColdstoreConnector;
  const columns: ColdColumn[] = [
    { name: "ts", type: "timestamp", nullable: false },
    { name: "v", type: "integer", nullable: false },
  ];

  beforeAll(async () => {
    await store.create("events", columns, [{ source: "ts", transform: "day" }]);
    await appendAll(
      "events",
      [
        [ts("2025-03-01T01:00:00Z"), 1],
        [ts("2025-03-01T02:00:00Z"), 2],
        [ts("2025-03-02T01:00:00Z"), 3],
        [ts("2025-03-03T01:00:00Z"), 4],
      ],
      "m",
    );
    await store.create("ticks", columns, []);
    await appendAll(
      "ticks",
      [
        [0n, 1],
        [1n, 2],
        [2n, 3],
      ],
      "t",
    );
    connector = await ColdstoreConnector.open("cold", { kind: "coldstore", path: dir });
  });

  afterAll(async () => {
    await connector.close();
  });

  it("opens only the files a time range can hold", async () => {
    const scan = {
      table: ["main", "events"],
      bounds: {
        ts: {
          lo: { v: ts("2025-03-02T00:00:00Z"), inclusive: true },
          hi: { v: ts("2025-03-03T00:00:00Z"), inclusive: false },
        },
      },
    };
    const sql = `SELECT "v" FROM "main"."events" WHERE "ts" >= make_timestamp(${ts("2025-03-02T00:00:00Z") / 1000n}) AND "ts" < make_timestamp(${ts("2025-03-03T00:00:00Z") / 1000n})`;
    const { rows } = await readRows(connector, sql, scan);
    expect(rows).toEqual([[3]]);
    const { read } = await connector.rewrite({ sql, params: [], scan });
    expect(read.events).toHaveLength(1);
    expect(read.events?.[0]).toMatch(/^data\/ts_day=2025-03-02\//);
    // Without the other days' files the answer is the same: they were never opened.
    const metadata = await store.require("events");
    for (const f of metadata.snapshots.at(-1)?.files ?? []) {
      if (!f.path.includes("2025-03-02")) await rm(join(dir, "main", "events", f.path));
    }
    expect((await readRows(connector, sql, scan)).rows).toEqual([[3]]);
    // A range no file holds reads an empty, typed relation.
    const later = {
      table: ["main", "events"],
      bounds: { ts: { lo: { v: ts("2030-01-01T00:00:00Z"), inclusive: true } } },
    };
    const none = await readRows(connector, `SELECT "ts", "v" FROM "main"."events"`, later);
    expect(none.rows).toEqual([]);
    expect(none.columns.map((c) => c.type)).toEqual(["timestamp", "integer"]);
    const nothing = await connector.rewrite({
      sql: `SELECT * FROM "main"."events"`,
      params: [],
      scan: later,
    });
    expect(nothing.read.events).toEqual([]);
  });

  it("compares times bound as the engine binds them exactly, at the boundary", async () => {
    // The engine renders a bound time for DuckDB as CAST($n AS TIMESTAMPTZ) of UTC text; the
    // ticks are stored at microseconds, so 0, 1 and 2 ns are all 1970-01-01 00:00:00.
    const ids = async (where: string, params: string[]) => {
      const sql = `SELECT "v" FROM "main"."ticks" WHERE ${where} ORDER BY "v"`;
      const result = await connector.query({ sql, params });
      const rows: Row[] = [];
      for await (const batch of result.batches) rows.push(...batch);
      return rows.map((r) => r[0]);
    };
    const epoch = "1970-01-01 00:00:00.000000+00";
    const next = "1970-01-01 00:00:00.000001+00";
    expect(
      await ids(`"ts" >= CAST($1 AS TIMESTAMPTZ) AND "ts" < CAST($2 AS TIMESTAMPTZ)`, [
        epoch,
        next,
      ]),
    ).toEqual([1, 2, 3]);
    expect(await ids(`"ts" > CAST($1 AS TIMESTAMPTZ)`, [epoch])).toEqual([]);
    expect(await ids(`"ts" < CAST($1 AS TIMESTAMPTZ)`, [epoch])).toEqual([]);
    const { sql } = await connector.rewrite({
      sql: `SELECT "v" FROM "main"."ticks" WHERE "ts" < CAST($1 AS TIMESTAMPTZ)`,
      params: [],
    });
    expect(sql).toContain("CAST($1 AS TIMESTAMP)");
    expect(sql).not.toContain("TIMESTAMPTZ");
  });

  it("refuses writes and names unknown tables", async () => {
    await expect(connector.execute({ sql: "DELETE FROM x", params: [] })).rejects.toMatchObject({
      code: "UNSUPPORTED",
      message: expect.stringMatching(/cold.*lifecycle/),
    });
    await expect(connector.appendRows("events", ["v"], [[1]])).rejects.toMatchObject({
      code: "UNSUPPORTED",
    });
    await expect(connector.openSession()).rejects.toMatchObject({ code: "UNSUPPORTED" });
    await expect(readRows(connector, `SELECT * FROM "main"."nope"`)).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringMatching(/no table nope; tables: .*events/),
    });
    await expect(store.create("../evil", columns, [])).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(store.writeFiles("events", batches([]), { prefix: "../x" })).rejects.toMatchObject(
      { code: "BAD_REQUEST" },
    );
    await expect(
      store.create("events", [{ name: "x", type: "text", nullable: true }], []),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(
      store.create("bad_spec", columns, [{ source: "v", transform: "day" }]),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/date or timestamp/),
    });
  });

  it("validates its config and answers pings", async () => {
    await expect(
      createConnector("bad", { kind: "coldstore", path: "" } as never),
    ).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/path/) });
    await expect(
      createConnector("bad", { kind: "coldstore", path: dir, targetFileBytes: -1 }),
    ).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/targetFileBytes/),
    });
    await connector.ping();
    expect(connector.capabilities.joins).toBe(false);
    expect(connector.dialect.kind).toBe("duckdb");
  });

  it("interrupts a running query when aborted", async () => {
    const controller = new AbortController();
    const running = readRows(
      connector,
      `SELECT count(*) FROM "main"."ticks", range(100000000) a, range(100000) b WHERE a.range + b.range = -1`,
      undefined,
      controller.signal,
    );
    setTimeout(() => controller.abort(), 200);
    await expect(running).rejects.toMatchObject({ code: "CANCELLED" });
    expect((await readRows(connector, `SELECT count(*) FROM "main"."ticks"`)).rows).toEqual([[3n]]);
  });
});

describe("commits and maintenance", () => {
  const columns: ColdColumn[] = [
    { name: "ts", type: "timestamp", nullable: false },
    { name: "k", type: "bigint", nullable: false },
  ];
  const rows = (from: number, n: number, day = "2025-04-01"): Row[] =>
    Array.from({ length: n }, (_, i) => [
      ts(`${day}T00:00:00Z`) + BigInt(from + i) * 1_000_000_000n,
      BigInt(from + i),
    ]);

  it("lands two racing commits as versions 2 and 3", async () => {
    const other = await ColdStore.open({ path: dir });
    try {
      await store.create("race", columns, [{ source: "ts", transform: "day" }]);
      const [a, b] = await Promise.all([
        store.writeFiles("race", batches(rows(0, 5)), { prefix: "a" }),
        other.writeFiles("race", batches(rows(100, 5)), { prefix: "b" }),
      ]);
      const append = (files: typeof a) => (current: Awaited<ReturnType<ColdStore["require"]>>) => ({
        files: [
          ...(current.snapshots.find((s) => s.snapshotId === current.currentSnapshotId)?.files ??
            []),
          ...files,
        ],
      });
      const results = await Promise.all([
        store.commit("race", "append", append(a)),
        other.commit("race", "append", append(b)),
      ]);
      expect(results.map((m) => m.version).sort()).toEqual([2, 3]);
      const names = await readdir(join(dir, "main", "race", "metadata"));
      expect(names.filter((n) => n.endsWith(".metadata.json")).sort()).toEqual([
        "v1.metadata.json",
        "v2.metadata.json",
        "v3.metadata.json",
      ]);
      const latest = await store.require("race");
      expect(latest.version).toBe(3);
      expect(latest.snapshots.at(-1)?.files).toHaveLength(2);
      expect(latest.snapshots.at(-1)?.parentSnapshotId).toBe(1);
    } finally {
      await other.close();
    }
  });

  it("keeps an older snapshot's files readable through compaction until they expire", async () => {
    await store.create("maint", columns, [{ source: "ts", transform: "day" }]);
    await appendAll("maint", rows(0, 10), "one");
    await appendAll("maint", rows(10, 10), "two");
    await appendAll("maint", rows(20, 10, "2025-04-02"), "three");
    const held = await store.require("maint");
    const heldFiles =
      held.snapshots.find((s) => s.snapshotId === held.currentSnapshotId)?.files ?? [];
    const heldCheck = await store.checkFiles("maint", heldFiles);
    const result = await store.compact("maint");
    expect(result).toMatchObject({ filesBefore: 3, filesAfter: 2, rows: 30 });
    // The reader holding the old snapshot still reads all of its files.
    expect(await store.checkFiles("maint", heldFiles)).toEqual(heldCheck);
    const current = await store.require("maint");
    expect(current.snapshots.at(-1)?.snapshotId).toBe(result.snapshotId);
    const currentFiles = current.snapshots.at(-1)?.files ?? [];
    expect(await store.checkFiles("maint", currentFiles)).toEqual(heldCheck);
    // Retention keeps the held snapshot's files.
    expect(await store.expireSnapshots("maint", { olderThanMs: 3_600_000 })).toEqual({
      expiredSnapshots: 0,
      deletedFiles: 0,
    });
    expect(await store.expireSnapshots("maint", { olderThanMs: 0, retainLast: 2 })).toMatchObject({
      expiredSnapshots: 2,
    });
    for (const f of heldFiles) expect(existsSync(join(dir, "main", "maint", f.path))).toBe(true);
    // An orphan written and never committed goes once it is old enough.
    const orphans = await store.writeFiles("maint", batches(rows(50, 2)), { prefix: "orphan" });
    const orphanPath = join(dir, "main", "maint", orphans[0]?.path ?? "");
    await utimes(orphanPath, new Date(0), new Date(0));
    const expired = await store.expireSnapshots("maint", { olderThanMs: 0, retainLast: 1 });
    expect(expired.expiredSnapshots).toBe(1);
    expect(existsSync(orphanPath)).toBe(false);
    const replaced = heldFiles.filter((f) => !currentFiles.some((c) => c.path === f.path));
    expect(expired.deletedFiles).toBe(replaced.length + 1);
    for (const f of replaced) expect(existsSync(join(dir, "main", "maint", f.path))).toBe(false);
    for (const f of currentFiles) expect(existsSync(join(dir, "main", "maint", f.path))).toBe(true);
    expect((await store.stats("maint")).snapshots).toBe(1);
  });

  it("keeps only the newest metadata versions once expired", async () => {
    await store.create("versions", columns, []);
    for (let i = 0; i < 12; i++) await store.commit("versions", "append", () => ({ files: [] }));
    const metadataDir = join(dir, "main", "versions", "metadata");
    expect(await store.expireSnapshots("versions", { olderThanMs: 0 })).toMatchObject({
      expiredSnapshots: 11,
    });
    const names = (await readdir(metadataDir)).filter((n) => n.endsWith(".metadata.json"));
    const versions = names.map((n) => Number(/\d+/.exec(n)?.[0])).sort((a, b) => a - b);
    expect(versions).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect((await store.require("versions")).snapshots.map((s) => s.snapshotId)).toEqual([12]);
  });

  it("repartitions in one replace snapshot, rows unchanged", async () => {
    const before = await store.require("maint");
    const files =
      before.snapshots.find((s) => s.snapshotId === before.currentSnapshotId)?.files ?? [];
    const [check] = mergeChecks(await store.checkFiles("maint", files));
    const result = await store.repartition("maint", [
      { source: "k", transform: "bucket", buckets: 3 },
    ]);
    expect(result).toMatchObject({ rows: 30, filesAfter: 3 });
    const after = await store.require("maint");
    expect(after.partitionSpec.fields).toEqual([{ source: "k", transform: "bucket", buckets: 3 }]);
    const newFiles = after.snapshots.at(-1)?.files ?? [];
    expect(newFiles.map((f) => f.path.split("/")[1]).sort()).toEqual([
      "k_bucket=0",
      "k_bucket=1",
      "k_bucket=2",
    ]);
    expect(mergeChecks(await store.checkFiles("maint", newFiles))).toEqual([check]);
    const pruned = store.prune(after, { k: { values: [4n] } });
    expect(pruned.map((f) => f.partition)).toEqual([{ k_bucket: 1 }]);
  });

  it("expires rows below a boundary, rewriting files that straddle it", async () => {
    const boundary = ts("2025-04-01T00:00:15Z");
    const result = await store.expireRows("maint", "ts", boundary);
    expect(result.removedRows).toBe(15);
    const stats = await store.stats("maint");
    expect(stats.rows).toBe(15);
    expect(stats.columns.ts?.min).toBe(boundary);
    expect(stats.partitions.reduce((n, p) => n + p.rows, 0)).toBe(15);
    const latest = await store.require("maint");
    expect(latest.snapshots.at(-1)?.operation).toBe("delete");
  });
});

/** Sums per-partition checks into one (checksums add modulo 2^64). */
function mergeChecks(checks: { rowCount: number; checksum: string }[]) {
  let sum = 0n;
  let rows = 0;
  for (const c of checks) {
    sum = (sum + BigInt(`0x${c.checksum}`)) % 2n ** 64n;
    rows += c.rowCount;
  }
  return [{ rowCount: rows, checksum: sum.toString(16).padStart(16, "0") }];
}

describe("checksums across sources", () => {
  let pg: PostgresService;
  let connector: Connector;

  beforeAll(async () => {
    pg = await postgres();
    connector = await createConnector("pg_cold", {
      kind: "postgres",
      url: await pg.createDatabase(),
    });
  });

  afterAll(async () => {
    await connector?.close();
    await pg?.stop();
  });

  it("gives the same count and checksum from PostgreSQL and from the Parquet files", async () => {
    await connector.execute({
      sql: `CREATE TABLE hot (ts timestamptz NOT NULL, b boolean, i integer, big bigint, d double precision,
              amount numeric(12,2), t text, day date, doc jsonb, bytes bytea)`,
      params: [],
    });
    await connector.execute({
      sql: `INSERT INTO hot VALUES
        ('2025-03-01 10:00:00.123456+00', true, 1, 9007199254740993, 1.25, 12.50, 'héllo 😀', '2025-03-01', '{"a":[1,"x"]}', '\\x00ff'),
        ('2025-03-02 00:00:00+00', false, -2147483648, -1, -0.5, 0.01, '', '1969-12-31', '"just text"', '\\x'),
        ('1969-12-31 23:59:59+00', null, null, null, null, null, null, null, null, null)`,
      params: [],
    });
    const sql = `SELECT ts, b, i, big, d, amount, t, day, doc, bytes FROM hot`;
    const hot = await batchesChecksum(
      (await connector.query({ sql, params: [] })).batches,
      allTypes.map((c) => c.type),
    );
    expect(hot.rowCount).toBe(3);
    await store.create("from_pg", allTypes, [{ source: "ts", transform: "day" }]);
    const files = await store.writeFiles(
      "from_pg",
      (await connector.query({ sql, params: [] })).batches,
      { prefix: "pg" },
    );
    const perPartition = await store.checkFiles("from_pg", files);
    expect(mergeChecks(perPartition)).toEqual([hot]);
    // The hot side grouped the way the store partitions gives the same per-partition checks.
    const hotChecks = await partitionChecksums(
      allTypes,
      [{ source: "ts", transform: "day" }],
      (await connector.query({ sql, params: [] })).batches,
    );
    expect(hotChecks).toEqual(perPartition);
    expect(hotChecks.map((c) => c.partition)).toEqual([
      "ts_day=1969-12-31",
      "ts_day=2025-03-01",
      "ts_day=2025-03-02",
    ]);
    // The literal rows the round-trip test wrote check the same as well.
    await store.create("literal_rows", allTypes, []);
    const ours = await store.writeFiles("literal_rows", batches(allRows), { prefix: "lit" });
    expect(mergeChecks(await store.checkFiles("literal_rows", ours))).toEqual([hot]);
  });
});

describe("checksums from MariaDB", () => {
  let maria: MariaDbService;
  let connector: Connector;

  beforeAll(async () => {
    maria = await mariadb();
    connector = await createConnector("maria_cold", {
      kind: "mysql",
      url: await maria.createDatabase(),
    });
  });

  afterAll(async () => {
    await connector?.close();
    await maria?.stop();
  });

  it("gives the same count and checksum as the Parquet files and the same literal rows", async () => {
    await connector.execute({
      sql: `CREATE TABLE hot (ts datetime(6) NOT NULL, b boolean, i integer, big bigint, d double,
              amount decimal(12,2), t text, day date, doc json, bytes blob)`,
      params: [],
    });
    await connector.execute({
      sql: `INSERT INTO hot VALUES
        ('2025-03-01 10:00:00.123456', true, 1, 9007199254740993, 1.25, 12.50, 'héllo 😀', '2025-03-01', '{"a":[1,"x"]}', x'00ff'),
        ('2025-03-02 00:00:00', false, -2147483648, -1, -0.5, 0.01, '', '1969-12-31', '{"s":"just text"}', x''),
        ('1969-12-31 23:59:59', null, null, null, null, null, null, null, null, null)`,
      params: [],
    });
    const sql = "SELECT ts, b, i, big, d, amount, t, day, doc, bytes FROM hot";
    const hot = await batchesChecksum(
      (await connector.query({ sql, params: [] })).batches,
      allTypes.map((c) => c.type),
    );
    await store.create("from_maria", allTypes, [{ source: "ts", transform: "day" }]);
    const files = await store.writeFiles(
      "from_maria",
      (await connector.query({ sql, params: [] })).batches,
      {
        prefix: "maria",
      },
    );
    expect(mergeChecks(await store.checkFiles("from_maria", files))).toEqual([hot]);
    const literal = allRows.map((row, i) =>
      i === 1 ? row.map((v, c) => (c === 8 ? { s: v } : v)) : row,
    );
    expect(rowsChecksum(literal)).toEqual(hot);
  });
});

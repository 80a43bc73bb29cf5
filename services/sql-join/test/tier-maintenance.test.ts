/**
 * Cold-store maintenance under concurrent reads, against a real sql-join worker on a private
 * NATS server: a cold table of 20 days written by ten appends (ten small files a day), compacted
 * and then repartitioned by day and a bucket of the id through `entente.tiers` while a reader
 * loops over the whole table through `entente.sql`. Every read is every row once; compaction
 * leaves one file a day; after the repartition, EXPLAIN of a one-day, one-id statement reads one
 * file of the 80; expireSnapshots then deletes every replaced file and the table reads whole.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type ColdStore, type Connector, createConnector, type Row } from "@entente/connectors";
import {
  type ColdMaintenanceReply,
  collectSqlResult,
  type ExpireSnapshotsReply,
  type SqlResult,
  subjectsOf,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";
import { currentFilesOf } from "../src/tiers/effects.ts";
import { coldStoreOf } from "../src/tiers/lifecycle.ts";

const DAY_MS = 86_400_000;
const DAYS = 20;
const APPENDS = 10;
/** Rows of one append in one day: 100 rows a day in all. */
const PER_APPEND_DAY = 10;
const ROWS = DAYS * APPENDS * PER_APPEND_DAY;
const BUCKETS = 4;
const TABLE = "archive.main.logs";
const START = Date.UTC(2025, 0, 1);
const dayText = (d: number) => new Date(START + d * DAY_MS).toISOString().slice(0, 10);

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;
let dir: string;
let setup: Connector;
let store: ColdStore;
const subjects = subjectsOf("entente");

const PER_DAY = APPENDS * PER_APPEND_DAY;

/**
 * Row `id` (1..ROWS): day `(id - 1) / PER_DAY`, at minute `(id - 1) % PER_DAY` of it. A day's
 * ids are consecutive, so they fall in every bucket of the id.
 */
function rowOf(id: number): Row {
  const i = id - 1;
  const ms = START + Math.floor(i / PER_DAY) * DAY_MS + (i % PER_DAY) * 60_000;
  return [id, BigInt(ms) * 1_000_000n, `payload ${id}`];
}

/** Append `a` writes minutes 10a..10a+9 of every day. */
const appendOf = (id: number): number => Math.floor(((id - 1) % PER_DAY) / PER_APPEND_DAY);

beforeAll(async () => {
  nats = await startNatsServer();
  dir = await mkdtemp(join(tmpdir(), "entente-tier-maintenance-"));
  const coldDir = join(dir, "cold");
  setup = await createConnector("archive", { kind: "coldstore", path: coldDir });
  store = coldStoreOf(setup) as ColdStore;
  await store.create(
    "logs",
    [
      { name: "id", type: "bigint", nullable: false },
      { name: "ts", type: "timestamp", nullable: false },
      { name: "payload", type: "text", nullable: false },
    ],
    [{ source: "ts", transform: "day" }],
  );
  // Ten appends, each a small file in every day's partition.
  for (let a = 0; a < APPENDS; a++) {
    const rows: Row[] = [];
    for (let id = 1; id <= ROWS; id++) {
      if (appendOf(id) === a) rows.push(rowOf(id));
    }
    const files = await store.writeFiles(
      "logs",
      (async function* () {
        yield rows;
      })(),
      { prefix: `append-${a}` },
    );
    await store.commit("logs", "append", (current) => ({
      files: [...currentFilesOf(current), ...files],
      summary: { append: String(a) },
    }));
  }
  const yaml = `
nats: { servers: ["${nats.url}"] }
log: { level: warn }
sources:
  archive: { kind: coldstore, path: "${coldDir}" }
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
  await setup?.close();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function sql(text: string): Promise<SqlResult> {
  return collectSqlResult(await client.collect(subjects.sql, { sql: text }, { timeoutMs: 30_000 }));
}

function tiers<T>(request: Record<string, unknown>): Promise<T> {
  return client.request<T>(subjects.tiers, request, { timeoutMs: 120_000 });
}

/** What is wrong with a read of the whole table; undefined when it is every row once. */
async function wrongRead(full: boolean): Promise<string | undefined> {
  if (full) {
    const { rows } = await sql(`SELECT id, payload FROM ${TABLE}`);
    const ids = rows.map((r) => Number(r[0])).sort((a, b) => a - b);
    const badPayload = rows.find((r) => r[1] !== `payload ${Number(r[0])}`);
    if (badPayload) return `row ${JSON.stringify(badPayload)}`;
    if (ids.length !== ROWS || ids.some((v, i) => v !== i + 1)) {
      const seen = new Set(ids);
      const missing = ids.length === 0 ? ROWS : ROWS - seen.size;
      return `${ids.length} ids for ${ROWS} rows; ${missing} missing, ${ids.length - seen.size} doubled`;
    }
    return undefined;
  }
  const { rows } = await sql(
    `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM ${TABLE}`,
  );
  const got = (rows[0] ?? []).map(Number).join();
  const want = [ROWS, ROWS, 1, ROWS].join();
  return got === want ? undefined : `count, distinct, min, max ${got}; want ${want}`;
}

/**
 * Runs `op` while two readers read the whole table in loops (alternately every id and a count,
 * distinct count, min and max); each loop stops after `op` settles, one last read included.
 * Every read must be right; each loop is bounded by `maxReads`.
 */
async function whileReading<T>(op: () => Promise<T>, maxReads = 2_000): Promise<T> {
  const wrong: string[] = [];
  let reads = 0;
  let settled = false;
  const running = op().finally(() => {
    settled = true;
  });
  const loop = async (r: number) => {
    for (let n = 0; n < maxReads; n++) {
      const last = settled;
      const problem = await wrongRead((n + r) % 2 === 0);
      reads++;
      if (problem) wrong.push(`reader ${r} read ${n}: ${problem}`);
      if (last) break;
      await sleep(10);
    }
  };
  const [result] = await Promise.all([running, loop(0), loop(1)]);
  expect(wrong).toEqual([]);
  expect(reads).toBeGreaterThanOrEqual(4);
  return result;
}

const filesNow = async (): Promise<number> => currentFilesOf(await store.require("logs")).length;

async function parquetOnDisk(): Promise<string[]> {
  const entries = await readdir(join(store.tableDir("logs"), "data"), { recursive: true });
  return entries.filter((e) => e.endsWith(".parquet")).map((e) => `data/${e}`);
}

describe("compaction and repartition under concurrent reads", () => {
  it("starts from ten small files a day, read whole", async () => {
    expect(await filesNow()).toBe(DAYS * APPENDS);
    expect(await wrongRead(true)).toBeUndefined();
    expect(await wrongRead(false)).toBeUndefined();
  });

  it("compacts each day's small files into one, every read whole meanwhile", async () => {
    const reply = await whileReading(() =>
      tiers<ColdMaintenanceReply>({ op: "compact", table: TABLE }),
    );
    expect(reply).toMatchObject({
      table: TABLE,
      filesBefore: DAYS * APPENDS,
      filesAfter: DAYS,
      rows: ROWS,
    });
    expect(await filesNow()).toBe(DAYS);
    // One day's statement reads that day's one file.
    const day = 7;
    const explained = await sql(
      `EXPLAIN SELECT payload FROM ${TABLE} WHERE ts >= TIMESTAMP '${dayText(day)}' AND ts < TIMESTAMP '${dayText(day + 1)}'`,
    );
    expect(explained.plan).toContain("Cold store files:");
    expect(explained.plan).toMatch(
      new RegExp(`archive\\.main\\.logs \\(snapshot \\d+\\): reads 1 of ${DAYS} files`),
    );
  });

  it("repartitions by day and a bucket of the id; EXPLAIN of one day and one id prunes all files but one", async () => {
    const reply = await whileReading(() =>
      tiers<ColdMaintenanceReply>({
        op: "repartition",
        table: TABLE,
        partitionBy: [
          { column: "ts", transform: "day" },
          { column: "id", transform: "bucket", buckets: BUCKETS },
        ],
      }),
    );
    expect(reply).toMatchObject({
      table: TABLE,
      filesBefore: DAYS,
      filesAfter: DAYS * BUCKETS,
      rows: ROWS,
    });
    const metadata = await store.require("logs");
    expect(metadata.partitionSpec.fields).toEqual([
      { source: "ts", transform: "day" },
      { source: "id", transform: "bucket", buckets: BUCKETS },
    ]);
    const id = 1234;
    const [, ts] = rowOf(id) as [number, bigint, string];
    const day = new Date(Number(ts / 1_000_000n)).toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + DAY_MS).toISOString().slice(0, 10);
    const statement = `SELECT id, payload FROM ${TABLE} WHERE ts >= TIMESTAMP '${day}' AND ts < TIMESTAMP '${next}' AND id = ${id}`;
    const explained = await sql(`EXPLAIN ${statement}`);
    const all = DAYS * BUCKETS;
    expect(explained.plan).toMatch(
      new RegExp(
        `archive\\.main\\.logs \\(snapshot \\d+\\): reads 1 of ${all} files \\(\\d+ bytes\\), pruned ${all - 1} by partition and min/max`,
      ),
    );
    const answer = await sql(statement);
    expect(answer.rows.map((r) => [Number(r[0]), r[1]])).toEqual([[id, `payload ${id}`]]);
    // A one-day statement without the id reads that day's buckets only.
    const dayOnly = await sql(
      `EXPLAIN SELECT count(*) FROM ${TABLE} WHERE ts >= TIMESTAMP '${day}' AND ts < TIMESTAMP '${next}'`,
    );
    expect(dayOnly.plan).toMatch(new RegExp(`reads ${BUCKETS} of ${all} files`));
  });

  it("expires the replaced snapshots: their files are deleted, the table still reads whole", async () => {
    const before = await parquetOnDisk();
    // The appends' files, the compaction's and the repartition's are all still on disk.
    expect(before).toHaveLength(DAYS * APPENDS + DAYS + DAYS * BUCKETS);
    const reply = await tiers<ExpireSnapshotsReply>({
      op: "expireSnapshots",
      table: TABLE,
      olderThanMs: 0,
      retainLast: 1,
    });
    expect(reply.table).toBe(TABLE);
    expect(reply.expiredSnapshots).toBe(APPENDS + 1);
    expect(reply.deletedFiles).toBe(DAYS * APPENDS + DAYS);
    const current = currentFilesOf(await store.require("logs"))
      .map((f) => f.path)
      .sort();
    expect((await parquetOnDisk()).sort()).toEqual(current);
    expect(current).toHaveLength(DAYS * BUCKETS);
    expect(await wrongRead(true)).toBeUndefined();
    expect(await wrongRead(false)).toBeUndefined();
  });
});

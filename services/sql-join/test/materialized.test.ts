/**
 * Materialized results over real NATS JetStream (a bucket of this suite's own deployment) and a
 * real cold store in a temporary directory; statements parse with the engine's parser and run
 * through a stand-in over fixed rows: fresh hits, misses, normalization, expiry, refresh, and
 * two workers refreshing one result at once.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ColdstoreConnector } from "@entente/connectors";
import { bucketNameOf, EntenteError, type SqlColumn } from "@entente/protocol";
import { parseSql, type Row } from "@entente/sql";
import { eventually, type NatsService, natsServer } from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  MaterializedResults,
  type MaterializeRun,
  materializeConfigSchema,
  materializedOp,
  materializeSourceOf,
  normalizeSqlText,
  REFRESH_RETRY_MS,
  statementKey,
} from "../src/materialized/index.ts";

let nats: NatsService;
let nc: NatsConnection;
let dir: string;
let deployment: string;
let clock: number;
const opened: MaterializedResults[] = [];
const connectors: ColdstoreConnector[] = [];

/** What the stand-in engine answers: every statement gives `generation` in its rows. */
let generation = 0;
let runs: string[] = [];
let gate: Promise<void> | undefined;
let failing = false;
let warnings: string[] = [];

const COLUMNS: SqlColumn[] = [
  { name: "id", type: "integer" },
  { name: "name", type: "text" },
  { name: "gen", type: "integer" },
];

function rowsFor(sql: string, params: unknown[]): Row[] {
  const count = /limit (\d+)/i.exec(sql)?.[1];
  const n = count === undefined ? 5 : Number(count);
  return Array.from({ length: n }, (_, i) => [
    n - i,
    `${sql.length}:${String(params[0])}`,
    generation,
  ]);
}

const run: MaterializeRun = async (sql, params) => {
  runs.push(sql);
  if (failing) throw new EntenteError("UNAVAILABLE", "the source is down");
  const rows = rowsFor(sql, params);
  const waitFor = gate;
  async function* batches() {
    if (waitFor) await waitFor;
    for (let i = 0; i < rows.length; i += 2) yield rows.slice(i, i + 2);
  }
  return { columns: COLUMNS, rows: batches() };
};

const parse = async (sql: string) => parseSql(sql);

async function open(
  options: {
    maxRows?: number;
    maxResults?: number;
    runner?: MaterializeRun;
    deployment?: string;
  } = {},
) {
  const connector = await ColdstoreConnector.open("archive", { kind: "coldstore", path: dir });
  connectors.push(connector);
  const results = await MaterializedResults.open({
    nc,
    deployment: options.deployment ?? deployment,
    settings: materializeConfigSchema.parse({
      source: "archive",
      ...(options.maxRows ? { maxRows: options.maxRows } : {}),
      ...(options.maxResults ? { maxResults: options.maxResults } : {}),
    }),
    source: materializeSourceOf(new Map([["archive", connector]]), "archive"),
    run: options.runner ?? run,
    parse,
    now: () => clock,
    logger: { warn: (_details, message) => warnings.push(message) },
  });
  opened.push(results);
  return results;
}

async function rowsOf(hit: {
  read(signal: AbortSignal): Promise<{ batches: AsyncIterable<Row[]> }>;
}) {
  const { batches } = await hit.read(new AbortController().signal);
  const rows: Row[] = [];
  for await (const batch of batches) rows.push(...batch);
  return rows;
}

async function failure(work: Promise<unknown>): Promise<EntenteError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

const hitFor = (m: MaterializedResults, sql: string, params: unknown[] = []) =>
  m.lookup(parseSql(sql), params);

beforeAll(async () => {
  nats = await natsServer();
  nc = await connect({ servers: nats.url });
  dir = await mkdtemp(join(tmpdir(), "entente-materialized-"));
});

afterAll(async () => {
  for (const m of opened) await m.close();
  for (const c of connectors) await c.close();
  await nc?.drain();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let suite = 0;
beforeEach(async () => {
  // Each test its own deployment (its own bucket); the cold store directory is shared.
  deployment = `mat${process.pid}x${suite++}`;
  clock = Date.parse("2026-03-01T00:00:00Z");
  generation = 0;
  runs = [];
  gate = undefined;
  failing = false;
  warnings = [];
});

afterAll(async () => {
  const kvm = new Kvm(jetstream(nc));
  for (let i = 0; i < suite; i++) {
    const kv = await kvm.open(bucketNameOf(`mat${process.pid}x${i}`, "materialized"));
    await kv.destroy().catch(() => {});
  }
});

describe("materialized results", () => {
  it("answers the same statement from the stored result while it is fresh", async () => {
    const m = await open();
    const sql = "SELECT id, name FROM users WHERE id > $1 ORDER BY id DESC LIMIT 7";
    const info = await m.materialize(sql, [3], 60_000);
    expect(info).toMatchObject({
      sql,
      rows: 7,
      fresh: true,
      createdAt: "2026-03-01T00:00:00.000Z",
      expiresAt: "2026-03-01T00:01:00.000Z",
    });
    expect(info.id).toMatch(/^[0-9a-f]{12}$/);
    expect(info.table).toBe(`archive.main.mat_${info.id}`);
    expect(runs).toHaveLength(1);

    const hit = hitFor(m, sql, [3]);
    expect(hit?.info).toEqual(info);
    expect(await rowsOf(hit as NonNullable<typeof hit>)).toEqual(rowsFor(sql, [3]));
    const { columns } = await (hit as NonNullable<typeof hit>).read(new AbortController().signal);
    expect(columns).toEqual(COLUMNS);
    expect(m.explainLine(info)).toBe(
      `Materialized mat_${info.id} (rows 7, created 2026-03-01T00:00:00.000Z, expires 2026-03-01T00:01:00.000Z): answered from the stored result`,
    );
    // Answering read the store; nothing ran again.
    expect(runs).toHaveLength(1);
    expect(await m.list()).toEqual([info]);
  });

  it("matches whatever the whitespace, keyword case, comments or trailing semicolon", async () => {
    const m = await open();
    const info = await m.materialize(
      "select id, name from users where name = 'Ab' and id in (1, 2) order by id limit 3",
      [],
      60_000,
    );
    const same = [
      "SELECT id, name FROM users WHERE name = 'Ab' AND id IN (1,2) ORDER BY id LIMIT 3",
      "  select\n\tid ,name\nfrom users -- the users\nwhere name='Ab' and id in(1,2)\norder by id limit 3;",
      "/* a comment */ Select id, name From users Where name = 'Ab' And id In (1, 2) Order By id Limit 3 ;;",
      "EXPLAIN SELECT id, name FROM users WHERE name = 'Ab' AND id IN (1, 2) ORDER BY id LIMIT 3",
    ];
    for (const sql of same) expect(hitFor(m, sql)?.info.id, sql).toBe(info.id);
  });

  it("misses statements that differ in meaning, and other parameters", async () => {
    const m = await open();
    await m.materialize(`SELECT "Id", name FROM users WHERE name = 'Ab' LIMIT 3`, [1], 60_000);
    expect(hitFor(m, `select "Id", name from users where name = 'Ab' limit 3`, [1])).toBeDefined();
    const different = [
      `SELECT "Id", name FROM users WHERE name = 'ab' LIMIT 3`,
      `SELECT "ID", name FROM users WHERE name = 'Ab' LIMIT 3`,
      `SELECT "Id", name FROM users WHERE name = 'Ab' LIMIT 4`,
      `SELECT "Id", name FROM users WHERE name = 'Ab '`,
      `SELECT "Id", name FROM users WHERE name = 'Ab' ORDER BY name LIMIT 3`,
      `SELECT "Id", name FROM orders WHERE name = 'Ab' LIMIT 3`,
      `SELECT "Id", name AS n FROM users WHERE name = 'Ab' LIMIT 3`,
    ];
    for (const sql of different) expect(hitFor(m, sql, [1]), sql).toBeUndefined();
    const sql = `SELECT "Id", name FROM users WHERE name = 'Ab' LIMIT 3`;
    expect(hitFor(m, sql, [2])).toBeUndefined();
    expect(hitFor(m, sql, ["1"])).toBeUndefined();
    expect(hitFor(m, sql, [1n])).toBeUndefined();
    expect(hitFor(m, sql, [])).toBeUndefined();
  });

  it("expires, stays listed, and is refreshed in the background by the next same statement", async () => {
    const m = await open();
    const sql = "SELECT id FROM t LIMIT 4";
    const first = await m.materialize(sql, [], 1_000);
    clock += 1_000;
    // The refresh holds until released below.
    let release = () => {};
    gate = new Promise((resolve) => {
      release = resolve;
    });
    generation = 1;
    // Expired: no answer; an EXPLAIN refreshes nothing.
    expect(hitFor(m, `EXPLAIN ${sql}`)).toBeUndefined();
    expect(runs).toHaveLength(1);
    // One refresh at a time however many statements come.
    expect(hitFor(m, sql)).toBeUndefined();
    expect(hitFor(m, sql)).toBeUndefined();
    expect(hitFor(m, "select id from t limit 4;")).toBeUndefined();
    const listed = await m.list();
    expect(listed).toEqual([{ ...first, fresh: false }]);
    await until("the refresh to run", () => expect(runs).toHaveLength(2));
    release();
    await until("the refreshed result", () => expect(hitFor(m, sql)).toBeDefined());
    expect(runs).toHaveLength(2);
    const hit = hitFor(m, sql) as NonNullable<ReturnType<typeof hitFor>>;
    expect(hit.info).toMatchObject({ id: first.id, fresh: true, rows: 4 });
    expect(Date.parse(hit.info.expiresAt)).toBe(clock + 1_000);
    expect((await rowsOf(hit)).map((r) => r[2])).toEqual([1, 1, 1, 1]);
  });

  it("waits after a failed background refresh before running the statement again", async () => {
    const m = await open();
    const sql = "SELECT id FROM t LIMIT 2";
    await m.materialize(sql, [], 1_000);
    clock += 1_000;
    failing = true;
    expect(hitFor(m, sql)).toBeUndefined();
    await until("the refresh to fail", () =>
      expect(warnings).toEqual(["materialized result: refresh failed"]),
    );
    expect(runs).toHaveLength(2);
    failing = false;
    clock += REFRESH_RETRY_MS - 1;
    expect(hitFor(m, sql)).toBeUndefined();
    expect(runs).toHaveLength(2);
    clock += 1;
    expect(hitFor(m, sql)).toBeUndefined();
    await until("the refreshed result", () => expect(hitFor(m, sql)).toBeDefined());
    expect(runs).toHaveLength(3);
  });

  it("refreshes on demand, replacing the stored result", async () => {
    const m = await open();
    const sql = "SELECT id, name, gen FROM t LIMIT 6";
    const first = await m.materialize(sql, ["x"], 60_000);
    generation = 7;
    clock += 10_000;
    const second = await m.refresh(first.id);
    expect(second).toMatchObject({ id: first.id, rows: 6, fresh: true });
    expect(Date.parse(second.createdAt)).toBe(clock);
    const hit = hitFor(m, sql, ["x"]) as NonNullable<ReturnType<typeof hitFor>>;
    expect(hit.info).toEqual(second);
    expect((await rowsOf(hit)).every((r) => r[2] === 7)).toBe(true);
    expect(await m.list()).toEqual([second]);
    const missing = await failure(m.refresh("000000000000"));
    expect(missing.code).toBe("NOT_FOUND");
  });

  it("takes two workers refreshing one result at once", async () => {
    const a = await open();
    const b = await open();
    const sql = "SELECT id, name, gen FROM t LIMIT 9";
    const first = await a.materialize(sql, [], 60_000);
    await until("worker b to see the result", () => expect(hitFor(b, sql)).toBeDefined());
    let release = () => {};
    gate = new Promise((resolve) => {
      release = resolve;
    });
    generation = 2;
    const refreshes = [a.refresh(first.id), b.refresh(first.id), a.refresh(first.id)];
    // Two workers run it once each: the worker asked twice joins its own refresh.
    await until("both refreshes to run", () => expect(runs).toHaveLength(3));
    release();
    const done = await Promise.all(refreshes);
    expect(runs).toHaveLength(3);
    expect(done[0]).toEqual(done[2]);
    for (const info of done) expect(info).toMatchObject({ id: first.id, rows: 9, fresh: true });
    // Both workers settle on one record: the later of the two results.
    await until("both workers to list the same", async () => {
      const la = await a.list();
      const lb = await b.list();
      expect(la).toEqual(lb);
    });
    const record = (await bucketRecord(first.id)) as { version: number; rows: number };
    expect(record.version).toBe(3);
    expect(record.rows).toBe(9);
    const metadata = await connectors[0]?.store.load(`mat_${first.id}`);
    expect(metadata?.properties["entente.materialized.version"]).toBe("3");
    for (const m of [a, b]) {
      const [standing] = await m.list();
      await until("the record on each worker", () =>
        expect(hitFor(m, sql)?.info).toEqual(standing),
      );
      const rows = await rowsOf(hitFor(m, sql) as NonNullable<ReturnType<typeof hitFor>>);
      expect(rows).toEqual(rowsFor(sql, []));
    }
  });

  it("stores every value type, repeated column names and the row order", async () => {
    const columns: SqlColumn[] = [
      { name: "x", type: "integer" },
      { name: "x", type: "bigint" },
      { name: 'weird "name"', type: "double" },
      { name: "t", type: "text" },
      { name: "d", type: "date" },
      { name: "ts", type: "timestamp" },
      { name: "b", type: "boolean" },
      { name: "j", type: "json" },
      { name: "blob", type: "blob" },
      { name: "nothing", type: "null" },
      { name: "dec", type: "decimal" },
      { name: "count", type: "bigint" },
    ];
    const rows: Row[] = [
      [
        3,
        9007199254740993n,
        1.5,
        "c",
        "2026-01-03",
        1_767_398_400_000_000_000n,
        true,
        { a: [1, "x"] },
        new Uint8Array([1, 2]),
        null,
        "12.25",
        5,
      ],
      [
        2,
        -1n,
        -0.25,
        "",
        "1999-12-31",
        946_684_800_000_001_000n,
        false,
        [1, 2],
        new Uint8Array([]),
        null,
        // As the engine answers decimals: exact text, kept with its scale.
        "0.50",
        6,
      ],
      [1, null, null, null, null, null, null, null, null, null, null, null],
    ];
    const runner: MaterializeRun = async () => ({
      columns,
      rows: (async function* () {
        yield rows;
      })(),
    });
    const m = await open({ runner });
    const info = await m.materialize("SELECT * FROM everything ORDER BY ts DESC", [], 60_000);
    const hit = hitFor(m, "select * from everything order by ts desc") as NonNullable<
      ReturnType<typeof hitFor>
    >;
    expect(hit.info).toEqual(info);
    const read = await hit.read(new AbortController().signal);
    expect(read.columns).toEqual(columns);
    const back: Row[] = [];
    for await (const batch of read.batches) back.push(...batch);
    expect(back).toEqual(rows);
  });

  it("refuses what cannot be materialized", async () => {
    const m = await open({ maxRows: 10 });
    const big = await failure(m.materialize("SELECT id FROM t LIMIT 11", [], 60_000));
    expect(big.code).toBe("TOO_LARGE");
    expect(big.message).toMatch(/more than 10 rows \(materialize\.maxRows\)/);
    expect(hitFor(m, "SELECT id FROM t LIMIT 11")).toBeUndefined();
    expect(await m.list()).toEqual([]);
    expect((await m.materialize("SELECT id FROM t LIMIT 10", [], 60_000)).rows).toBe(10);

    for (const sql of ["INSERT INTO t VALUES (1)", "DELETE FROM t", "EXPLAIN SELECT 1", "BEGIN"]) {
      const refused = await failure(m.materialize(sql, [], 60_000));
      expect(refused.code, sql).toBe("BAD_REQUEST");
    }
    for (const ttl of [0, -1, 1.5, 367 * 86_400_000]) {
      const refused = await failure(m.materialize("SELECT 1", [], ttl));
      expect(refused.code, String(ttl)).toBe("BAD_REQUEST");
    }
  });

  it("keeps at most maxResults results, and still refreshes and replaces those", async () => {
    const m = await open({ maxResults: 1 });
    await m.materialize("SELECT id FROM t LIMIT 2", [], 60_000);
    const refused = await failure(m.materialize("SELECT id FROM t LIMIT 3", [], 60_000));
    expect(refused.code).toBe("TOO_LARGE");
    expect(refused.message).toMatch(/materialize\.maxResults allows \(1\)/);
    expect((await m.materialize("SELECT id FROM t LIMIT 2", [], 60_000)).rows).toBe(2);
  });

  it("answers the tiers operations", async () => {
    const m = await open();
    const info = await materializedOp(m, { op: "materialize", sql: "SELECT 1 AS one", ttlMs: 5 });
    expect(info).toMatchObject({ rows: 5, fresh: true });
    const again = await materializedOp(m, {
      op: "refreshMaterialized",
      id: (info as { id: string }).id,
    });
    expect(again).toMatchObject({ id: (info as { id: string }).id });
    expect(await materializedOp(m, { op: "materialized" })).toEqual({ materialized: [again] });
  });

  it("needs a cold store source", () => {
    const error = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return err as EntenteError;
      }
      throw new Error("expected a failure");
    };
    expect(error(() => materializeSourceOf(new Map(), undefined)).code).toBe("UNAVAILABLE");
    expect(error(() => materializeSourceOf(new Map(), "archive")).code).toBe("BAD_REQUEST");
  });
});

describe("statement keys", () => {
  it("normalizes text but keeps literals, quoted names and dollar quotes", () => {
    expect(normalizeSqlText("  select  a -- x\n from t ;  ")).toBe("select a from t");
    expect(normalizeSqlText("select 'a  --  b' /* c /* nested */ d */ from \"T  x\";")).toBe(
      "select 'a  --  b' from \"T  x\"",
    );
    expect(normalizeSqlText("select E'it\\'s  x', $$ a;  b $$, $1")).toBe(
      "select E'it\\'s  x', $$ a;  b $$, $1",
    );
  });

  it("derives the key from the tree and the typed parameters", () => {
    const key = (sql: string, params: unknown[] = []) =>
      statementKey(parseSql(sql).ast, params).key;
    expect(key("SELECT a FROM t")).toBe(key("select a\nfrom t;"));
    expect(key("SELECT a FROM t")).not.toBe(key("SELECT b FROM t"));
    expect(key("SELECT $1", [1])).not.toBe(key("SELECT $1", [1n]));
    expect(key("SELECT $1", [new Uint8Array([1])])).not.toBe(
      key("SELECT $1", [new Uint8Array([2])]),
    );
    expect(key("SELECT 2.50")).not.toBe(key("SELECT 2.5"));
  });
});

/** Waits until `check` stops failing its assertions. */
async function until(what: string, check: () => unknown): Promise<void> {
  await eventually(what, async () => {
    await check();
    return true;
  });
}

async function bucketRecord(id: string): Promise<unknown> {
  const kv = await new Kvm(jetstream(nc)).open(bucketNameOf(deployment, "materialized"));
  return (await kv.get(id))?.json();
}

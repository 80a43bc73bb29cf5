/**
 * Fairness and cancellation against real PostgreSQL and MariaDB. While one statement keeps the
 * engine busy for many seconds, a hundred trivial statements are each answered within their own
 * budget. A statement whose source queries run long, ended by the caller's abort or by its
 * deadline, leaves none of its queries running in either database.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { collectSqlResult, EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

/** Rows of each big table, `big_pg` in PostgreSQL and `big_my` in MariaDB. */
const BIG_ROWS = 300_000;
/** Distinct join keys of the big tables: few, so a join on them pairs each row with many. */
const KEYS = 10;
/** MariaDB rows the heavy join builds on; each meets BIG_ROWS / KEYS PostgreSQL rows. */
const BUILD_ROWS = 3_000;
const SMALL_ROWS = 100;

/**
 * 90 million pairs counted by the engine's hash join: many seconds of the engine's own work,
 * on PostgreSQL's rows as they arrive (its scan held back where they outgrow the socket's
 * buffers). What is counted reads both sides, so no aggregation before the join can count the
 * pairs without making them.
 */
const HEAVY = `SELECT count(p.id + m.id) FROM big_pg p JOIN big_my m ON p.k = m.k WHERE m.id <= ${BUILD_ROWS}`;
const HEAVY_PAIRS = (BIG_ROWS / KEYS) * BUILD_ROWS;
/** Generous: a shared machine may run it several times slower than an idle one. */
const HEAVY_TIMEOUT_MS = 90_000;
/**
 * Each side a self-join on the few keys, run whole by its own database: 9 × 10⁹ rows each, far
 * more than any deadline here lets either finish.
 */
const SLOW =
  "SELECT p.k, p.n, m.n FROM " +
  "(SELECT a.k, count(*) AS n FROM big_pg a JOIN big_pg b ON a.k = b.k GROUP BY a.k) p JOIN " +
  "(SELECT a.k, count(*) AS n FROM big_my a JOIN big_my b ON a.k = b.k GROUP BY a.k) m ON p.k = m.k";
const TRIVIAL = "SELECT count(*) FROM small";
const TRIVIAL_COUNT = 100;
const TRIVIAL_AT_ONCE = 10;
const TRIVIAL_TIMEOUT_MS = 10_000;

let nats: NatsServer;
let pgServer: PostgresService;
let mariaServer: MariaDbService;
/** Connections of the test's own, for setup and for watching what each database runs. */
let pg: Connector;
let my: Connector;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;

async function run(db: Connector, ...statements: string[]) {
  for (const sql of statements) await db.execute({ sql, params: [] });
}

async function rows(db: Connector, sql: string): Promise<unknown[][]> {
  const out: unknown[][] = [];
  const result = await db.query({ sql, params: [] });
  for await (const batch of result.batches) out.push(...batch);
  return out;
}

/**
 * A statement on `entente.sql` with its own budget. The call waits a little longer, for the
 * whole of it: an aggregate's only reply comes at its end.
 */
async function sql(statement: string, timeoutMs: number, signal?: AbortSignal) {
  const callMs = timeoutMs + 5_000;
  const items = await client.collect(
    SUBJECTS.sql,
    { sql: statement, timeoutMs },
    { timeoutMs: callMs, stallTimeoutMs: callMs, ...(signal ? { signal } : {}) },
  );
  return collectSqlResult(items);
}

async function failure(pending: Promise<unknown>): Promise<EntenteError> {
  try {
    await pending;
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected the statement to fail");
}

/**
 * The queries over the big tables each database runs now for someone other than this test:
 * idle pooled connections and the catalog's own reads are not the statement's, and PostgreSQL's
 * parallel workers run a query on its connection's behalf.
 */
async function bigQueries(): Promise<{ pg: string[]; my: string[] }> {
  const inPg = await rows(
    pg,
    "SELECT state || ': ' || query FROM pg_stat_activity WHERE datname = current_database() " +
      "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle' " +
      "AND query LIKE '%big_pg%'",
  );
  const inMy = await rows(
    my,
    "SELECT CONCAT(COMMAND, ' ', ID, ': ', INFO) FROM information_schema.PROCESSLIST " +
      "WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep' " +
      "AND INFO LIKE '%big_my%'",
  );
  return { pg: inPg.map((r) => String(r[0])), my: inMy.map((r) => String(r[0])) };
}

/** How many connections have sent PostgreSQL a SELECT over big_pg, running or done. */
async function probeAsked(): Promise<number> {
  const asked = await rows(
    pg,
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " +
      "AND pid <> pg_backend_pid() AND backend_type = 'client backend' " +
      "AND query LIKE 'SELECT%big_pg%'",
  );
  return Number(asked[0]?.[0]);
}

/** Polls every 200 ms until `done` holds or `ms` pass; returns the last value seen. */
async function pollUntil<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000) {
  const until = performance.now() + ms;
  let value = await read();
  while (!done(value) && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

/** Runs TRIVIAL_COUNT trivial statements, TRIVIAL_AT_ONCE at a time; returns each one's ms. */
async function trivialRound(): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < TRIVIAL_COUNT; i += TRIVIAL_AT_ONCE) {
    const batch = Array.from({ length: TRIVIAL_AT_ONCE }, async () => {
      const started = performance.now();
      const result = await sql(TRIVIAL, TRIVIAL_TIMEOUT_MS);
      latencies.push(performance.now() - started);
      expect(result.rows).toEqual([[SMALL_ROWS]]);
    });
    await Promise.all(batch);
  }
  return latencies;
}

function percentiles(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.ceil(p * sorted.length) - 1] ?? Number.NaN);
  return { p50: at(0.5), p95: at(0.95), max: at(1) };
}

/**
 * Ends the connections of big-table queries a test left running, so they weigh on no later
 * test and hold no lock DROP DATABASE would wait for; the worker's statement over them fails.
 * Connections, not just queries: a query blocked on a reader that stopped reading never sees
 * a cancel.
 */
async function endLeftovers() {
  await rows(
    pg,
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() " +
      "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle' " +
      "AND query LIKE '%big_pg%'",
  );
  const ids = await rows(
    my,
    "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() " +
      "AND ID <> CONNECTION_ID() AND COMMAND = 'Query' AND INFO LIKE '%big_my%'",
  );
  for (const [id] of ids) await run(my, `KILL ${Number(id)}`).catch(() => {});
  await pollUntil(bigQueries, (q) => q.pg.length === 0 && q.my.length === 0);
}

beforeAll(async () => {
  [nats, pgServer, mariaServer] = await Promise.all([startNatsServer(), postgres(), mariadb()]);
  const pgUrl = await pgServer.createDatabase();
  const myUrl = await mariaServer.createDatabase();
  pg = await createConnector("watch_pg", { kind: "postgres", url: pgUrl });
  my = await createConnector("watch_my", { kind: "mysql", url: myUrl });
  await run(
    pg,
    "CREATE TABLE big_pg (id integer PRIMARY KEY, k integer NOT NULL)",
    `INSERT INTO big_pg SELECT g, g % ${KEYS} FROM generate_series(1, ${BIG_ROWS}) g`,
    "CREATE TABLE small (id integer PRIMARY KEY)",
    `INSERT INTO small SELECT g FROM generate_series(1, ${SMALL_ROWS}) g`,
    "ANALYZE big_pg",
    "ANALYZE small",
  );
  await run(
    my,
    "CREATE TABLE big_my (id int PRIMARY KEY, k int NOT NULL)",
    `INSERT INTO big_my SELECT seq, seq % ${KEYS} FROM seq_1_to_${BIG_ROWS}`,
    "ANALYZE TABLE big_my",
  );
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({
      text: `nats: { servers: ["${nats.url}"] }
log: { level: warn }
runtime: { shutdownGraceMs: 2000 }
sources:
  pg: { kind: postgres, url: "${pgUrl}" }
  my: { kind: mysql, url: "${myUrl}" }
`,
      env: {},
    }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 120_000);

afterAll(async () => {
  if (pg && my) await endLeftovers();
  await nc?.close();
  await worker?.stop();
  await pg?.close();
  await my?.close();
  await nats?.stop();
  await pgServer?.stop();
  await mariaServer?.stop();
}, 60_000);

describe("sql-join while a heavy statement runs", () => {
  it("answers a hundred trivial statements, each within its own budget", async () => {
    const idle = await trivialRound();

    let settled = false;
    const started = performance.now();
    const heavy = sql(HEAVY, HEAVY_TIMEOUT_MS).finally(() => {
      settled = true;
    });
    heavy.catch(() => {});
    // Running once PostgreSQL's side of the join has been asked for: the build side was read
    // before it. Its rows may all fit in the socket's buffers, so that PostgreSQL is done with
    // them at once while the engine joins them for seconds: asked, not still running.
    const asked = await pollUntil(probeAsked, (n) => n > 0 || settled);
    expect(asked).toBeGreaterThan(0);

    const busy = await trivialRound();
    // Otherwise the trivial statements never overlapped the heavy one and proved nothing.
    expect(settled).toBe(false);
    expect((await heavy).rows).toEqual([[HEAVY_PAIRS]]);
    const heavyMs = Math.round(performance.now() - started);

    console.log(
      `heavy join: ${HEAVY_PAIRS} pairs in ${heavyMs} ms; ${TRIVIAL_COUNT} trivial statements ` +
        `(${TRIVIAL_AT_ONCE} at once), ms: idle ${JSON.stringify(percentiles(idle))}, ` +
        `during the heavy join ${JSON.stringify(percentiles(busy))}`,
    );
  }, 120_000);
});

describe("a statement ended early", () => {
  afterEach(endLeftovers);

  /** Starts SLOW and waits until both databases run their side of it. */
  async function startSlow(timeoutMs: number, signal?: AbortSignal) {
    const pending = sql(SLOW, timeoutMs, signal);
    pending.catch(() => {});
    const running = await pollUntil(bigQueries, (q) => q.pg.length > 0 && q.my.length > 0);
    // Otherwise there is nothing to see ended.
    expect(running.pg).toHaveLength(1);
    expect(running.my).toHaveLength(1);
    // Wrapped: an async function would otherwise wait for the statement itself.
    return { pending };
  }

  /** Waits (up to 10 s) for the databases to end the statement's queries; reports how long. */
  async function leftOver(how: string) {
    const started = performance.now();
    const left = await pollUntil(bigQueries, (q) => q.pg.length === 0 && q.my.length === 0);
    const ms = Math.round(performance.now() - started);
    console.log(`SLOW ${how}; ${ms} ms later still running: ${JSON.stringify(left)}`);
    return left;
  }

  it("frees both databases when its deadline passes", async () => {
    const { pending } = await startSlow(2_000);
    const err = await failure(pending);
    expect(err.code).toBe("DEADLINE_EXCEEDED");
    expect(await leftOver(`ended at its deadline (${err.message})`)).toEqual({ pg: [], my: [] });
  }, 30_000);

  it("frees both databases when its caller aborts", async () => {
    const controller = new AbortController();
    const { pending } = await startSlow(60_000, controller.signal);
    controller.abort();
    const err = await failure(pending);
    expect(err.code).toBe("CANCELLED");
    expect(await leftOver(`aborted by its caller (${err.message})`)).toEqual({ pg: [], my: [] });
  }, 30_000);
});

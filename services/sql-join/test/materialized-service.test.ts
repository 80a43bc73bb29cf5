/**
 * Materialized results through a real sql-join worker (`entente.sql` and `entente.tiers`): a
 * join across two PostgreSQL databases stored in a cold store directory. The same statement
 * written differently is answered from the stored result (its stats and EXPLAIN say so) even
 * after the sources changed; a different one is not; an expired result lets the statement run
 * normally and is refreshed in the background; `refreshMaterialized` runs it again at once; a
 * worker without `materialize.source` refuses the operations.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Connector, createConnector } from "@entente/connectors";
import {
  collectSqlResult,
  EntenteError,
  type MaterializedInfo,
  type MaterializedListReply,
  type SqlResult,
  SUBJECTS,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import {
  eventually,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";

const USERS = 40;
const ORDERS = 300;
const COUNTRIES = ["US", "DE", "FR", "JP"];

const JOIN = `SELECT u.country, count(*) AS n, sum(o.total) AS total
  FROM users u JOIN orders o ON u.id = o.user_id
  WHERE u.id <= 30
  GROUP BY u.country ORDER BY u.country`;
/** The same statement: other keyword case, whitespace, a comment and a trailing semicolon. */
const JOIN_AGAIN = `select u.country, count(*) as n, sum(o.total) as total -- per country
from users u join orders o on u.id = o.user_id where u.id <= 30
group   by u.country
order by u.country ;`;
/** Another statement: one literal differs. */
const JOIN_OTHER = JOIN.replace("u.id <= 30", "u.id <= 31");

let nats: NatsServer;
let pg: PostgresService;
let worker: Worker | undefined;
let nc: NatsConnection;
let client: EntenteClient;
/** The configuration's sources, shared by both workers. */
let sources: string;
let orders: Connector;
let dir: string;
let nextOrder = ORDERS + 1;

async function sql(statement: string, options: { explain?: boolean } = {}): Promise<SqlResult> {
  return collectSqlResult(await client.collect(SUBJECTS.sql, { sql: statement, ...options }));
}

const tiers = <T>(body: unknown) => client.request<T>(SUBJECTS.tiers, body, { timeoutMs: 60_000 });

async function failure(work: Promise<unknown>): Promise<EntenteError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

async function listed(id: string): Promise<MaterializedInfo | undefined> {
  const { materialized } = await tiers<MaterializedListReply>({ op: "materialized" });
  return materialized.find((m) => m.id === id);
}

/** An order by a user the statements count (id 1..30), so their answer changes. */
async function addOrder(): Promise<void> {
  await orders.execute({
    sql: "INSERT INTO orders VALUES ($1, 7, 10.25)",
    params: [nextOrder++],
  });
}

const planLines = (result: SqlResult) => result.rows.map((r) => String(r[0]));

beforeAll(async () => {
  [nats, pg] = await Promise.all([startNatsServer(), postgres()]);
  const usersUrl = await pg.createDatabase();
  const ordersUrl = await pg.createDatabase();
  const users = await createConnector("setup_users", { kind: "postgres", url: usersUrl });
  try {
    await users.execute({
      sql: "CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL, country text NOT NULL)",
      params: [],
    });
    await users.appendRows(
      "users",
      ["id", "name", "country"],
      Array.from({ length: USERS }, (_, i) => [
        i + 1,
        `user_${i + 1}`,
        COUNTRIES[(i + 1) % COUNTRIES.length] as string,
      ]),
    );
  } finally {
    await users.close();
  }
  orders = await createConnector("setup_orders", { kind: "postgres", url: ordersUrl });
  await orders.execute({
    sql: "CREATE TABLE orders (id integer PRIMARY KEY, user_id integer NOT NULL, total numeric(10,2) NOT NULL)",
    params: [],
  });
  await orders.execute({
    sql: `INSERT INTO orders SELECT g, (g * 7) % ${USERS} + 1, ((g * 37) % 10000) / 100.0 FROM generate_series(1, ${ORDERS}) g`,
    params: [],
  });
  dir = await mkdtemp(join(tmpdir(), "entente-materialized-service-"));
  sources = `
sources:
  users_db: { kind: postgres, url: "${usersUrl}" }
  orders_db: { kind: postgres, url: "${ordersUrl}" }
  archive: { kind: coldstore, path: "${join(dir, "cold")}" }
`;
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({
      text: `nats: { servers: ["${nats.url}"] }\nlog: { level: warn }\n${sources}\nmaterialize: { source: archive }\n`,
      env: {},
    }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await orders?.close();
  await nats?.stop();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("materialized results on a sql-join worker", () => {
  let info: MaterializedInfo;
  let truth: SqlResult;

  it("materializes a join across two databases", async () => {
    truth = await sql(JOIN);
    expect(truth.rows.length).toBe(COUNTRIES.length);
    expect(truth.stats?.materialized).toBeUndefined();
    info = await tiers<MaterializedInfo>({ op: "materialize", sql: JOIN, ttlMs: 600_000 });
    expect(info).toMatchObject({ rows: COUNTRIES.length, fresh: true });
    expect(info.id).toMatch(/^[0-9a-f]{12}$/);
    expect(info.table).toBe(`archive.main.mat_${info.id}`);
    expect(Date.parse(info.expiresAt) - Date.parse(info.createdAt)).toBe(600_000);
    expect(await listed(info.id)).toEqual(info);
  });

  it("answers the same statement, written differently, from the stored result", async () => {
    // The sources change: a statement run for real would count the new order.
    await addOrder();
    for (const text of [JOIN, JOIN_AGAIN]) {
      const answer = await sql(text);
      expect(answer.stats?.materialized, text).toBe(info.id);
      expect(answer.columns).toEqual(truth.columns);
      expect(answer.rows).toEqual(truth.rows);
      // Nothing was read from the sources.
      expect(answer.stats?.sources).toEqual({});
    }
  });

  it("says so in EXPLAIN", async () => {
    const line = `Materialized mat_${info.id} (rows ${info.rows}, created ${info.createdAt}, expires ${info.expiresAt}): answered from the stored result`;
    for (const explained of [
      await sql(JOIN_AGAIN, { explain: true }),
      await sql(`EXPLAIN ${JOIN_AGAIN}`),
    ]) {
      expect(planLines(explained)).toEqual([line]);
    }
  });

  it("runs a different statement for real", async () => {
    const other = await sql(JOIN_OTHER);
    expect(other.stats?.materialized).toBeUndefined();
    expect(Object.keys(other.stats?.sources ?? {}).sort()).toEqual(["orders_db", "users_db"]);
    const plan = planLines(await sql(JOIN_OTHER, { explain: true }));
    expect(plan.some((l) => l.startsWith("Materialized"))).toBe(false);
    // With the order added since: user 7's country counts one more than the stored answer.
    const country = COUNTRIES[7 % COUNTRIES.length];
    const stored = truth.rows.find((r) => r[0] === country);
    const now = (await sql(JOIN.replace("WHERE u.id <= 30", "WHERE u.id <= 30 AND 1 = 1"))).rows;
    expect(Number(now.find((r) => r[0] === country)?.[1])).toBe(Number(stored?.[1]) + 1);
  });

  it("refreshMaterialized runs the statement again and stores the new answer", async () => {
    const refreshed = await tiers<MaterializedInfo>({ op: "refreshMaterialized", id: info.id });
    expect(refreshed).toMatchObject({ id: info.id, table: info.table, fresh: true });
    expect(Date.parse(refreshed.createdAt)).toBeGreaterThanOrEqual(Date.parse(info.createdAt));
    expect(Date.parse(refreshed.expiresAt) - Date.parse(refreshed.createdAt)).toBe(600_000);
    const live = await sql(JOIN.replace("WHERE u.id <= 30", "WHERE u.id <= 30 AND 1 = 1"));
    expect(live.stats?.materialized).toBeUndefined();
    const answer = await sql(JOIN_AGAIN);
    expect(answer.stats?.materialized).toBe(info.id);
    expect(answer.rows).toEqual(live.rows);
    expect(answer.rows).not.toEqual(truth.rows);
    expect(await listed(info.id)).toEqual(refreshed);
  });

  it("refuses to refresh an unknown result, or to materialize what is not a SELECT", async () => {
    expect((await failure(tiers({ op: "refreshMaterialized", id: "0123456789ab" }))).code).toBe(
      "NOT_FOUND",
    );
    expect(
      (await failure(tiers({ op: "materialize", sql: `EXPLAIN ${JOIN}`, ttlMs: 60_000 }))).code,
    ).toBe("BAD_REQUEST");
    expect((await failure(tiers({ op: "materialize", sql: JOIN, ttlMs: 0 }))).code).toBe(
      "BAD_REQUEST",
    );
  });

  it("runs an expired statement normally and refreshes its result in the background", async () => {
    const STATEMENT = "SELECT count(*) AS n FROM orders o JOIN users u ON u.id = o.user_id";
    const AGAIN = "select count(*) as n from orders o join users u on u.id = o.user_id;";
    const TTL_MS = 1500;
    const first = await tiers<MaterializedInfo>({
      op: "materialize",
      sql: STATEMENT,
      ttlMs: TTL_MS,
    });
    const stored = await sql(AGAIN);
    const count = Number(stored.rows[0]?.[0]);
    // Fresh until its time to live has passed (bounded poll, no timed assertion).
    await eventually("the result to expire", async () =>
      (await listed(first.id))?.fresh === false ? true : undefined,
    );
    await addOrder();
    // Expired: the statement runs for real and sees the new order.
    const live = await sql(AGAIN);
    expect(live.stats?.materialized).toBeUndefined();
    expect(Object.keys(live.stats?.sources ?? {}).sort()).toEqual(["orders_db", "users_db"]);
    expect(Number(live.rows[0]?.[0])).toBe(count + 1);
    // ...and its result is written again meanwhile: a newer one, holding the new count.
    const again = await eventually("the background refresh", async () => {
      const now = await listed(first.id);
      return now && Date.parse(now.createdAt) > Date.parse(first.createdAt) ? now : undefined;
    });
    expect(Date.parse(again.expiresAt) - Date.parse(again.createdAt)).toBe(TTL_MS);
    const refreshed = await tiers<MaterializedInfo>({ op: "refreshMaterialized", id: first.id });
    expect(refreshed.fresh).toBe(true);
    const answer = await sql(STATEMENT);
    if (answer.stats?.materialized !== undefined) {
      expect(answer.stats.materialized).toBe(first.id);
    }
    expect(Number(answer.rows[0]?.[0])).toBe(count + 1);
  });
});

describe("materialized results on a worker without materialize.source", () => {
  // One worker per process (tracing): the first one stops, one without the section starts.
  beforeAll(async () => {
    await worker?.stop();
    worker = undefined;
    worker = await startWorker({
      services: [sqlJoinService],
      config: loadConfig({
        text: `nats: { servers: ["${nats.url}"] }\nlog: { level: warn }\n${sources}`,
        env: {},
      }),
    });
  }, 60_000);

  it("refuses every materialized operation with UNAVAILABLE naming the setting", async () => {
    for (const body of [
      { op: "materialize", sql: JOIN, ttlMs: 60_000 },
      { op: "refreshMaterialized", id: "0123456789ab" },
      { op: "materialized" },
    ]) {
      const err = await failure(tiers(body));
      expect(err.code, body.op).toBe("UNAVAILABLE");
      expect(err.message, body.op).toContain("materialize.source");
    }
  });

  it("still answers statements, never from a stored result", async () => {
    const answer = await sql(JOIN);
    expect(answer.rows.length).toBe(COUNTRIES.length);
    expect(answer.stats?.materialized).toBeUndefined();
  });
});

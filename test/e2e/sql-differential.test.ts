/**
 * Differential test of the SQL join service: the same tables spread over PostgreSQL, MariaDB and
 * DuckDB (served through `entente.sql`) and all in one PostgreSQL database (queried directly, the
 * reference) must return the same multiset of rows for every generated statement, and the same
 * sequence where the statement orders totally. Values and identifiers that try to inject SQL
 * must fail cleanly or match literally, and leave every table as it was.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareResults, describeMismatch } from "./sql/compare.ts";
import {
  type Executor,
  type PgExecutor,
  postgresExecutor,
  serviceExecutor,
} from "./sql/executors.ts";
import {
  differentialTables,
  loadDuckDb,
  loadMysql,
  loadPostgres,
  ORDER_COUNT,
  PRODUCT_COUNT,
  type TableDef,
  USER_COUNT,
} from "./sql/fixtures.ts";
import { generateQueries } from "./sql/generator.ts";

const SEED = Number(process.env.ENTENTE_SQL_DIFF_SEED ?? 4242);
const QUERY_COUNT = Number(process.env.ENTENTE_SQL_DIFF_QUERIES ?? 160);
const QUERIES = generateQueries(SEED, QUERY_COUNT);

const TABLES = differentialTables();

let nats: NatsServer;
let pgServer: PostgresService;
let mariaServer: MariaDbService;
let dir: string;
let worker: Worker;
let client: EntenteClient;
let federated: Executor;
let reference: PgExecutor;
let urls: { users: string; single: string; orders: string; duck: string };

function configYaml(natsUrl: string): string {
  const placed = (t: TableDef) =>
    t.placement === "postgres"
      ? `pg.public.${t.name}`
      : t.placement === "mysql"
        ? `my.${t.name}`
        : `duck.${t.name}`;
  return [
    `nats: { servers: ${JSON.stringify(natsUrl)} }`,
    "log: { level: warn }",
    "sources:",
    `  pg: { kind: postgres, url: ${JSON.stringify(urls.users)} }`,
    `  my: { kind: mysql, url: ${JSON.stringify(urls.orders)} }`,
    `  duck: { kind: duckdb, path: ${JSON.stringify(urls.duck)} }`,
    "tables:",
    ...TABLES.map((t) => `  ${t.name}: ${placed(t)}`),
    "",
  ].join("\n");
}

beforeAll(async () => {
  [nats, pgServer, mariaServer] = await Promise.all([
    startNatsServer({ jetstream: false }),
    postgres(),
    mariadb(),
  ]);
  dir = await mkdtemp(join(tmpdir(), "entente-sql-diff-"));
  urls = {
    users: await pgServer.createDatabase(),
    single: await pgServer.createDatabase(),
    orders: await mariaServer.createDatabase(),
    duck: join(dir, "catalog.duckdb"),
  };
  const on = (placement: TableDef["placement"]) => TABLES.filter((t) => t.placement === placement);
  await Promise.all([
    loadPostgres(urls.single, TABLES),
    loadPostgres(urls.users, on("postgres")),
    loadMysql(urls.orders, on("mysql")),
    loadDuckDb(urls.duck, on("duckdb")),
  ]);
  reference = await postgresExecutor(urls.single);
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: configYaml(nats.url), env: {} }),
  });
  client = new EntenteClient(await connect({ servers: nats.url }), { defaultTimeoutMs: 30_000 });
  federated = serviceExecutor(client, SUBJECTS.sql);
}, 120_000);

afterAll(async () => {
  await client?.nc.close();
  await worker?.stop();
  await reference?.close();
  await Promise.all([pgServer?.stop(), mariaServer?.stop(), nats?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/** Runs `sql` both ways and fails with the statement and a row diff when they differ. */
async function expectSame(sql: string, options: { ordered?: boolean; params?: unknown[] } = {}) {
  const want = await reference.run(sql, options.params);
  let got: Awaited<ReturnType<Executor>>;
  try {
    got = await federated(sql, options.params);
  } catch (error) {
    const reason =
      error instanceof EntenteError ? `${error.code}: ${error.message}` : String(error);
    const bound = options.params ? `\n  params: ${JSON.stringify(options.params)}` : "";
    throw new Error(`query: ${sql}${bound}\n  the service failed: ${reason}`);
  }
  const mismatch = compareResults(want, got, { ordered: options.ordered ?? false });
  if (mismatch) throw new Error(describeMismatch(sql, mismatch, options.params));
}

/** An error with the documented shape that is not an internal failure. */
function cleanFailure(outcome: unknown): boolean {
  return outcome instanceof EntenteError && outcome.code !== "INTERNAL";
}

describe(`generated statements (seed ${SEED})`, () => {
  it.each(QUERIES.map((q) => [`#${q.index} ${q.kind}`, q] as const))(
    "%s",
    async (_name, query) => {
      await expectSame(query.sql, {
        ordered: query.ordered,
        ...(query.params.length > 0 ? { params: query.params } : {}),
      });
    },
    30_000,
  );
});

describe("injection attempts", () => {
  const hostile = [
    "x' OR '1'='1",
    "'; DROP TABLE users; --",
    "o'brien",
    "x\\' OR 1=1 -- ",
    "paid' UNION SELECT 1, version() --",
    'alice"; DROP TABLE orders; --',
    "Robert'); DELETE FROM orders; --",
  ];

  it.each(hostile)("a bound value matches literally in every source: %s", async (value) => {
    await expectSame("SELECT u.id AS id, u.name AS name FROM users u WHERE u.name = $1", {
      params: [value],
    });
    await expectSame("SELECT o.id AS id FROM orders o WHERE o.status = $1", { params: [value] });
    await expectSame("SELECT p.id AS id FROM products p WHERE p.category = $1 OR p.name = $1", {
      params: [value],
    });
    await expectSame(
      "SELECT u.name AS name, o.total AS total FROM users u JOIN orders o ON u.id = o.user_id " +
        "WHERE u.name = $1 OR o.status = $1",
      { params: [value] },
    );
  });

  it("quotes inside string literals match literally", async () => {
    await expectSame("SELECT u.id AS id FROM users u WHERE u.name = 'o''brien'");
    await expectSame("SELECT o.id AS id FROM orders o WHERE o.status = 'paid'' OR ''1''=''1'");
    await expectSame(
      "SELECT u.id AS id, o.id AS oid FROM users u JOIN orders o ON u.id = o.user_id " +
        "WHERE u.name = 'x'' OR 1=1 --' OR o.status = '''; DROP TABLE orders; --'",
    );
  });

  it("quoted identifiers with quotes in them match literally or fail cleanly", async () => {
    for (const sql of [
      'SELECT u.name AS "we""ird", u.id AS "a;b" FROM users u WHERE u.id < 5',
      'SELECT t."x""y" AS v FROM (SELECT u.name AS "x""y" FROM users u) t',
    ]) {
      const outcome = await federated(sql).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (outcome === undefined) await expectSame(sql);
      else expect(cleanFailure(outcome), sql).toBe(true);
    }
  });

  it.each([
    'SELECT u."name; DROP TABLE users" FROM users u',
    'SELECT * FROM "users; DROP TABLE users"',
    'SELECT o.id FROM orders o WHERE o."status`; DROP TABLE orders; --" = 1',
    'SELECT p."id"" FROM products; --" FROM products p',
    "SELECT 1; DROP TABLE users",
    "DELETE FROM orders",
    "DROP TABLE users",
    "UPDATE users SET name = 'x'",
    "INSERT INTO refunds (id) VALUES (1)",
  ])("fails cleanly: %s", async (sql) => {
    const outcome = await federated(sql).then(
      (result) => `answered ${JSON.stringify(result.columns)} with ${result.rows.length} rows`,
      (error: unknown) => error,
    );
    expect(cleanFailure(outcome), String(outcome)).toBe(true);
  });

  it("leaves every table as it was and the worker serving", async () => {
    const pgClient = new pg.Client({ connectionString: urls.users });
    await pgClient.connect();
    const users = await pgClient.query("SELECT COUNT(*)::int AS n FROM users");
    await pgClient.end();
    const my = await mysql.createConnection({ uri: urls.orders });
    const [orders] = await my.query("SELECT COUNT(*) AS n FROM orders");
    const [refunds] = await my.query("SELECT COUNT(*) AS n FROM refunds");
    await my.end();
    expect(users.rows[0].n).toBe(USER_COUNT);
    expect(Number((orders as { n: number }[])[0]?.n)).toBe(ORDER_COUNT);
    expect(Number((refunds as { n: number }[])[0]?.n)).toBe(0);
    await expectSame("SELECT COUNT(*) AS n FROM products p");
    const products = await federated("SELECT COUNT(*) AS n FROM products p");
    expect(Number(products.rows[0]?.[0])).toBe(PRODUCT_COUNT);
  });
});

/**
 * Differential test of the SQL join service: every generated statement must return the same
 * multiset of rows (the same sequence where the statement orders totally) from the service as
 * from one PostgreSQL database holding every table (the reference), in each layout: the tables
 * spread over PostgreSQL, MariaDB and DuckDB; the same with pushdown off, every operator run in
 * the engine; and every table in one source of each kind, so a statement over several tables can
 * go to that source whole. Values and identifiers that try to inject SQL must fail cleanly or
 * match literally, and leave every table as it was. Reproductions of reported and found bugs run
 * in every layout too.
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
import { compareResults, describeMismatch, type SqlResult } from "./sql/compare.ts";
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
  referenceTableName,
  type SourceKind,
  USER_COUNT,
} from "./sql/fixtures.ts";
import { generateQueries, type Param, renderTables, tableRef } from "./sql/generator.ts";
import {
  LAYOUTS,
  type Layout,
  type SourceLocations,
  SPREAD,
  workerConfigYaml,
} from "./sql/layouts.ts";

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
let engineOnly: Executor;
let reference: PgExecutor;
let locations: SourceLocations;
let referenceUrl: string;

beforeAll(async () => {
  [nats, pgServer, mariaServer] = await Promise.all([
    startNatsServer({ jetstream: false }),
    postgres(),
    mariadb(),
  ]);
  dir = await mkdtemp(join(tmpdir(), "entente-sql-diff-"));
  referenceUrl = await pgServer.createDatabase();
  locations = {
    spread: {
      postgres: await pgServer.createDatabase(),
      mysql: await mariaServer.createDatabase(),
      duckdb: join(dir, "spread.duckdb"),
    },
    whole: {
      postgres: await pgServer.createDatabase(),
      mysql: await mariaServer.createDatabase(),
      duckdb: join(dir, "whole.duckdb"),
    },
  };
  const on = (placement: SourceKind) => TABLES.filter((t) => t.placement === placement);
  await Promise.all([
    loadPostgres(referenceUrl, TABLES, { referenceViews: true }),
    loadPostgres(locations.spread.postgres, on("postgres")),
    loadMysql(locations.spread.mysql, on("mysql")),
    loadDuckDb(locations.spread.duckdb, on("duckdb")),
    loadPostgres(locations.whole.postgres, TABLES),
    loadMysql(locations.whole.mysql, TABLES),
    loadDuckDb(locations.whole.duckdb, TABLES),
  ]);
  reference = await postgresExecutor(referenceUrl);
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: workerConfigYaml(nats.url, locations), env: {} }),
  });
  client = new EntenteClient(await connect({ servers: nats.url }), { defaultTimeoutMs: 30_000 });
  federated = serviceExecutor(client, SUBJECTS.sql);
  engineOnly = serviceExecutor(client, SUBJECTS.sql, { pushdown: false });
}, 120_000);

afterAll(async () => {
  await client?.nc.close();
  await worker?.stop();
  await reference?.close();
  await Promise.all([pgServer?.stop(), mariaServer?.stop(), nats?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/** `template` over the reference's tables (through their unpadded views where they have char(n)). */
const referenceSql = (template: string) => renderTables(template, referenceTableName);

/** Reference answers by statement and parameters: layouts over the same tables share them. */
const referenceAnswers = new Map<string, Promise<SqlResult>>();

function referenceResult(template: string, params?: Param[]): Promise<SqlResult> {
  const sql = referenceSql(template);
  const key = JSON.stringify([sql, params ?? []]);
  let answer = referenceAnswers.get(key);
  if (!answer) {
    answer = reference.run(sql, params);
    referenceAnswers.set(key, answer);
  }
  return answer;
}

interface Expectation {
  ordered?: boolean;
  params?: Param[];
  /** Compare column names too (the default). */
  compareNames?: boolean;
}

/** Which layout failed, and what the reference read where that is not the tables themselves. */
function failureHeading(layout: Layout, template: string): string {
  const viaViews = referenceSql(template);
  const plain = renderTables(template, (table) => table);
  return `layout: ${layout.name}${viaViews === plain ? "" : `\nreference: ${viaViews}`}`;
}

/**
 * Runs `template` through the service in `layout` and in the reference, and fails with the
 * layout, the statement, its parameters and a row diff when they differ.
 */
async function expectSame(layout: Layout, template: string, options: Expectation = {}) {
  const sql = renderTables(template, (table) => layout.tableName(table));
  const want = await referenceResult(template, options.params);
  const run = layout.pushdown ? federated : engineOnly;
  let got: SqlResult;
  try {
    got = await run(sql, options.params);
  } catch (error) {
    const reason =
      error instanceof EntenteError ? `${error.code}: ${error.message}` : String(error);
    const bound = options.params ? `\n  params: ${JSON.stringify(options.params)}` : "";
    throw new Error(
      `${failureHeading(layout, template)}\nquery: ${sql}${bound}\n  the service failed: ${reason}`,
    );
  }
  const mismatch = compareResults(want, got, {
    ordered: options.ordered ?? false,
    compareNames: options.compareNames ?? true,
  });
  if (mismatch) {
    const diff = describeMismatch(sql, mismatch, options.params);
    throw new Error(`${failureHeading(layout, template)}\n${diff}`);
  }
}

/** An error with the documented shape that is not an internal failure. */
function cleanFailure(outcome: unknown): boolean {
  return outcome instanceof EntenteError && outcome.code !== "INTERNAL";
}

describe.each(LAYOUTS)(`generated statements (seed ${SEED}), layout $name`, (layout) => {
  it.each(QUERIES.map((q) => [`#${q.index} ${q.kind}`, q] as const))(
    "%s",
    async (_name, query) => {
      await expectSame(layout, query.template, {
        ordered: query.ordered,
        ...(query.params.length > 0 ? { params: query.params } : {}),
      });
    },
    30_000,
  );
});

describe.each(LAYOUTS.filter((layout) => layout.whole))("whole-source layout $name", (layout) => {
  it("sends a statement over several tables to its source whole", async () => {
    const t = (table: string) => layout.tableName(table);
    const plan = await federated(
      `EXPLAIN SELECT u.id AS id, o.id AS oid FROM ${t("users")} u JOIN ${t("orders")} o ON u.id = o.user_id WHERE o.qty > 2`,
    );
    expect(plan.rows.map((row) => row[0]).join("\n")).toContain("the whole statement");
  });
});

describe.each(LAYOUTS)("reproductions, layout $name", (layout) => {
  const t = tableRef;

  it("MariaDB positional parameters: a literal in the SELECT list before the WHERE clause's", async () => {
    const sql = `SELECT e3+491, a7 FROM ${t("t3")}, ${t("t7")} WHERE a3 IN (637,591,710,644) AND e7=280`;
    expect((await referenceResult(sql)).rows).toHaveLength(4);
    await expectSame(layout, sql, { compareNames: false });
  });

  it("MariaDB positional parameters: literals on either side of the comparison", async () => {
    const sql = `SELECT e9, a5+37 FROM ${t("t9")}, ${t("t5")} WHERE (e9=19 OR 845=e9 OR 278=e9) AND c5=585`;
    expect((await referenceResult(sql)).rows).toHaveLength(6);
    await expectSame(layout, sql, { compareNames: false });
  });

  it("char(n) padding: a filter on a char(25) column in a join across sources", async () => {
    const sql = `SELECT count(*) FROM ${t("nation")} n JOIN ${t("orders")} o ON o.qty = n.n_regionkey WHERE n.n_name = 'FRANCE'`;
    expect(Number((await referenceResult(sql)).rows[0]?.[0])).toBeGreaterThan(0);
    await expectSame(layout, sql, { compareNames: false });
  });

  it("char(n) = varchar(n): the unpadded char value meets the varchar as it is", async () => {
    const sql = `SELECT count(*) FROM ${t("nation")} n JOIN ${t("countries")} c ON c.nation = n.n_name WHERE n.n_name = 'FRANCE'`;
    // countries holds 'FRANCE' and 'FRANCE ': only the first is the char value 'FRANCE'.
    expect((await referenceResult(sql)).rows).toEqual([[1n]]);
    await expectSame(layout, sql, { compareNames: false });
  });

  it("char(n) padding: length() ignores the padding", async () => {
    const sql = `SELECT length(n_name) FROM ${t("nation")} WHERE n_name = 'FRANCE'`;
    expect((await referenceResult(sql)).rows).toEqual([[6]]);
    await expectSame(layout, sql, { compareNames: false });
  });

  it("char(n) UNION ALL varchar: each branch keeps its own values", async () => {
    // countries.nation holds 'FRANCE ', which keeps its blank.
    await expectSame(
      layout,
      `SELECT n.n_name AS v FROM ${t("nation")} n UNION ALL SELECT c.nation AS v FROM ${t("countries")} c`,
    );
  });

  it("literals in the SELECT list keep their types in a statement sent whole", async () => {
    await expectSame(
      layout,
      `SELECT u.id AS id, 569 AS n, 1 + 0 AS one, CAST($1 AS integer) AS p FROM ${t("users")} u ` +
        `JOIN ${t("countries")} c ON u.country = c.code`,
      { params: [7] },
    );
  });
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
    await expectSame(SPREAD, "SELECT u.id AS id, u.name AS name FROM users u WHERE u.name = $1", {
      params: [value],
    });
    await expectSame(SPREAD, "SELECT o.id AS id FROM orders o WHERE o.status = $1", {
      params: [value],
    });
    const product = "SELECT p.id AS id FROM products p WHERE p.category = $1 OR p.name = $1";
    await expectSame(SPREAD, product, { params: [value] });
    await expectSame(
      SPREAD,
      "SELECT u.name AS name, o.total AS total FROM users u JOIN orders o ON u.id = o.user_id " +
        "WHERE u.name = $1 OR o.status = $1",
      { params: [value] },
    );
  });

  it("quotes inside string literals match literally", async () => {
    await expectSame(SPREAD, "SELECT u.id AS id FROM users u WHERE u.name = 'o''brien'");
    await expectSame(
      SPREAD,
      "SELECT o.id AS id FROM orders o WHERE o.status = 'paid'' OR ''1''=''1'",
    );
    await expectSame(
      SPREAD,
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
      if (outcome === undefined) await expectSame(SPREAD, sql);
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
    const pgClient = new pg.Client({ connectionString: locations.spread.postgres });
    await pgClient.connect();
    const users = await pgClient.query("SELECT COUNT(*)::int AS n FROM users");
    await pgClient.end();
    const my = await mysql.createConnection({ uri: locations.spread.mysql });
    const [orders] = await my.query("SELECT COUNT(*) AS n FROM orders");
    const [refunds] = await my.query("SELECT COUNT(*) AS n FROM refunds");
    await my.end();
    expect(users.rows[0].n).toBe(USER_COUNT);
    expect(Number((orders as { n: number }[])[0]?.n)).toBe(ORDER_COUNT);
    expect(Number((refunds as { n: number }[])[0]?.n)).toBe(0);
    await expectSame(SPREAD, "SELECT COUNT(*) AS n FROM products p");
    const products = await federated("SELECT COUNT(*) AS n FROM products p");
    expect(Number(products.rows[0]?.[0])).toBe(PRODUCT_COUNT);
  });
});

import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  canPush,
  type Expr,
  explainPlan,
  type JoinNode,
  keyFilters,
  type PlanNode,
  parseSql,
  planSql,
  renderKeyFiltered,
  renderKeysPresent,
  renderScan,
  type ScanNode,
  type SourceInfo,
  StaticCatalog,
} from "../src/index.ts";
import { capabilities, mysqlDialect, pgDialect } from "./helpers.ts";

const pgSource: SourceInfo = {
  name: "pg",
  dialect: pgDialect,
  capabilities: capabilities({ textComparison: "case-sensitive-locale" }),
};
const mySource: SourceInfo = {
  name: "my",
  dialect: mysqlDialect,
  capabilities: capabilities({
    textComparison: "case-insensitive",
    like: false,
    orderByNullsOrdering: false,
  }),
};
const duckSource: SourceInfo = {
  name: "duck",
  dialect: { ...pgDialect, kind: "duckdb" },
  capabilities: capabilities(),
};

const catalog = new StaticCatalog(
  [
    {
      source: "pg",
      schema: "public",
      name: "users",
      columns: [
        { name: "id", type: "integer" },
        { name: "name", type: "text" },
        { name: "country", type: "text" },
        { name: 'we"ird', type: "integer" },
      ],
      rowCount: 200_000,
      distinct: { country: 20 },
    },
    {
      source: "my",
      schema: "shop",
      name: "orders",
      columns: [
        { name: "id", type: "integer" },
        { name: "user_id", type: "integer" },
        { name: "total", type: "decimal" },
        { name: "note", type: "text" },
        { name: "created_at", type: "timestamp" },
      ],
      rowCount: 2_000_000,
    },
    {
      source: "pg",
      schema: "public",
      name: "nation",
      columns: [
        { name: "n_key", type: "integer" },
        { name: "n_name", type: "text", blankPadded: true },
      ],
      rowCount: 25,
    },
    {
      source: "pg",
      schema: "public",
      name: "tokens",
      columns: [
        { name: "id", type: "integer" },
        { name: "u", type: "text", textCompare: "uuid" },
        { name: "v", type: "text", textCompare: "uuid" },
        { name: "t", type: "text" },
      ],
      rowCount: 1000,
    },
    {
      source: "duck",
      schema: "main",
      name: "readings",
      columns: [
        { name: "id", type: "bigint" },
        { name: "f", type: "double", singlePrecision: true },
      ],
      rowCount: 10,
    },
    {
      source: "duck",
      schema: "main",
      name: "events",
      columns: [
        { name: "kind", type: "text" },
        { name: "n", type: "bigint" },
      ],
      rowCount: 10,
    },
  ],
  [pgSource, mySource, duckSource],
  { people: "pg.public.users" },
);

function error(f: () => unknown): EntenteError {
  try {
    f();
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected an error");
}

describe("parsing", () => {
  it("reports syntax errors with line and column", () => {
    const e = error(() => parseSql("SELECT id\nFROM users\nWHERE id = = 1"));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message).toMatch(/^syntax error at line 3, column 12/);
    expect(e.details).toEqual({ line: 3, column: 12 });
  });

  it("keeps positions after EXPLAIN", () => {
    const e = error(() => parseSql("EXPLAIN SELECT FROM"));
    expect(e.message).toContain("line 1, column");
    expect(parseSql("explain SELECT 1").explain).toBe(true);
  });

  it("refuses statements other than SELECT, writes and transaction control", () => {
    for (const sql of ["CREATE TABLE t (a int)", "TRUNCATE users", "SELECT 1; DROP TABLE users"]) {
      const e = error(() => parseSql(sql));
      expect(e.code).toBe("BAD_REQUEST");
    }
    expect(error(() => parseSql("DROP TABLE users")).message).toContain("read-only");
  });

  it("refuses SELECT INTO, locking reads and writes hidden in a CTE or subquery", () => {
    for (const sql of [
      "SELECT * INTO copy FROM users",
      "SELECT id FROM users UNION ALL SELECT id INTO copy FROM users",
      "SELECT id FROM users FOR UPDATE",
      "SELECT id FROM users FOR SHARE",
      "WITH d AS (DELETE FROM users RETURNING id) SELECT id FROM d",
      "SELECT id FROM (UPDATE users SET id = 1 RETURNING id) x",
      "SELECT 1;DROP TABLE users",
    ]) {
      expect(error(() => parseSql(sql)).code, sql).toBe("BAD_REQUEST");
    }
    expect(error(() => parseSql("SELECT * INTO copy FROM users")).message).toContain("read-only");
    expect(parseSql("SELECT id FROM users;").ast.type).toBe("select");
  });
});

describe("binding", () => {
  it("reads the table when a CTE names it in its own body", () => {
    const { plan } = planSql(
      "WITH users AS (SELECT id FROM users WHERE id > 5) SELECT count(*) FROM users",
      catalog,
    );
    expect(explainPlan(plan, catalog).sources.map((s) => s.source)).toEqual(["pg"]);
  });

  it("names the nearest table and column", () => {
    expect(error(() => planSql("SELECT id FROM usres", catalog)).message).toBe(
      'unknown table "usres" (did you mean "users"?)',
    );
    expect(error(() => planSql("SELECT id FROM pg.public.user", catalog)).message).toContain(
      'did you mean "pg.public.users"',
    );
    const col = error(() => planSql("SELECT u.nmae FROM users u", catalog));
    expect(col.code).toBe("NOT_FOUND");
    expect(col.message).toBe('unknown column "u.nmae" (did you mean "name"?)');
  });

  it("addresses tables as source.schema.table, source.table, aliases and unique names", () => {
    for (const t of ["pg.public.users", "pg.users", "people", "users", "PG.PUBLIC.USERS"]) {
      expect(planSql(`SELECT id FROM ${t}`, catalog).plan.columns).toEqual([
        { name: "id", type: "integer" },
      ]);
    }
  });

  it("rejects ambiguous columns, type mismatches and ungrouped columns", () => {
    expect(
      error(() => planSql("SELECT id FROM users u JOIN orders o ON u.id = o.user_id", catalog))
        .message,
    ).toContain("ambiguous");
    expect(error(() => planSql("SELECT id FROM users WHERE name = 3", catalog)).message).toContain(
      "type mismatch",
    );
    expect(
      error(() => planSql("SELECT id FROM users WHERE name + 1 > 2", catalog)).message,
    ).toContain("type mismatch");
    expect(error(() => planSql("SELECT name, count(*) FROM users", catalog)).message).toContain(
      "GROUP BY",
    );
    expect(
      error(() => planSql("SELECT id FROM users WHERE count(*) > 1", catalog)).message,
    ).toContain("aggregate");
    expect(
      error(() => planSql("SELECT id FROM users WHERE id = $2", catalog, [1])).message,
    ).toContain("$2");
  });
});

describe("pushdown", () => {
  const scanOf = (sql: string, params: unknown[] = []) => {
    const { plan } = planSql(sql, catalog, params);
    const find = (n: PlanNode): ScanNode => {
      if (n.kind === "scan") return n;
      if ("input" in n) return find(n.input);
      throw new Error(`no single scan under ${n.kind}`);
    };
    return find(plan.root);
  };

  it("pushes text equality to PostgreSQL's locale collation but not ordering", () => {
    const eq = scanOf("SELECT id FROM users WHERE country = 'US'");
    expect(eq.pushed).toHaveLength(1);
    const lt = scanOf("SELECT id FROM users WHERE country < 'US'");
    expect(lt.pushed).toHaveLength(0);
    expect(lt.local).toHaveLength(1);
  });

  it("keeps text predicates away from case-insensitive MySQL, but pushes numbers", () => {
    const s = scanOf("SELECT id FROM orders WHERE note = 'x' AND total > 10 AND user_id IN (1, 2)");
    expect(s.pushed).toHaveLength(2);
    expect(s.local).toHaveLength(1);
    const st = renderScan(s, mySource);
    expect(st.sql).toBe(
      "SELECT `id`, `note` FROM `shop`.`orders` WHERE (`total` > ?) AND (`user_id` IN (?, ?))",
    );
    expect(st.params).toEqual([10, 1, 2]);
  });

  it("pushes text ordering and LIKE to binary DuckDB", () => {
    const s = scanOf("SELECT n FROM events WHERE kind < 'm' AND kind LIKE 'a%'");
    expect(s.pushed).toHaveLength(2);
    expect(canPush(s.pushed[0] as Expr, mySource)).toBe(false);
  });

  it("pushes substring with constant positions from the first character, not before it", () => {
    const from1 = scanOf("SELECT id FROM users WHERE substring(name FROM 1 FOR 2) IN ('ab', 'cd')");
    expect(from1.pushed).toHaveLength(1);
    expect(renderScan(from1, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."users" WHERE (SUBSTRING(CAST("name" AS TEXT), CAST($1 AS INTEGER), CAST($2 AS INTEGER)) IN (CAST($3 AS TEXT), CAST($4 AS TEXT)))',
    );
    expect(scanOf("SELECT id FROM users WHERE substring(name FROM 2) = 'b'").pushed).toHaveLength(
      1,
    );
    expect(
      scanOf("SELECT id FROM users WHERE substring(name FROM 0 FOR 2) = 'a'").local,
    ).toHaveLength(1);
    expect(
      scanOf("SELECT id FROM users WHERE substring(name FROM id FOR 2) = 'a'").local,
    ).toHaveLength(1);
    const anyText = { ...mySource, capabilities: capabilities() };
    expect(canPush(from1.pushed[0] as Expr, anyText)).toBe(false);
  });

  it("sends CASE to sources, rendered with its parameters typed", () => {
    const s = scanOf("SELECT id FROM users WHERE CASE WHEN id > 5 THEN 1 ELSE 0 END = 1");
    expect(s.pushed).toHaveLength(1);
    expect(renderScan(s, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."users" WHERE ((CASE WHEN ("id" > $1) THEN CAST($2 AS INTEGER) ELSE CAST($3 AS INTEGER) END) = CAST($4 AS INTEGER))',
    );
    const operand = scanOf("SELECT id FROM users WHERE CASE country WHEN 'US' THEN 1 END = 1");
    expect(renderScan(operand, pgSource).sql).toContain(
      '(CASE "country" WHEN $1 THEN CAST($2 AS INTEGER) END)',
    );
    const { plan } = planSql(
      "SELECT country, sum(CASE WHEN id > 5 THEN 1 ELSE 0 END) FROM users GROUP BY country",
      catalog,
    );
    expect(explainPlan(plan, catalog).sources.map((x) => x.sql)).toEqual([
      'SELECT "country", SUM((CASE WHEN ("id" > $1) THEN CAST($2 AS INTEGER) ELSE CAST($3 AS INTEGER) END)) FROM "public"."users" GROUP BY "country"',
    ]);
  });

  it("keeps a CASE from a source where the source could answer it differently", () => {
    const kept = [
      // PostgreSQL folds 1 / 0 while planning, though no row takes that branch.
      "SELECT id FROM users WHERE CASE WHEN id > 0 THEN 1 ELSE 1 / 0 END = 1",
      // Branches of different types are unified differently by each database.
      "SELECT id FROM users WHERE CASE WHEN id > 5 THEN 1 ELSE 0.5 END > 0",
      // MySQL's booleans are integers.
      "SELECT id FROM users WHERE CASE WHEN id > 5 THEN id = 7 ELSE false END",
    ];
    for (const sql of kept) expect(scanOf(sql).pushed, sql).toHaveLength(0);
    // MySQL compares text without regard to case, and gives a decimal CASE one scale.
    for (const sql of [
      "SELECT id FROM orders WHERE CASE note WHEN 'x' THEN 1 ELSE 0 END = 1",
      "SELECT id FROM orders WHERE CASE WHEN user_id > 1 THEN total END > 10",
    ])
      expect(scanOf(sql).pushed, sql).toHaveLength(0);
    expect(
      scanOf("SELECT id FROM orders WHERE CASE WHEN user_id > 1 THEN id ELSE 0 END > 10").pushed,
    ).toHaveLength(1);
  });

  it("keeps an aggregate over no groups that computes nothing in the engine: one row", () => {
    const { plan } = planSql("SELECT 1 FROM users HAVING true", catalog);
    const kinds = (n: PlanNode): string[] => [n.kind, ...("input" in n ? kinds(n.input) : [])];
    expect(kinds(plan.root)).toEqual(["project", "filter", "aggregate", "scan"]);
  });

  it("does not push integer division except to PostgreSQL", () => {
    expect(scanOf("SELECT id FROM orders WHERE user_id / 2 = 3").pushed).toHaveLength(0);
    expect(scanOf("SELECT name FROM users WHERE id / 2 = 3").pushed).toHaveLength(1);
  });

  it("binds values as parameters and quotes identifiers", () => {
    const s = scanOf(`SELECT "we""ird" FROM users WHERE name = $1`, ["x'); DROP TABLE users; --"]);
    const st = renderScan(s, pgSource);
    expect(st.sql).toBe('SELECT "we""ird" FROM "public"."users" WHERE ("name" = $1)');
    expect(st.params).toEqual(["x'); DROP TABLE users; --"]);
    const lit = renderScan(scanOf("SELECT id FROM users WHERE name = 'O''Brien; --'"), pgSource);
    expect(lit.sql).not.toContain("Brien");
    expect(lit.params).toEqual(["O'Brien; --"]);
  });

  it("sends timestamps as UTC text", () => {
    const s = scanOf("SELECT id FROM orders WHERE created_at >= '2024-03-01T10:00:00+02:00'");
    const st = renderScan(s, mySource);
    expect(st.params).toEqual(["2024-03-01 08:00:00.000000"]);
  });

  it("aggregates in the source when one table answers the whole query", () => {
    const { plan } = planSql(
      "SELECT country, count(*), max(id) FROM users WHERE id > 5 GROUP BY country",
      catalog,
    );
    const explained = explainPlan(plan, catalog);
    expect(explained.sources).toEqual([
      {
        source: "pg",
        sql: 'SELECT "country", COUNT(*), MAX("id") FROM "public"."users" WHERE ("id" > $1) GROUP BY "country"',
        params: [5],
        // What the predicates allow, for sources that skip files before reading them.
        scan: { table: ["public", "users"], bounds: { id: { lo: { v: 5, inclusive: false } } } },
      },
    ]);
  });

  it("sends grouping sets and GROUPING() to PostgreSQL, and keeps them from MySQL", () => {
    const { plan } = planSql(
      "SELECT country, name, count(*), grouping(country, name) FROM users GROUP BY ROLLUP (country, name)",
      catalog,
    );
    expect(explainPlan(plan, catalog).sources.map((s) => s.sql)).toEqual([
      'SELECT "country", "name", COUNT(*), GROUPING("country", "name") FROM "public"."users" GROUP BY GROUPING SETS (("country", "name"), ("country"), ())',
    ]);
    // A constant key stays here: PostgreSQL refuses a bare constant in GROUP BY.
    const { plan: constant } = planSql(
      "SELECT country, count(*) FROM users GROUP BY ROLLUP (country, CAST(NULL AS int))",
      catalog,
    );
    expect(explainPlan(constant, catalog).sources.map((s) => s.sql)).toEqual([
      'SELECT "country" FROM "public"."users"',
    ]);
    const { plan: onMysql } = planSql(
      "SELECT note, count(*) FROM orders GROUP BY GROUPING SETS ((note), ())",
      catalog,
    );
    expect(explainPlan(onMysql, catalog).sources.map((s) => s.sql)).toEqual([
      "SELECT `note` FROM `shop`.`orders`",
    ]);
  });

  it("binds MySQL's positional parameters in the order their placeholders appear", () => {
    const { plan } = planSql(
      "SELECT o.user_id + 491, p.id FROM orders o, orders p " +
        "WHERE o.user_id IN (637, 591, 710) AND p.id = 280 AND o.total > $1",
      catalog,
      [7],
    );
    const [sent] = explainPlan(plan, catalog).sources;
    expect(sent?.source).toBe("my");
    const sql = sent?.sql ?? "";
    // Text order: the SELECT list's 491 comes before the filters' values.
    expect(sent?.params).toEqual([491, 637, 591, 710, 7, 280]);
    expect(sql.split("?")).toHaveLength(7);
    expect(sql.indexOf("+ ?")).toBeLessThan(sql.indexOf("IN (?"));
  });

  it("compares a char(n) column as text, as the engine does with its unpadded values", () => {
    const s = scanOf("SELECT n_key FROM nation WHERE n_name LIKE '%E' AND n_name <> 'x '");
    expect(renderScan(s, pgSource).sql).toBe(
      'SELECT "n_key" FROM "public"."nation" WHERE (CAST("n_name" AS TEXT) LIKE $1) AND (CAST("n_name" AS TEXT) <> $2)',
    );
  });

  it("compares a char(n) column as stored with text that ends in no blank, for its statistics", () => {
    const s = scanOf(
      "SELECT n_key FROM nation WHERE n_name = 'FRANCE' AND n_name IN ('A', 'B') AND n_name <> ''",
    );
    expect(renderScan(s, pgSource).sql).toBe(
      'SELECT "n_key" FROM "public"."nation" WHERE ("n_name" = $1) AND ("n_name" IN ($2, $3)) AND ("n_name" <> $4)',
    );
    // A blank at the end, or a list holding one, keeps the cast: char(n) would ignore it.
    const blank = scanOf("SELECT n_key FROM nation WHERE n_name IN ('A', 'B ') AND n_name = 'C '");
    expect(renderScan(blank, pgSource).sql).toBe(
      'SELECT "n_key" FROM "public"."nation" WHERE (CAST("n_name" AS TEXT) IN ($1, $2)) AND (CAST("n_name" AS TEXT) = $3)',
    );
  });

  it("compares a uuid column as stored only with canonical uuid text, as its text otherwise", () => {
    const uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    const stored = scanOf(`SELECT id FROM tokens WHERE u = '${uuid}' AND v IN ('${uuid}')`);
    expect(renderScan(stored, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."tokens" WHERE ("u" = $1) AND ("v" IN ($2))',
    );
    // PostgreSQL would read the upper case as the same uuid, refuse 'xyz', find no uuid LIKE,
    // and no uuid = text.
    const text = scanOf(
      `SELECT id FROM tokens WHERE u = '${uuid.toUpperCase()}' AND v IN ('${uuid}', 'xyz') AND u LIKE 'a0%' AND v = t`,
    );
    expect(renderScan(text, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."tokens" WHERE (CAST("u" AS TEXT) = $1) AND (CAST("v" AS TEXT) IN ($2, $3)) AND (CAST("u" AS TEXT) LIKE $4) AND (CAST("v" AS TEXT) = "t")',
    );
    // A NULL test answers alike on any type.
    const tested = scanOf("SELECT id FROM tokens WHERE u IS NOT NULL");
    expect(renderScan(tested, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."tokens" WHERE ("u" IS NOT NULL)',
    );
    // A join's keys: as stored while every key is a canonical uuid.
    const keyed = scanOf("SELECT id FROM tokens");
    const filtered = (values: string[]) =>
      renderScan(keyed, pgSource, { column: 1, values }).sql.split(" WHERE ")[1];
    expect(filtered([uuid])).toBe('"u" IN ($1)');
    expect(filtered([uuid, `{${uuid}}`])).toBe('CAST("u" AS TEXT) IN ($1, $2)');
    const statement = { sql: 'SELECT "u" AS "c1" FROM "public"."tokens"', params: [] };
    const narrowed = (values: string[], source: SourceInfo) =>
      renderKeyFiltered(statement, "c1", "text", { column: 0, values }, source).sql.split(
        " WHERE ",
      )[1];
    expect(narrowed([uuid], pgSource)).toBe('"k"."c1" IN ($1)');
    expect(narrowed(["xyz"], pgSource)).toBe('CAST("k"."c1" AS TEXT) IN ($1)');
    expect(narrowed(["xyz"], mySource)).toBe("`k`.`c1` IN (?)");
  });

  it("joins uuid columns within a source as uuids, and a uuid with text as text", () => {
    const { plan } = planSql(
      "SELECT a.id, b.t FROM tokens a JOIN tokens b ON a.u = b.v JOIN tokens c ON c.t = b.u",
      catalog,
    );
    const [sent, ...more] = explainPlan(plan, catalog).sources;
    expect(more).toEqual([]);
    expect(sent?.sql).toMatch(/ON "t\d+"\."c1" = "t\d+"\."c2"/);
    expect(sent?.sql).toMatch(/ON "t\d+"\."c3" = CAST\("t\d+"\."c5" AS TEXT\)/);
  });

  it("sends DuckDB a 32-bit float only where it answers alike as stored", () => {
    const sent = (sql: string) =>
      explainPlan(planSql(sql, catalog).plan, catalog).sources.map((s) => s.sql);
    // Passed on, grouped and tested for NULL in a statement sent whole.
    expect(
      sent(
        "SELECT r.f, count(*) FROM readings r JOIN events e ON e.n = r.id WHERE r.f IS NOT NULL GROUP BY r.f",
      ),
    ).toHaveLength(1);
    // Computed with: kept here, and the join is not sent whole.
    const computed = sent(
      "SELECT r.id FROM readings r JOIN events e ON e.n = r.id WHERE r.f = 0.1",
    );
    expect(computed).toHaveLength(2);
    expect(computed.join(" ")).not.toContain('"f" =');
    expect(scanOf("SELECT id FROM readings WHERE f * 2 > 1").local).toHaveLength(1);
  });

  it("casts a parameter with no column beside it, so PostgreSQL need not guess its type", () => {
    const { plan } = planSql(
      "SELECT u.id, 569 AS e, 1 + 0 AS side FROM users u JOIN users v ON u.id = v.id WHERE u.id > 5",
      catalog,
    );
    const [sent] = explainPlan(plan, catalog).sources;
    expect(sent?.sql).toContain("CAST($1 AS INTEGER) AS");
    expect(sent?.sql).toContain("(CAST($2 AS INTEGER) + CAST($3 AS INTEGER))");
    // Beside a column the parameter takes the column's type.
    expect(sent?.sql).toContain("> $4)");
    expect(sent?.params).toEqual([569, 1, 0, 5]);
  });

  it("groups by position where a group expression holds a parameter", () => {
    const { plan } = planSql(
      "SELECT o.user_id + 1, count(*) FROM orders o JOIN orders p ON o.id = p.user_id GROUP BY o.user_id + 1",
      catalog,
    );
    const [sent] = explainPlan(plan, catalog).sources;
    expect(sent?.sql).toContain("GROUP BY 1)");
    expect(sent?.params).toEqual([1]);
  });

  it("keeps AVG away from MySQL, whose AVG keeps four decimal places", () => {
    const sent = (sql: string) =>
      explainPlan(planSql(sql, catalog).plan, catalog).sources.map((s) => s.sql);
    expect(sent("SELECT avg(user_id) FROM orders")).toEqual([
      "SELECT `user_id` FROM `shop`.`orders`",
    ]);
    expect(sent("SELECT sum(user_id) FROM orders")).toEqual([
      "SELECT SUM(`user_id`) FROM `shop`.`orders`",
    ]);
    const joined = sent("SELECT avg(a.user_id) FROM orders a JOIN orders b ON a.id = b.user_id");
    expect(joined.some((s) => s.includes("AVG"))).toBe(false);
  });

  it("sends LIKE to DuckDB with the backslash escape PostgreSQL uses by default", () => {
    const s = scanOf(String.raw`SELECT n FROM events WHERE kind LIKE 'a\_%'`);
    expect(renderScan(s, duckSource).sql).toContain(String.raw`LIKE $1 ESCAPE '\')`);
    expect(renderScan(s, pgSource).sql).not.toContain("ESCAPE");
  });

  it("pushes top-N only where NULL ordering matches", () => {
    const pg = scanOf("SELECT id FROM users ORDER BY id DESC LIMIT 5");
    expect(renderScan(pg, pgSource).sql).toBe(
      'SELECT "id" FROM "public"."users" ORDER BY "id" DESC NULLS FIRST LIMIT 5',
    );
    const my = scanOf("SELECT id FROM orders ORDER BY id LIMIT 5");
    expect(renderScan(my, mySource).sql).toBe("SELECT `id` FROM `shop`.`orders`");
  });

  it("builds the smaller side and filters the larger one by its keys", () => {
    const { plan } = planSql(
      "SELECT u.name, o.total FROM users u JOIN orders o ON u.id = o.user_id WHERE u.country = 'US'",
      catalog,
    );
    const root = plan.root as Extract<PlanNode, { kind: "project" }>;
    const join = root.input as JoinNode;
    expect(join.kind).toBe("join");
    expect(join.build).toBe("left");
    expect(join.dynamicFilter).toEqual({ keyIndex: 0, column: 1 });
    const text = explainPlan(plan, catalog).plan;
    expect(text).toContain("dynamic filter: user_id IN");
  });
});

describe("dynamic filters", () => {
  const limits = { dynamicFilterMaxKeys: 3, inListChunk: 2 };

  it("leaves out keys an integer column cannot hold", () => {
    const f = keyFilters(1, "integer", [5n, 2n ** 40n, 2.5, 7, -(2n ** 31n)], pgSource, limits, 0);
    expect(f).toEqual([
      { column: 1, values: [-(2n ** 31n), 5n] },
      { column: 1, values: [7] },
    ]);
    expect(keyFilters(1, "integer", [2.5, 2n ** 40n], pgSource, limits, 0)).toEqual([]);
  });

  it("sends a range only where the source orders text as the engine does", () => {
    const keys = ["d", "b", "a", "c"];
    expect(keyFilters(0, "text", keys, duckSource, limits, 0)).toEqual([
      { column: 0, lo: "a", hi: "d" },
    ]);
    expect(keyFilters(0, "text", keys, pgSource, limits, 0)).toEqual([
      { column: 0, values: ["a", "b"] },
      { column: 0, values: ["c", "d"] },
    ]);
    expect(keyFilters(0, "bigint", [9n, 1, 4n, 2], pgSource, limits, 0)).toEqual([
      { column: 0, lo: 1, hi: 9n },
    ]);
  });

  it("asks PostgreSQL which keys a statement's rows hold with one array of them, each once", () => {
    const rows = { sql: 'SELECT "x" AS "c0" FROM "t" WHERE "y" = $1', params: [7] };
    const asked = renderKeysPresent(rows, "c0", "integer", [5n, 2.5, 3, 5, 2n ** 40n], pgDialect);
    expect(asked).toEqual({
      sql: 'SELECT "k"."c0" AS "c0" FROM unnest(CAST($2 AS integer[])) AS "k"("c0") WHERE EXISTS (SELECT 1 FROM (SELECT "x" AS "c0" FROM "t" WHERE "y" = $1) "t" WHERE "t"."c0" = "k"."c0")',
      params: [7, "{3,5}"],
    });
    const text = renderKeysPresent(rows, "c0", "text", ['a"b', "c\\d", "NULL", "x,y"], pgDialect);
    expect(text?.params[1]).toBe('{"NULL","a\\"b","c\\\\d","x,y"}');
    expect(renderKeysPresent(rows, "c0", "integer", [2.5], pgDialect)).toBeUndefined();
    expect(renderKeysPresent(rows, "c0", "integer", [1], mysqlDialect)).toBeUndefined();
  });

  it("sends a statement run once per filter more than one list's keys as one array or a range", () => {
    const keys = [3, 1, 2];
    expect(keyFilters(0, "integer", keys, pgSource, limits, 0, true)).toEqual([
      { column: 0, array: [1, 2, 3] },
    ]);
    expect(keyFilters(0, "integer", [...keys, 4], pgSource, limits, 0, true)).toEqual([
      { column: 0, lo: 1, hi: 4 },
    ]);
    expect(keyFilters(0, "integer", keys, duckSource, limits, 0, true)).toEqual([
      { column: 0, lo: 1, hi: 3 },
    ]);
    expect(keyFilters(0, "integer", [2, 1], pgSource, limits, 0, true)).toEqual([
      { column: 0, values: [1, 2] },
    ]);
  });

  it("keeps IN lists within the source's parameter limit", () => {
    const small = { ...pgSource, capabilities: { ...pgSource.capabilities, maxParams: 3 } };
    const f = keyFilters(0, "integer", [1, 2, 3], small, { ...limits, inListChunk: 10 }, 2);
    expect(f.map((x) => ("values" in x ? x.values.length : 0))).toEqual([1, 1, 1]);
  });
});

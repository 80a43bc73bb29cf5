/**
 * Every construct the engine refuses answers UNSUPPORTED with a message naming it; NOT_FOUND and
 * BAD_REQUEST stay for names that do not exist and statements that are wrong.
 */
import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { planSql, type SourceInfo } from "../src/index.ts";
import {
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  runSql,
} from "./helpers.ts";

const sources: SourceInfo[] = [{ name: "s", dialect: pgDialect, capabilities: NOTHING_PUSHED }];

const tables: MemoryTable[] = [
  {
    source: "s",
    name: "t1",
    columns: [
      { name: "a", type: "integer" },
      { name: "b", type: "integer" },
      { name: "c", type: "text" },
      { name: "born", type: "date" },
    ],
    rows: [
      [1, 10, "x", "2024-01-01"],
      [2, 20, "y", "2024-01-02"],
      [3, 30, null, null],
    ],
  },
  {
    source: "s",
    name: "t2",
    columns: [
      { name: "a", type: "integer" },
      { name: "d", type: "integer" },
    ],
    rows: [
      [1, 100],
      [1, 101],
      [3, 300],
      [null, 400],
    ],
  },
];

const catalog = memoryCatalog(tables, sources);

function refusal(sql: string): EntenteError {
  try {
    planSql(sql, catalog);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error(`planned without an error: ${sql}`);
}

async function rows(sql: string) {
  return (await runSql(sql, catalog, memoryRunner(tables))).rows;
}

const outerRef = (ref: string) => `(it references "${ref}" of the outer query)`;

/** Each statement, by kind of construct, and the words its refusal must contain. */
const REFUSED: Record<string, [sql: string, construct: string][]> = {
  "correlated subqueries": [
    [
      "SELECT (SELECT count(*) FROM t1 AS x WHERE x.b < t1.b) FROM t1",
      `correlated subquery in the SELECT list is not supported ${outerRef("t1.b")}`,
    ],
    // Unqualified: `b` is not a column of t2, so it is the outer t1.b.
    [
      "SELECT a FROM t1 WHERE a = (SELECT b FROM t2)",
      `correlated subquery in WHERE is not supported ${outerRef("t1.b")}`,
    ],
    [
      "SELECT a FROM t1 WHERE a IN (SELECT a FROM t2 WHERE t2.d = t1.b)",
      `correlated IN subquery is not supported ${outerRef("t1.b")}`,
    ],
    ["SELECT a IN (SELECT a FROM t2 WHERE t2.d = t1.b) FROM t1", "correlated IN subquery"],
    [
      "SELECT a FROM t1 WHERE a IN (SELECT a FROM t2 GROUP BY a HAVING count(*) > t1.b)",
      "correlated IN subquery",
    ],
    [
      "SELECT a IN (SELECT t1.* FROM t2) FROM t1",
      `correlated IN subquery is not supported ${outerRef("t1.*")}`,
    ],
    // EXISTS: anything but `inner <op> outer` comparisons among the WHERE's conjuncts.
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a + t1.a = 4)",
      `correlated EXISTS subquery with a condition other than \`inner <op> outer\` comparisons in its WHERE is not supported ${outerRef("t1.a")}`,
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a OR t2.d = 1)",
      "correlated EXISTS subquery",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 JOIN t2 AS z ON z.d = t1.b WHERE t2.a = t1.a)",
      "correlated EXISTS subquery",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a GROUP BY t2.a)",
      "correlated EXISTS over a subquery with GROUP BY or HAVING",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT max(d) FROM t2 WHERE t2.a = t1.a)",
      "correlated EXISTS over a subquery with an aggregate",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a OFFSET 1)",
      "correlated EXISTS over a subquery with LIMIT or OFFSET",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT a FROM t2 WHERE t2.a = t1.a UNION ALL SELECT d FROM t2)",
      "correlated EXISTS over a subquery with a set operation",
    ],
    // Deeper: the subquery that crosses into the outer query is the one named.
    [
      "SELECT (SELECT x FROM (SELECT t1.b AS x) AS d) FROM t1",
      `correlated subquery in the SELECT list is not supported ${outerRef("t1.b")}`,
    ],
    [
      "SELECT (WITH w AS (SELECT t1.b AS x) SELECT x FROM w) FROM t1",
      "correlated subquery in the SELECT list",
    ],
    [
      "SELECT (SELECT count(*) FROM t2 WHERE EXISTS (SELECT 1 FROM t2 AS y WHERE y.a = t1.a)) FROM t1",
      "correlated subquery in the SELECT list",
    ],
    [
      "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a IN (SELECT a FROM t1 AS q WHERE q.b = t2.d))",
      `correlated IN subquery is not supported ${outerRef("t2.d")}`,
    ],
    // FROM: a subquery sees no other FROM item.
    [
      "SELECT * FROM t1 JOIN (SELECT t2.a FROM t2 WHERE t2.d = t1.b) AS x ON true",
      'a subquery in FROM that refers to another FROM item (LATERAL) is not supported (it references "t1.b" of an earlier FROM item)',
    ],
    [
      "SELECT * FROM t1, LATERAL (SELECT d FROM t2 WHERE t2.a = t1.a) AS x",
      "LATERAL subqueries in FROM",
    ],
  ],
  "set operations and clauses": [
    [
      "SELECT a FROM t1 EXCEPT (SELECT a FROM t2 UNION SELECT 2)",
      "a parenthesized query after EXCEPT is not supported",
    ],
    [
      "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r",
      "recursive CTEs (WITH RECURSIVE)",
    ],
    [
      "SELECT a, count(*) FROM t1 GROUP BY GROUPING SETS ((a), ()), ''",
      "GROUP BY with both an empty grouping set () and the constant ''",
    ],
    ["SELECT a FROM t1 ORDER BY a FETCH FIRST 3 ROWS WITH TIES", "FETCH FIRST"],
    ["SELECT a FROM t1 ORDER BY a USING <", "ORDER BY … USING"],
    ["TABLE t1", "TABLE as a statement"],
    ["VALUES (1)", "VALUES as a statement"],
  ],
  "FROM items": [
    ["SELECT * FROM t1 NATURAL JOIN t2", "NATURAL JOIN"],
    ["SELECT * FROM t1 NATURAL LEFT JOIN t2", "NATURAL JOIN"],
    ["SELECT a FROM t1 TABLESAMPLE SYSTEM (10)", "TABLESAMPLE"],
    ["SELECT a FROM ONLY t1", "FROM ONLY"],
    ["SELECT * FROM (VALUES (1, 2)) AS v(x, y)", "VALUES lists"],
    ["SELECT * FROM generate_series(1, 3) AS g", "table function generate_series() in FROM"],
    ["SELECT * FROM unnest(ARRAY[1, 2])", "table function unnest() in FROM"],
    ["SELECT * FROM generate_series(1, 2) WITH ORDINALITY", "WITH ORDINALITY"],
    ["SELECT * FROM ROWS FROM (generate_series(1, 2))", "ROWS FROM (…)"],
    ["SELECT x FROM t1 AS t(x)", "column names on a table in FROM (t(x))"],
    ["SELECT * FROM (SELECT 1)", "a subquery in FROM without an alias"],
  ],
  "functions and aggregates": [
    ["SELECT count(*) FROM t1 JOIN t2 ON t1.a = t2.a, t1 AS x", "a FROM list item after JOIN … ON"],
    [
      "SELECT max(a) OVER (ORDER BY c RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t1",
      "RANGE with offset PRECEDING/FOLLOWING over text",
    ],
    ["SELECT lower(c) OVER () FROM t1", "a window function (OVER …)"],
    [
      "SELECT sum(b) OVER w FROM t1 WINDOW w AS (PARTITION BY a % 3)",
      "PARTITION BY an expression other than a column or a function call in the WINDOW clause",
    ],
    [
      "SELECT a, (SELECT count(*) OVER (PARTITION BY x.c) FROM t1 x WHERE x.a = t1.a) FROM t1",
      "correlated scalar subquery with a window function",
    ],
    [
      "SELECT a FROM t1 WHERE a = 1 IS DISTINCT FROM b = 1",
      "IS [NOT] DISTINCT FROM after a comparison, LIKE, IN or BETWEEN",
    ],
    ["SELECT string_agg(c, ',') FROM t1", "aggregate string_agg()"],
    ["SELECT array_agg(a) FROM t1", "aggregate array_agg()"],
    [
      "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a) FROM t1",
      "aggregate percentile_cont()",
    ],
    ["SELECT stddev(a) FROM t1", "function stddev()"],
    ["SELECT bool_and(a > 1) FROM t1", "function bool_and()"],
    ["SELECT count(*) FILTER (WHERE a > 1) FROM t1", "FILTER (WHERE …) on aggregate count()"],
    ["SELECT sqrt(a) FROM t1", "function sqrt()"],
    ["SELECT mod(a, 2) FROM t1", "function mod()"],
    ["SELECT now()", "function now()"],
    ["SELECT CURRENT_TIMESTAMP", "function current_timestamp()"],
    ["SELECT date_trunc('millennium', born) FROM t1", 'date_trunc unit "millennium"'],
    ["SELECT position('a' in c) FROM t1", "function position()"],
    ["SELECT ROW(a, b) FROM t1", "function row()"],
    ["SELECT current_user", "CURRENT_USER"],
    ["SELECT USER", "USER is not supported"],
    ["SELECT LOCALTIMESTAMP", "LOCALTIMESTAMP is not supported"],
    ["SELECT ARRAY(SELECT 1)", "function array()"],
    ["SELECT trim(both 'x' from c) FROM t1", "trim(BOTH … FROM …)"],
    ["SELECT substring(c for 2) FROM t1", "SUBSTRING(… FOR …) without FROM first"],
    ["SELECT overlay(c placing 'x' from 1) FROM t1", "OVERLAY(… FROM …)"],
  ],
  "predicates and operators": [
    ["SELECT a FROM t1 WHERE a = ANY (SELECT a FROM t2)", "ANY (…) comparisons"],
    ["SELECT a FROM t1 WHERE b > SOME (SELECT d FROM t2)", "SOME (…) comparisons"],
    ["SELECT a FROM t1 WHERE a > ALL (SELECT a FROM t2)", "ALL (…) comparisons"],
    ["SELECT a FROM t1 WHERE a = ANY (ARRAY[1, 2])", "ANY (…) comparisons"],
    ["SELECT a FROM t1 WHERE a IN (VALUES (1))", "VALUES lists"],
    ["SELECT a FROM t1 WHERE (a > 1) IS UNKNOWN", "IS UNKNOWN"],
    ["SELECT a FROM t1 WHERE c IS NORMALIZED", "IS NORMALIZED"],
    ["SELECT a FROM t1 WHERE (a, b) = (1, 2)", "row values such as (a, b)"],
    ["SELECT a FROM t1 WHERE (a, b) IN ((1, 2))", "row value IN lists"],
    ["SELECT a FROM t1 WHERE c ~ 'x'", "operator ~"],
    ["SELECT a FROM t1 WHERE c ~* 'x'", "operator ~*"],
    ["SELECT a FROM t1 WHERE c !~ 'x'", "operator !~"],
    ["SELECT a FROM t1 WHERE c SIMILAR TO 'x'", "operator SIMILAR TO"],
    [
      "SELECT a FROM t1 WHERE c LIKE 'a!%' ESCAPE '!'",
      "LIKE … ESCAPE with a character other than backslash",
    ],
    ["SELECT c -> 'k' FROM t1", "operator ->"],
    ["SELECT a FROM t1 WHERE c @> 'x'", "operator @>"],
    ["SELECT a FROM t1 WHERE c && 'x'", "operator &&"],
    ["SELECT ~a FROM t1", "operator ~"],
    ["SELECT a # b FROM t1", "operator #"],
    ["SELECT a & b FROM t1", "operator &"],
    ["SELECT a | b FROM t1", "operator |"],
    ["SELECT a << 1 FROM t1", "operator <<"],
    ["SELECT a >> 1 FROM t1", "operator >>"],
    ["SELECT a ^ 2 FROM t1", "operator ^"],
    ["SELECT |/ 4", "operator |/"],
    ["SELECT born * 2 FROM t1", "arithmetic on dates and timestamps (date * integer)"],
  ],
  "values and types": [
    ["SELECT INTERVAL '1 day'", "INTERVAL outside date and timestamp arithmetic"],
    ["SELECT date_part('julian', born) FROM t1", 'date field "julian"'],
    ["SELECT ARRAY[1, 2]", "ARRAY[…]"],
    ["SELECT a[1] FROM t1", "array subscripts"],
    ["SELECT TIME '10:00'", "the TIME type"],
    ["SELECT TIMESTAMP WITH TIME ZONE '2024-01-01'", "TIMESTAMP WITH TIME ZONE '…'"],
    ["SELECT E'\\n'", "escape string literals (E'…')"],
    ["SELECT $$text$$", "dollar-quoted strings"],
    ['SELECT c COLLATE "C" FROM t1', "COLLATE"],
    ["SELECT born AT TIME ZONE 'UTC' FROM t1", "AT TIME ZONE"],
    ["SELECT U&'d\\0061t'", "the U&'…' string syntax"],
    ["SELECT B'101'", "the B'…' string syntax"],
    ["SELECT X'ff'", "the X'…' string syntax"],
    ["SELECT json '{}'", "the JSON '…' literal syntax"],
    ["SELECT CAST(a AS interval) FROM t1", "CAST to interval"],
    ["SELECT a::json FROM t1", "CAST to json"],
    ["SELECT CAST(a AS uuid) FROM t1", "CAST to uuid"],
    ["SELECT CAST(a AS bytea) FROM t1", "CAST to bytea"],
    ["SELECT CAST(a AS time) FROM t1", "CAST to time"],
    ["SELECT a::int[] FROM t1", "CAST to an array type (int[])"],
    ["SELECT a FROM t1 WHERE a = @x", "variables (@x)"],
    ["SELECT a FROM t1 WHERE a = :x", "named parameters (:x)"],
  ],
};

describe("constructs the engine refuses answer UNSUPPORTED, naming the construct", () => {
  for (const [kind, cases] of Object.entries(REFUSED)) {
    describe(kind, () => {
      it.each(cases)("%s", (sql, construct) => {
        const e = refusal(sql);
        expect({ code: e.code, message: e.message }).toEqual({
          code: "UNSUPPORTED",
          message: expect.stringContaining(construct),
        });
      });
    });
  }

  it("says where in the text a construct the parser does not read begins", () => {
    const e = refusal("SELECT a\nFROM t1\nORDER BY a USING <");
    expect(e.message).toBe("ORDER BY … USING is not supported (at line 3, column 12)");
    expect(e.details).toEqual({ line: 3, column: 12 });
  });
});

describe("what the engine runs or reports otherwise stays so", () => {
  it("runs scalar subqueries correlated by equalities wherever they stand; answers are PostgreSQL's", async () => {
    expect(
      await rows("SELECT (SELECT count(*) FROM t1 AS x WHERE x.b = t1.b) FROM t1 ORDER BY 1"),
    ).toEqual([[1], [1], [1]]);
    expect(
      await rows("SELECT a FROM t1 WHERE b > (SELECT max(d) FROM t2 WHERE t2.a = t1.a)"),
    ).toEqual([]);
    expect(
      await rows(
        "SELECT a, count(*) FROM t1 GROUP BY a HAVING count(*) > (SELECT count(*) FROM t2 WHERE t2.a = t1.a) ORDER BY 1",
      ),
    ).toEqual([[2, 1]]);
    expect(
      await rows(
        "SELECT t1.a FROM t1 JOIN t2 ON t2.a = (SELECT min(a) FROM t2 AS z WHERE z.d = t1.b)",
      ),
    ).toEqual([]);
    expect(
      await rows(
        "SELECT a, (SELECT max(d) FROM t2 WHERE t2.a = t1.a) FROM t1 WHERE a <> 1 ORDER BY (SELECT max(d) FROM t2 WHERE t2.a = t1.a) NULLS FIRST",
      ),
    ).toEqual([
      [2, null],
      [3, 300],
    ]);
    await expect(
      rows("SELECT a FROM t1 ORDER BY (SELECT d FROM t2 WHERE t2.a = t1.a)"),
    ).rejects.toThrow(/more than one row returned by a subquery/);
  });

  it("runs EXISTS correlated by equalities, the outer side an expression or unqualified", async () => {
    expect(
      await rows("SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a) ORDER BY a"),
    ).toEqual([[1], [3]]);
    expect(
      await rows(
        "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a + 1) ORDER BY a",
      ),
    ).toEqual([[2]]);
    expect(
      await rows(
        "SELECT a FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE d = b * 10 AND t2.a = a) ORDER BY a",
      ),
    ).toEqual([[2]]);
    expect(
      await rows(
        "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a LIMIT 1) ORDER BY a",
      ),
    ).toEqual([[1], [3]]);
  });

  it("runs EXISTS correlated by other comparisons too; answers are PostgreSQL's", async () => {
    const a = async (sql: string) => (await rows(`${sql} ORDER BY a`)).map((r) => r[0]);
    expect(await a("SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a < t1.a)")).toEqual([
      2, 3,
    ]);
    expect(
      await a(
        "SELECT a FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND t2.d <> t1.b * 10)",
      ),
    ).toEqual([2, 3]);
    expect(
      await a(
        "SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND t1.b * 10 < t2.d)",
      ),
    ).toEqual([1]);
    expect(
      await a("SELECT a FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE t1.a >= t2.a)"),
    ).toEqual([]);
  });

  it("runs UNION, INTERSECT and EXCEPT with PostgreSQL's precedence; answers are PostgreSQL's", async () => {
    const a = async (sql: string) => (await rows(sql)).map((r) => r[0]);
    expect(await a("SELECT a FROM t1 UNION SELECT a FROM t2 ORDER BY 1")).toEqual([1, 2, 3, null]);
    expect(await a("SELECT a FROM t1 UNION DISTINCT SELECT a FROM t2 ORDER BY 1")).toEqual([
      1,
      2,
      3,
      null,
    ]);
    expect(
      await a("SELECT a FROM t2 UNION ALL SELECT a FROM t1 INTERSECT SELECT a FROM t2 ORDER BY 1"),
    ).toEqual([1, 1, 1, 3, 3, null]);
    expect(await a("SELECT a FROM t1 EXCEPT SELECT a FROM t2 UNION SELECT 7 ORDER BY 1")).toEqual([
      2, 7,
    ]);
    expect(await a("SELECT a FROM t2 EXCEPT SELECT a FROM t1")).toEqual([null]);
    expect(await a("SELECT a FROM t2 INTERSECT SELECT a FROM t2 ORDER BY 1")).toEqual([1, 3, null]);
    expect(await a("(SELECT a FROM t1) EXCEPT (SELECT a FROM t2)")).toEqual([2]);
  });

  it("resolves a name to the subquery's own FROM before the outer query's, as PostgreSQL does", async () => {
    // `a` inside is s.a (from t2): uncorrelated, true for every outer row.
    expect(
      await rows(
        "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM (SELECT d AS a FROM t2) AS s WHERE a = 400) ORDER BY b",
      ),
    ).toEqual([[10], [20], [30]]);
    expect(
      await rows(
        "SELECT b FROM t1 WHERE EXISTS (SELECT 1 FROM (SELECT d AS b FROM t2) AS s WHERE b = a) ORDER BY b",
      ),
    ).toEqual([]);
  });

  it("runs uncorrelated EXISTS whatever decides its rows: aggregates, LIMIT, UNION ALL", async () => {
    expect(
      await rows("SELECT a FROM t1 WHERE EXISTS (SELECT max(d) FROM t2 WHERE false) ORDER BY a"),
    ).toEqual([[1], [2], [3]]);
    expect(await rows("SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 LIMIT 0)")).toEqual([]);
    expect(
      await rows(
        "SELECT a FROM t1 WHERE EXISTS (SELECT a FROM t2 WHERE false UNION ALL SELECT d FROM t2 WHERE false)",
      ),
    ).toEqual([]);
    expect(
      await rows("SELECT count(*) FROM t1 WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE d > 1000)"),
    ).toEqual([[3]]);
  });

  it("runs uncorrelated IN and scalar subqueries, and OFFSET without LIMIT", async () => {
    expect(await rows("SELECT a FROM t1 WHERE a IN (SELECT a FROM t2) ORDER BY a")).toEqual([
      [1],
      [3],
    ]);
    expect(await rows("SELECT a, (SELECT max(d) FROM t2) FROM t1 ORDER BY a OFFSET 2")).toEqual([
      [3, 400],
    ]);
    expect(await rows("SELECT t.* FROM t1 AS t ORDER BY a LIMIT ALL OFFSET 2")).toEqual([
      [3, 30, null, null],
    ]);
  });

  it("reports unknown names as NOT_FOUND with the nearest known one", () => {
    const column = refusal("SELECT t1.bb FROM t1");
    expect([column.code, column.message]).toEqual([
      "NOT_FOUND",
      'unknown column "t1.bb" (did you mean "b"?)',
    ]);
    const table = refusal("SELECT a FROM t3");
    expect([table.code, table.message]).toEqual([
      "NOT_FOUND",
      'unknown table "t3" (did you mean "t1"?)',
    ]);
    const fn = refusal("SELECT lowr(c) FROM t1");
    expect([fn.code, fn.message]).toEqual([
      "NOT_FOUND",
      'unknown function lowr() (did you mean "lower"?)',
    ]);
    // Neither the subquery nor the outer query has it: unknown, not correlated.
    const inner = refusal("SELECT (SELECT t1.zz FROM t2) FROM t1");
    expect(inner.code).toBe("NOT_FOUND");
    expect(inner.message).toContain('unknown column "t1.zz"');
    const nowhere = refusal("SELECT a FROM t1 WHERE EXISTS (SELECT 1 FROM t2 WHERE t2.a = t9.a)");
    expect(nowhere.code).toBe("NOT_FOUND");
    expect(nowhere.message).toContain('missing FROM-clause entry for table "t9"');
  });

  it("keeps syntax errors, read-only refusals and wrong statements BAD_REQUEST", () => {
    const syntax = refusal("SELECT a FROM t1 WHERE a = = 1");
    expect([syntax.code, syntax.details]).toEqual(["BAD_REQUEST", { line: 1, column: 28 }]);
    for (const sql of [
      "DELETE FROM t1",
      "SELECT a FROM t1 FOR UPDATE",
      "SELECT * INTO t3 FROM t1",
    ]) {
      const e = refusal(sql);
      expect([e.code, e.message.startsWith("read-only: ")], sql).toEqual(["BAD_REQUEST", true]);
    }
    expect(refusal("SELECT a FROM t1, t2").code).toBe("BAD_REQUEST"); // ambiguous
    expect(refusal("SELECT a FROM t1 WHERE c = 1").code).toBe("BAD_REQUEST"); // type mismatch
    expect(refusal("SELECT c + 1 FROM t1").code).toBe("BAD_REQUEST");
  });
});

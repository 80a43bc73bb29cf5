/** INTERSECT ALL and EXCEPT ALL count duplicates; every expected answer is PostgreSQL 15's. */
import { describe, expect, it } from "vitest";
import { explainPlan, parseSql, planSql } from "../src/index.ts";
import {
  ABC_COLUMNS,
  ABC_ROWS_WITH_DUPLICATES,
  type MemoryTable,
  memoryCatalog,
  NOTHING_PUSHED,
  pgDialect,
  rowsOver,
} from "./helpers.ts";

const tables: MemoryTable[] = [
  { source: "s", name: "t1", columns: ABC_COLUMNS, rows: ABC_ROWS_WITH_DUPLICATES },
  {
    source: "s",
    name: "t2",
    columns: ABC_COLUMNS,
    rows: [
      [1, 10, "x"],
      [1, 10, "x"],
      [null, null, null],
      [3, 30, "z"],
      [3, 30, "z"],
      [4, 50, "w"],
    ],
  },
];
const q = rowsOver(tables);
const firsts = async (sql: string) => (await q(sql)).map((r) => r[0]);

describe("INTERSECT ALL and EXCEPT ALL", () => {
  it("keep a row min(m, n) and max(m - n, 0) times, NULLs equal to each other", async () => {
    expect(await q("SELECT a, c FROM t1 INTERSECT ALL SELECT a, c FROM t2 ORDER BY 1, 2")).toEqual([
      [1, "x"],
      [1, "x"],
      [3, "z"],
      [null, null],
    ]);
    expect(await q("SELECT a, c FROM t1 EXCEPT ALL SELECT a, c FROM t2 ORDER BY 1, 2")).toEqual([
      [1, "x"],
      [2, "y"],
      [null, null],
    ]);
  });

  it("bind as PostgreSQL's set operations do: INTERSECT first, then left to right", async () => {
    expect(
      await firsts(
        "SELECT a FROM t1 EXCEPT ALL SELECT a FROM t2 INTERSECT SELECT a FROM t1 ORDER BY 1",
      ),
    ).toEqual([1, 1, 2, null]);
    expect(
      await firsts(
        "SELECT a FROM t1 INTERSECT ALL SELECT a FROM t2 UNION ALL SELECT a FROM t2 EXCEPT ALL SELECT 4 ORDER BY 1",
      ),
    ).toEqual([1, 1, 1, 1, 3, 3, 3, null, null]);
  });

  it("stay with the operation written with ALL when others in the statement have none", async () => {
    expect(
      await firsts(
        "WITH w AS (SELECT a FROM t1 EXCEPT ALL SELECT a FROM t2) SELECT a FROM w EXCEPT SELECT 9 ORDER BY 1",
      ),
    ).toEqual([1, 2, null]);
    expect(
      await firsts(
        "WITH w AS (SELECT a FROM t1 EXCEPT SELECT a FROM t2) SELECT a FROM t1 EXCEPT ALL SELECT a FROM w ORDER BY 1",
      ),
    ).toEqual([1, 1, 1, 3, null, null]);
    expect(
      await q(
        "SELECT (SELECT count(*) FROM (SELECT a FROM t1 INTERSECT ALL SELECT a FROM t2) x), a FROM t1 EXCEPT ALL SELECT 3, a FROM t2 ORDER BY 2",
      ),
    ).toEqual([
      [4, 1],
      [4, 1],
      [4, 1],
      [4, 2],
      [4, 3],
      [4, null],
      [4, null],
    ]);
  });

  it("keep the whole query's ORDER BY, LIMIT and OFFSET written after a WINDOW clause", async () => {
    expect(
      await firsts(
        "SELECT a FROM t1 UNION SELECT a FROM t2 WINDOW w AS (PARTITION BY a) ORDER BY 1 LIMIT 3 OFFSET 1",
      ),
    ).toEqual([2, 3, 4]);
  });

  it("leave the words alone inside strings, and take SELECT ALL as SELECT", async () => {
    expect(
      await q(
        "SELECT 'x INTERSECT ALL y' AS s FROM t1 INTERSECT ALL SELECT 'x INTERSECT ALL y' FROM t2",
      ),
    ).toEqual(Array(6).fill(["x INTERSECT ALL y"]));
    expect(await firsts("SELECT ALL a FROM t1 ORDER BY 1")).toEqual([1, 1, 1, 2, 3, null, null]);
  });

  it("show ALL in EXPLAIN, and keep error positions those of the text written", async () => {
    const catalog = memoryCatalog(tables, [
      { name: "s", dialect: pgDialect, capabilities: NOTHING_PUSHED },
    ]);
    const { plan } = planSql("SELECT a FROM t1 EXCEPT ALL SELECT a FROM t2", catalog);
    expect(explainPlan(plan, catalog).plan).toContain("Except All");
    expect(() => parseSql("SELECT a FROM t1 INTERSECT ALL SELECT a FROM t2 WHERE ) x")).toThrow(
      /line 1, column 55/,
    );
  });
});

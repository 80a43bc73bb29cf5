/** ROLLUP, CUBE, GROUPING SETS, GROUPING() and DISTINCT ON; every expected answer is PostgreSQL 15's. */
import { describe, expect, it } from "vitest";
import { ABC_COLUMNS, ABC_ROWS_WITH_DUPLICATES, type MemoryTable, rowsOver } from "./helpers.ts";

const tables: MemoryTable[] = [
  {
    source: "s",
    name: "t1",
    columns: [
      { name: "a", type: "integer" },
      { name: "b", type: "integer" },
      { name: "c", type: "text" },
    ],
    rows: [
      [1, 10, "x"],
      [2, 20, "y"],
      [3, 30, null],
      [1, 40, "x"],
    ],
  },
];
const q = rowsOver(tables);

it("ROLLUP adds the subtotals of each prefix and the grand total", async () => {
  expect(
    await q(
      "SELECT a, c, sum(b), count(*) FROM t1 GROUP BY ROLLUP (a, c) ORDER BY a NULLS LAST, c NULLS LAST",
    ),
  ).toEqual([
    [1, "x", 50, 2],
    [1, null, 50, 2],
    [2, "y", 20, 1],
    [2, null, 20, 1],
    [3, null, 30, 1],
    [3, null, 30, 1],
    [null, null, 100, 4],
  ]);
});

it("CUBE adds the subtotals of every subset", async () => {
  expect(
    await q(
      "SELECT a, c, sum(b) FROM t1 GROUP BY CUBE (a, c) ORDER BY a NULLS LAST, c NULLS LAST, 3",
    ),
  ).toEqual([
    [1, "x", 50],
    [1, null, 50],
    [2, "y", 20],
    [2, null, 20],
    [3, null, 30],
    [3, null, 30],
    [null, "x", 50],
    [null, "y", 20],
    [null, null, 30],
    [null, null, 100],
  ]);
});

it("crosses plain items with a ROLLUP, and gives the empty set its row over no rows", async () => {
  expect(
    await q(
      "SELECT c, a, sum(b) FROM t1 GROUP BY c, ROLLUP (a) ORDER BY 1 NULLS LAST, 2 NULLS LAST",
    ),
  ).toEqual([
    ["x", 1, 50],
    ["x", null, 50],
    ["y", 2, 20],
    ["y", null, 20],
    [null, 3, 30],
    [null, null, 30],
  ]);
  expect(await q("SELECT c, a, count(*) FROM t1 WHERE a > 5 GROUP BY ROLLUP (c, a)")).toEqual([
    [null, null, 0],
  ]);
});

describe("GROUPING SETS", () => {
  const t1: MemoryTable = {
    source: "s",
    name: "t1",
    columns: ABC_COLUMNS,
    rows: ABC_ROWS_WITH_DUPLICATES,
  };
  const g = rowsOver([t1]);

  it("groups by each set listed, an empty set () making the grand total", async () => {
    expect(
      await g(
        "SELECT a, c, sum(b), count(*) FROM t1 GROUP BY GROUPING SETS ((a, c), (a), ()) ORDER BY 1, 2, 3",
      ),
    ).toEqual([
      [1, "x", 60, 3],
      [1, null, 60, 3],
      [2, "y", 20, 1],
      [2, null, 20, 1],
      [3, "z", 30, 1],
      [3, null, 30, 1],
      [null, null, 110, 7],
      [null, null, null, 2],
      [null, null, null, 2],
    ]);
  });

  it("tells a grouped NULL from a subtotal's with GROUPING(), in the SELECT list, HAVING and ORDER BY", async () => {
    expect(
      await g(
        "SELECT a, c, sum(b), grouping(a, c), grouping(c) FROM t1 GROUP BY GROUPING SETS (a, c) ORDER BY 4, 1, 2",
      ),
    ).toEqual([
      [1, null, 60, 1, 1],
      [2, null, 20, 1, 1],
      [3, null, 30, 1, 1],
      [null, null, null, 1, 1],
      [null, "x", 60, 2, 0],
      [null, "y", 20, 2, 0],
      [null, "z", 30, 2, 0],
      [null, null, null, 2, 0],
    ]);
    expect(
      await g(
        "SELECT a, c, count(*), grouping(a) FROM t1 GROUP BY CUBE (a, c) HAVING grouping(a) = 1 ORDER BY grouping(c), 2",
      ),
    ).toEqual([
      [null, "x", 3, 1],
      [null, "y", 1, 1],
      [null, "z", 1, 1],
      [null, null, 2, 1],
      [null, null, 7, 1],
    ]);
    expect(await g("SELECT grouping(a) FROM t1 GROUP BY a")).toEqual(Array(4).fill([0]));
    await expect(g("SELECT a, grouping(b) FROM t1 GROUP BY ROLLUP (a)")).rejects.toThrow(
      "arguments to GROUPING must be grouping expressions of the associated query level",
    );
    await expect(g("SELECT a FROM t1 WHERE grouping(a) = 0 GROUP BY a")).rejects.toThrow(
      "GROUPING is not allowed in WHERE",
    );
  });

  it("crosses elements: ROLLUP and GROUPING SETS inside GROUPING SETS, composites in ROLLUP", async () => {
    expect(
      await g(
        "SELECT a, c, count(*) FROM t1 GROUP BY a, GROUPING SETS (ROLLUP (c), ()) ORDER BY 1, 2, 3",
      ),
    ).toEqual([
      [1, "x", 3],
      [1, null, 3],
      [1, null, 3],
      [2, "y", 1],
      [2, null, 1],
      [2, null, 1],
      [3, "z", 1],
      [3, null, 1],
      [3, null, 1],
      [null, null, 2],
      [null, null, 2],
      [null, null, 2],
    ]);
    expect(
      await g("SELECT a, c, b, count(*) FROM t1 GROUP BY ROLLUP ((a, c), b) ORDER BY 1, 2, 3, 4"),
    ).toEqual([
      [1, "x", 10, 2],
      [1, "x", 40, 1],
      [1, "x", null, 3],
      [2, "y", 20, 1],
      [2, "y", null, 1],
      [3, "z", 30, 1],
      [3, "z", null, 1],
      [null, null, null, 2],
      [null, null, null, 2],
      [null, null, null, 7],
    ]);
    // The same column named twice, and as t1.a, is one grouping column.
    expect(
      await g(
        "SELECT a, count(*) FROM t1 GROUP BY GROUPING SETS ((a, a), (t1.a), ()) ORDER BY 1, 2",
      ),
    ).toEqual([
      [1, 3],
      [1, 3],
      [2, 1],
      [2, 1],
      [3, 1],
      [3, 1],
      [null, 2],
      [null, 2],
      [null, 7],
    ]);
  });

  it("keeps a grouping set made twice once with GROUP BY DISTINCT, twice with GROUP BY ALL", async () => {
    const sql = (quantifier: string) =>
      `SELECT a, c, count(*) FROM t1 GROUP BY ${quantifier} ROLLUP (a, c), ROLLUP (a) ORDER BY 1, 2, 3`;
    expect(await g(sql("DISTINCT"))).toEqual([
      [1, "x", 3],
      [1, null, 3],
      [2, "y", 1],
      [2, null, 1],
      [3, "z", 1],
      [3, null, 1],
      [null, null, 2],
      [null, null, 2],
      [null, null, 7],
    ]);
    expect(await g(sql("ALL"))).toHaveLength(21);
    expect(
      await g(
        "SELECT count(*) FROM (SELECT a FROM t1 GROUP BY DISTINCT GROUPING SETS ((a, c), (c, a))) s",
      ),
    ).toEqual([[4]]);
  });

  it("answers GROUP BY () and an empty set with one row, also over no rows", async () => {
    expect(await g("SELECT count(*), sum(b) FROM t1 WHERE a > 5 GROUP BY ()")).toEqual([[0, null]]);
    expect(await g("SELECT 1 FROM t1 GROUP BY ()")).toEqual([[1]]);
    expect(
      await g("SELECT a, count(*) FROM t1 WHERE a > 5 GROUP BY GROUPING SETS ((a), ())"),
    ).toEqual([[null, 0]]);
  });
});

it("DISTINCT ON keeps the first row of each value in ORDER BY's order", async () => {
  expect(await q("SELECT DISTINCT ON (a) a, b FROM t1 ORDER BY a, b DESC")).toEqual([
    [1, 40],
    [2, 20],
    [3, 30],
  ]);
  expect(await q("SELECT DISTINCT ON (c) c, b FROM t1 ORDER BY c NULLS FIRST, b")).toEqual([
    [null, 30],
    ["x", 10],
    ["y", 20],
  ]);
  // On an expression outside the select list.
  expect(await q("SELECT DISTINCT ON (a % 2) b FROM t1 ORDER BY a % 2, b")).toEqual([[20], [10]]);
  await expect(q("SELECT DISTINCT ON (a) a, b FROM t1 ORDER BY b")).rejects.toThrow(
    /must match initial ORDER BY expressions/,
  );
  // A repeated key counts once, as in PostgreSQL.
  expect(await q("SELECT DISTINCT ON (a, a) a, b FROM t1 ORDER BY a, a, b DESC")).toEqual([
    [1, 40],
    [2, 20],
    [3, 30],
  ]);
  await expect(q("SELECT DISTINCT ON (a, b) a, b FROM t1 ORDER BY a, a, c, b")).rejects.toThrow(
    /must match initial ORDER BY expressions/,
  );
  // DISTINCT ON's keys that ORDER BY does not name are sorted by after it, ascending.
  expect(await q("SELECT DISTINCT ON (a, b) a, b FROM t1 ORDER BY a DESC")).toEqual([
    [3, 30],
    [2, 20],
    [1, 10],
    [1, 40],
  ]);
  await expect(q("SELECT DISTINCT ON (a, b) a, b FROM t1 ORDER BY a, c")).rejects.toThrow(
    /must match initial ORDER BY expressions/,
  );
});

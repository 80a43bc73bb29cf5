/** ROLLUP, CUBE and DISTINCT ON; every expected answer is PostgreSQL 15's. */
import { expect, it } from "vitest";
import { type MemoryTable, rowsOver } from "./helpers.ts";

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
});

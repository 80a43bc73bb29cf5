/** IS [NOT] DISTINCT FROM: comparison with NULL as a value; every expected answer is PostgreSQL 15's. */
import { expect, it } from "vitest";
import { ABC_COLUMNS, ABC_ROWS_WITH_DUPLICATES, rowsOver } from "./helpers.ts";

const q = rowsOver([
  { source: "s", name: "t1", columns: ABC_COLUMNS, rows: ABC_ROWS_WITH_DUPLICATES },
]);

it("is never NULL: two NULLs are not distinct, a NULL and a value are", async () => {
  expect(
    await q(
      "SELECT a, b, a IS DISTINCT FROM b / 10, a IS NOT DISTINCT FROM b / 10 FROM t1 ORDER BY 1, 2",
    ),
  ).toEqual([
    [1, 10, false, true],
    [1, 10, false, true],
    [1, 40, true, false],
    [2, 20, false, true],
    [3, 30, false, true],
    [null, null, false, true],
    [null, null, false, true],
  ]);
});

it("joins NULLs to NULLs, and reads as PostgreSQL's precedence says", async () => {
  expect(await q("SELECT count(*) FROM t1 x JOIN t1 y ON x.c IS NOT DISTINCT FROM y.c")).toEqual([
    [15],
  ]);
  expect(await q("SELECT count(*) FROM t1 WHERE c IS DISTINCT FROM 'x'")).toEqual([[4]]);
  expect(
    await q(
      "SELECT count(*) FROM t1 WHERE NOT a IS DISTINCT FROM 1 OR b IS NOT DISTINCT FROM NULL",
    ),
  ).toEqual([[5]]);
});

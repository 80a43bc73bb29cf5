/**
 * The standard's spellings of what the engine runs: FETCH FIRST and OFFSET … ROWS, AS [NOT]
 * MATERIALIZED, BETWEEN SYMMETRIC. Every expected answer is PostgreSQL 15's.
 */
import { expect, it } from "vitest";
import { bridgeSyntax } from "../src/parse-bridge.ts";
import { ABC_COLUMNS, ABC_ROWS_WITH_DUPLICATES, rowsOver } from "./helpers.ts";

const q = rowsOver([
  { source: "s", name: "t1", columns: ABC_COLUMNS, rows: ABC_ROWS_WITH_DUPLICATES },
]);

it("limits rows by FETCH FIRST|NEXT … ROWS ONLY and OFFSET … ROWS, in either order", async () => {
  expect(
    await q("SELECT a, b FROM t1 ORDER BY b, a OFFSET 2 ROWS FETCH FIRST 3 ROWS ONLY"),
  ).toEqual([
    [2, 20],
    [3, 30],
    [1, 40],
  ]);
  expect(await q("SELECT a, b FROM t1 ORDER BY b DESC NULLS LAST FETCH NEXT ROW ONLY")).toEqual([
    [1, 40],
  ]);
  expect(await q("SELECT a FROM t1 ORDER BY a FETCH FIRST 2 ROWS ONLY OFFSET 1 ROW")).toEqual([
    [1],
    [1],
  ]);
  // A parameter as the count; the rest of the clause blanked, positions after it kept.
  expect(bridgeSyntax("SELECT a FROM t OFFSET $1 ROWS FETCH FIRST $2 ROWS ONLY").text).toBe(
    "SELECT a FROM t OFFSET $1      LIMIT $2                ",
  );
});

it("takes AS [NOT] MATERIALIZED as a hint it may ignore", async () => {
  expect(
    await q(
      "WITH w AS MATERIALIZED (SELECT a FROM t1 WHERE a > 1), v AS NOT MATERIALIZED (SELECT a FROM w) SELECT count(*) FROM v",
    ),
  ).toEqual([[2]]);
});

it("takes BETWEEN SYMMETRIC's bounds in either order, and ASYMMETRIC's as written", async () => {
  expect(await q("SELECT count(*) FROM t1 WHERE b BETWEEN SYMMETRIC 30 AND 10")).toEqual([[4]]);
  expect(await q("SELECT count(*) FROM t1 WHERE b NOT BETWEEN SYMMETRIC 30 AND 10")).toEqual([[1]]);
  expect(await q("SELECT count(*) FROM t1 WHERE b BETWEEN ASYMMETRIC 30 AND 10")).toEqual([[0]]);
  expect(
    await q(
      "SELECT count(*) FROM t1 WHERE a BETWEEN 1 AND 2 AND b BETWEEN SYMMETRIC 40 AND 20 AND b NOT BETWEEN 30 AND 35",
    ),
  ).toEqual([[2]]);
  // A column named like a frame unit before it.
  expect(
    await q(
      "SELECT count(*) FROM (SELECT b AS rows FROM t1) s WHERE rows BETWEEN SYMMETRIC 30 AND 10",
    ),
  ).toEqual([[4]]);
  // Beside a window frame's BETWEEN, which is no operator.
  expect(
    await q(
      "SELECT count(*) OVER (ORDER BY b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t1 WHERE b BETWEEN SYMMETRIC 30 AND 10 ORDER BY b LIMIT 2",
    ),
  ).toEqual([[1], [2]]);
});

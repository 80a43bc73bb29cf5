/** Arithmetic between decimal literals is exact, so bounds written as sums are the bounds meant. */
import { expect, it } from "vitest";
import { type MemoryTable, rowsOver } from "./helpers.ts";

const tables: MemoryTable[] = [
  {
    source: "s",
    name: "lines",
    columns: [{ name: "discount", type: "decimal" }],
    rows: [[0.04], [0.05], [0.06], [0.07], [0.08]],
  },
];
const q = rowsOver(tables);

it("folds + - * between decimal literals exactly, as PostgreSQL's numeric does", async () => {
  const r = await q("SELECT 0.06 + 0.01, 0.3 - 0.1, 1.1 * 1.1, -0.07 + 0.01, 2 * 0.35");
  expect(r).toEqual([["0.07", "0.2", "1.21", "-0.06", "0.70"]]);
});

it("keeps both ends of a BETWEEN written as sums (TPC-H Q6)", async () => {
  const r = await q(
    "SELECT discount FROM lines WHERE discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 ORDER BY 1",
  );
  expect(r).toEqual([["0.05"], ["0.06"], ["0.07"]]);
});

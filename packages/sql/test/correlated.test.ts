/** Correlated scalar subqueries, decorrelated into a keyed lookup, on hand-checked inputs. */
import type { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { type MemoryTable, rowsOver } from "./helpers.ts";

const tables: MemoryTable[] = [
  {
    source: "a",
    name: "parts",
    columns: [
      { name: "id", type: "integer" },
      { name: "name", type: "text" },
    ],
    rows: [
      [1, "bolt"],
      [2, "nut"],
      [3, "gear"],
      [null, "ghost"],
    ],
  },
  {
    source: "b",
    name: "offers",
    columns: [
      { name: "part_id", type: "integer" },
      { name: "supplier", type: "text" },
      { name: "price", type: "decimal" },
    ],
    rows: [
      [1, "acme", 5],
      [1, "globex", 3],
      [2, "acme", 7],
      [2, "initech", 7],
      [null, "acme", 1],
    ],
  },
];

const q = rowsOver(tables);

describe("correlated scalar subqueries", () => {
  it("compares each row with an aggregate over its own key (TPC-H Q2's shape)", async () => {
    const r = await q(
      `SELECT o.part_id, o.supplier FROM offers o
       WHERE o.price = (SELECT min(i.price) FROM offers i WHERE i.part_id = o.part_id)
       ORDER BY 1, 2`,
    );
    expect(r).toEqual([
      [1, "globex"],
      [2, "acme"],
      [2, "initech"],
    ]);
  });

  it("gives a key with no rows the aggregate over no rows: NULL, or 0 for count", async () => {
    const r = await q(
      `SELECT p.name,
              (SELECT count(*) FROM offers o WHERE o.part_id = p.id) AS n,
              (SELECT max(o.price) FROM offers o WHERE o.part_id = p.id) AS top
       FROM parts p ORDER BY p.name`,
    );
    expect(r).toEqual([
      ["bolt", 2, "5"],
      ["gear", 0, null],
      ["ghost", 0, null],
      ["nut", 2, "7"],
    ]);
  });

  it("reads a non-aggregate value, NULL where no row matches", async () => {
    const r = await q(
      `SELECT o.supplier, (SELECT p.name FROM parts p WHERE p.id = o.part_id) AS part
       FROM offers o ORDER BY o.supplier, part`,
    );
    expect(r).toEqual([
      ["acme", "bolt"],
      ["acme", "nut"],
      ["acme", null],
      ["globex", "bolt"],
      ["initech", "nut"],
    ]);
  });

  it("fails when one outer row's key has two rows, as per-row evaluation would", async () => {
    const err = await q(
      `SELECT p.name, (SELECT o.supplier FROM offers o WHERE o.part_id = p.id) FROM parts p`,
    ).catch((e: EntenteError) => e);
    expect((err as EntenteError).message).toMatch(/more than one row returned by a subquery/);
  });

  it("keeps the subquery's own conditions and arithmetic around the aggregate", async () => {
    const r = await q(
      `SELECT p.name FROM parts p
       WHERE 4 < (SELECT 0.5 * sum(o.price) FROM offers o
                  WHERE o.part_id = p.id AND o.supplier <> 'globex')
       ORDER BY 1`,
    );
    expect(r).toEqual([["nut"]]);
  });

  it("refuses HAVING without GROUP BY, where a failed condition would read as no rows", async () => {
    await expect(
      q(
        "SELECT p.name, (SELECT count(*) FROM offers o WHERE o.part_id = p.id HAVING count(*) < 2) FROM parts p",
      ),
    ).rejects.toThrow(/correlated scalar subquery with HAVING and no GROUP BY is not supported/);
  });

  it("refuses a correlation that is not an equality, naming it", async () => {
    const err = await q(
      `SELECT p.name FROM parts p
       WHERE 1 < (SELECT count(*) FROM offers o WHERE o.part_id < p.id)`,
    ).catch((e: EntenteError) => e);
    expect((err as EntenteError).code).toBe("UNSUPPORTED");
    expect((err as EntenteError).message).toMatch(/correlated subquery in WHERE is not supported/);
  });
});

describe("column alias lists", () => {
  it("rename a derived table's and a CTE's first columns", async () => {
    expect(
      await q(`SELECT "Part", n FROM (SELECT name, id FROM parts WHERE id = 1) AS p ("Part", n)`),
    ).toEqual([["bolt", 1]]);
    expect(
      await q("WITH c (k) AS (SELECT id, name FROM parts WHERE id = 2) SELECT k, name FROM c"),
    ).toEqual([[2, "nut"]]);
  });

  it("refuse more names than columns, and names on a table", async () => {
    await expect(q("SELECT * FROM (SELECT id FROM parts) p (a, b)")).rejects.toThrow(
      /p has 1 columns available but 2 columns specified/,
    );
    await expect(q("SELECT * FROM parts p (a, b)")).rejects.toThrow(
      /column names on a table in FROM/,
    );
  });
});

/**
 * Semi-join reduction: a decorrelated EXISTS or scalar subquery read by one filter runs after
 * that filter's input, for its rows' keys only — with the same answers as when it runs first
 * for every key (`dynamicFilterMaxKeys: 0` turns the reduction off).
 */
import { collectSqlResult, type EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  type ExecLimits,
  explainPlan,
  type OperatorActuals,
  type PlanNode,
  planSql,
  runPlan,
} from "../src/index.ts";
import {
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
} from "./helpers.ts";

const parts: MemoryTable = {
  source: "a",
  name: "parts",
  columns: [
    { name: "id", type: "integer" },
    { name: "name", type: "text" },
    { name: "size", type: "integer" },
    { name: "note", type: "text" },
  ],
  rows: [
    [1, "bolt", 5],
    [2, "nut", 5],
    [3, "gear", 9],
    [4, "cog", 5],
    [null, "ghost", 5],
  ].map((r) => [...r, "x".repeat(20_000)]),
};

/** Offers for parts 1–4 and for many parts the outer queries never keep (100 … 399). */
const offers: MemoryTable = {
  source: "b",
  name: "offers",
  columns: [
    { name: "part_id", type: "integer" },
    { name: "supplier", type: "integer" },
    { name: "price", type: "integer" },
  ],
  rows: [
    [1, 10, 5],
    [1, 11, 3],
    [2, 10, 7],
    [2, 12, 7],
    [3, 10, 1],
    [null, 10, 1],
    ...Array.from({ length: 300 }, (_, i) => [100 + i, 10 + (i % 4), i]),
  ],
};

const tables = [parts, offers];
const sources = ["a", "b"].map((name) => ({
  name,
  dialect: pgDialect,
  capabilities: NOTHING_PUSHED,
}));
const catalog = memoryCatalog(tables, sources);

async function run(sql: string, limits: Partial<ExecLimits> = {}) {
  const { plan } = planSql(sql, catalog);
  const { execution, batches } = runPlan(
    plan,
    catalog,
    memoryRunner(tables),
    new AbortController().signal,
    {
      batchRows: 3,
      ...limits,
    },
  );
  execution.actuals = new Map<PlanNode, OperatorActuals>();
  const items: unknown[] = [{ columns: plan.columns }];
  for await (const rows of batches) items.push({ rows });
  const explained = explainPlan(plan, catalog, execution.actuals).plan.split("\n");
  return { rows: collectSqlResult(items).rows, explained };
}

/** The answer reduced and the answer with every subquery run first, which must be the same. */
async function bothWays(sql: string) {
  const reduced = await run(sql);
  const whole = await run(sql, { dynamicFilterMaxKeys: 0 });
  expect(reduced.rows).toEqual(whole.rows);
  return reduced;
}

/** The actual rows of the first line of the subquery `$n` section matching `operator`. */
function subqueryRows(explained: string[], n: number, operator: RegExp): string {
  const at = explained.findIndex((l) => l.startsWith(`Subquery $${n} `));
  const line = explained.slice(at + 1).find((l) => operator.test(l)) ?? "";
  return /\(actual rows=(\d+)|\(never run\)/.exec(line)?.[0] ?? line;
}

describe("semi-join reduction of decorrelated subqueries", () => {
  it("runs EXISTS for the outer rows' keys only (TPC-H Q4's shape)", async () => {
    const r = await bothWays(
      `SELECT p.name FROM parts p WHERE p.size = 5
       AND EXISTS (SELECT 1 FROM offers o WHERE o.part_id = p.id) ORDER BY 1`,
    );
    expect(r.rows).toEqual([["bolt"], ["nut"]]);
    expect(r.explained[0]).toMatch(/^Subquery \$0 \(runs when the filter .* as \$2 /);
    expect(subqueryRows(r.explained, 0, /Scan/)).toBe("(never run)");
    // Of the 306 offers only those of parts 1, 2 and 4 (the kept parts' keys) pass the key list.
    expect(subqueryRows(r.explained, 2, /Scan .*offers/)).toBe("(actual rows=4");
  });

  it("gives NOT EXISTS the rows whose keys have none, NULL keys included", async () => {
    const r = await bothWays(
      `SELECT p.name FROM parts p WHERE p.size = 5
       AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.part_id = p.id) ORDER BY 1`,
    );
    expect(r.rows).toEqual([["cog"], ["ghost"]]);
  });

  it("keeps an EXISTS with another comparison exact (TPC-H Q21's shape)", async () => {
    const r = await bothWays(
      `SELECT o1.part_id, o1.supplier FROM offers o1 WHERE o1.part_id < 10
       AND EXISTS (SELECT 1 FROM offers o2 WHERE o2.part_id = o1.part_id AND o2.supplier <> o1.supplier)
       ORDER BY 1, 2`,
    );
    expect(r.rows).toEqual([
      [1, 10],
      [1, 11],
      [2, 10],
      [2, 12],
    ]);
  });

  it("runs two subqueries keyed alike side by side (TPC-H Q21's EXISTS and NOT EXISTS)", async () => {
    const r = await bothWays(
      `SELECT o1.part_id, o1.supplier FROM offers o1 WHERE o1.part_id < 10
       AND EXISTS (SELECT 1 FROM offers o2 WHERE o2.part_id = o1.part_id AND o2.supplier <> o1.supplier)
       AND NOT EXISTS (SELECT 1 FROM offers o3 WHERE o3.part_id = o1.part_id AND o3.price < 4)
       ORDER BY 1, 2`,
    );
    expect(r.rows).toEqual([
      [2, 10],
      [2, 12],
    ]);
    expect(subqueryRows(r.explained, 0, /Scan/)).toBe("(never run)");
  });

  it("looks up a scalar subquery's value, lifted out of the join it was part of (TPC-H Q2's shape)", async () => {
    const r = await bothWays(
      `SELECT p.name, o.supplier FROM parts p JOIN offers o
         ON o.part_id = p.id AND o.price = (SELECT min(i.price) FROM offers i WHERE i.part_id = p.id)
       ORDER BY 1, 2`,
    );
    expect(r.rows).toEqual([
      ["bolt", 11],
      ["gear", 10],
      ["nut", 10],
      ["nut", 12],
    ]);
    expect(r.explained.some((l) => /^\s+Filter o\.price = \$0|Filter price = \$0/.test(l))).toBe(
      true,
    );
  });

  it("answers a key without rows with the aggregate over none", async () => {
    const r = await bothWays(
      `SELECT p.name FROM parts p
       WHERE (SELECT count(*) FROM offers o WHERE o.part_id = p.id) = 0 ORDER BY 1`,
    );
    expect(r.rows).toEqual([["cog"], ["ghost"]]);
  });

  it("still refuses a key with two rows when an outer row looks it up", async () => {
    const sql = `SELECT p.name FROM parts p
       WHERE p.id < 3 AND (SELECT o.price FROM offers o WHERE o.part_id = p.id) > 0`;
    for (const limits of [{}, { dynamicFilterMaxKeys: 0 }]) {
      const err = (await run(sql, limits).catch((e) => e)) as EntenteError;
      expect(err.message).toMatch(/more than one row returned by a subquery/);
    }
  });

  it("runs the subquery whole when the outer keys are not fewer than its rows", async () => {
    const r = await bothWays(
      `SELECT o1.part_id FROM offers o1
       WHERE EXISTS (SELECT 1 FROM offers o2 WHERE o2.part_id = o1.part_id AND o2.price > 250)
       ORDER BY 1`,
    );
    expect(r.rows).toEqual(Array.from({ length: 49 }, (_, i) => [351 + i]));
    // 305 outer keys; the subquery was estimated at fewer rows.
    expect(subqueryRows(r.explained, 0, /Scan/)).toBe("(actual rows=49");
    expect(subqueryRows(r.explained, 2, /Scan/)).toBe("(never run)");
  });

  it("runs the subquery whole past the key cap or the memory it may hold", async () => {
    const sql = `SELECT p.name, length(p.note) FROM parts p WHERE p.size = 5
       AND EXISTS (SELECT 1 FROM offers o WHERE o.part_id = p.id) ORDER BY 1`;
    const expected = [
      ["bolt", 20_000],
      ["nut", 20_000],
    ];
    const reduced = await run(sql);
    expect(reduced.rows).toEqual(expected);
    expect(subqueryRows(reduced.explained, 2, /Scan/)).toBe("(actual rows=4");
    // Three outer rows read, then the fourth past a cap of two; or each row over what the
    // statement could hold four times over (the subquery's whole result takes ~35 KB).
    for (const limits of [{ dynamicFilterMaxKeys: 2 }, { maxBuildBytes: 150_000 }]) {
      const whole = await run(sql, limits);
      expect(whole.rows).toEqual(expected);
      expect(subqueryRows(whole.explained, 0, /Scan/)).toBe("(actual rows=306");
      expect(subqueryRows(whole.explained, 2, /Scan/)).toBe("(never run)");
    }
  });

  it("reads an input of exactly the key cap to its end, and reduces", async () => {
    const r = await run(
      `SELECT p.name FROM parts p WHERE p.size = 5
       AND EXISTS (SELECT 1 FROM offers o WHERE o.part_id = p.id) ORDER BY 1`,
      { dynamicFilterMaxKeys: 4 },
    );
    expect(r.rows).toEqual([["bolt"], ["nut"]]);
    expect(subqueryRows(r.explained, 2, /Scan .*offers/)).toBe("(actual rows=4");
  });

  it("does not fail on an outer key the predicate never computes", async () => {
    // Gear's key divides by zero, behind an OR that its own size already decides.
    const r = await bothWays(
      `SELECT p.name FROM parts p
       WHERE p.size = 9 OR EXISTS (SELECT 1 FROM offers o WHERE o.part_id = 10 / (p.size - 9))
       ORDER BY 1`,
    );
    expect(r.rows).toEqual([["gear"]]);
    expect(subqueryRows(r.explained, 2, /Scan .*offers/)).toBe("(actual rows=0");
  });

  it("runs a subquery read outside a filter first, as before", async () => {
    const r = await bothWays(
      `SELECT p.name, (SELECT max(o.price) FROM offers o WHERE o.part_id = p.id) AS top
       FROM parts p ORDER BY 1`,
    );
    expect(r.rows).toEqual([
      ["bolt", 5],
      ["cog", null],
      ["gear", 1],
      ["ghost", null],
      ["nut", 7],
    ]);
    expect(r.explained[0]).toBe("Subquery $0 (runs first)");
    expect(r.explained.some((l) => l.includes("for the keys of the rows"))).toBe(false);
  });
});

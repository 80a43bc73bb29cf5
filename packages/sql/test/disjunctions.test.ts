/** OR conditions: shared conjuncts become join keys, per-table parts become implied filters. */
import { describe, expect, it } from "vitest";
import { type PlanNode, planSql, type SourceInfo } from "../src/index.ts";
import {
  capabilities,
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  runSql,
} from "./helpers.ts";

const tables: MemoryTable[] = [
  {
    source: "a",
    name: "part",
    columns: [
      { name: "p_partkey", type: "integer" },
      { name: "p_brand", type: "text" },
      { name: "p_size", type: "integer" },
    ],
    rows: [
      [1, "b12", 1],
      [2, "b23", 5],
      [3, "b12", 20],
      [4, "b34", 3],
    ],
  },
  {
    source: "b",
    name: "lineitem",
    columns: [
      { name: "l_partkey", type: "integer" },
      { name: "l_quantity", type: "integer" },
    ],
    rows: [
      [1, 5],
      [1, 30],
      [2, 15],
      [3, 5],
      [4, 25],
      [null, 5],
    ],
  },
];

const Q19_SHAPE = `
  SELECT p_partkey, l_quantity FROM lineitem, part
  WHERE (p_partkey = l_partkey AND p_brand = 'b12' AND p_size BETWEEN 1 AND 5 AND l_quantity <= 10)
     OR (p_partkey = l_partkey AND p_brand = 'b23' AND l_quantity BETWEEN 10 AND 20)
     OR (p_partkey = l_partkey AND p_brand = 'b34' AND l_quantity > 20)
  ORDER BY 1, 2`;

function joins(node: PlanNode): Extract<PlanNode, { kind: "join" }>[] {
  const inputs =
    node.kind === "join" ? [node.left, node.right] : "input" in node ? [node.input] : [];
  return [...(node.kind === "join" ? [node] : []), ...inputs.flatMap(joins)];
}

describe("OR conditions", () => {
  it("turns a key every branch shares into a join key and answers as before", async () => {
    const sources: SourceInfo[] = [
      { name: "a", dialect: pgDialect, capabilities: NOTHING_PUSHED },
      { name: "b", dialect: pgDialect, capabilities: NOTHING_PUSHED },
    ];
    const catalog = memoryCatalog(tables, sources);
    const [join] = joins(planSql(Q19_SHAPE, catalog).plan.root);
    expect(join?.type).toBe("inner");
    expect(join?.leftKeys).toHaveLength(1);
    const r = await runSql(Q19_SHAPE, catalog, memoryRunner(tables));
    expect(r.rows).toEqual([
      [1, 5],
      [2, 15],
      [4, 25],
    ]);
  });

  it("sends each table the OR of its own branch conditions", () => {
    const sources: SourceInfo[] = [
      { name: "a", dialect: pgDialect, capabilities: capabilities() },
      { name: "b", dialect: pgDialect, capabilities: capabilities() },
    ];
    const { plan } = planSql(Q19_SHAPE, memoryCatalog(tables, sources));
    const [join] = joins(plan.root);
    const scans = [join?.left, join?.right].map((n) => (n?.kind === "scan" ? n : undefined));
    for (const scan of scans) expect(scan?.pushed.some((e) => e.k === "or")).toBe(true);
    // The OR itself still runs above the join, so the columns it reads are fetched.
    const fetched = scans.flatMap((scan) =>
      (scan?.columns ?? []).filter((_, i) => (scan?.needed[i] ?? 0) > 0).map((c) => c.name),
    );
    expect(fetched).toEqual(expect.arrayContaining(["p_brand", "p_size", "l_quantity"]));
  });
});

describe("WHERE conditions beside an outer join in a FROM list", () => {
  it("join the comma-listed tables on their keys instead of crossing them", async () => {
    const sources: SourceInfo[] = [
      { name: "a", dialect: pgDialect, capabilities: NOTHING_PUSHED },
      { name: "b", dialect: pgDialect, capabilities: NOTHING_PUSHED },
    ];
    const catalog = memoryCatalog(tables, sources);
    const sql = `SELECT l.l_partkey, l.l_quantity, n.p_brand FROM lineitem l, part p
      LEFT JOIN part n ON n.p_partkey = p.p_partkey + 1
      WHERE p.p_partkey = l.l_partkey ORDER BY 1, 2`;
    const crossJoins = joins(planSql(sql, catalog).plan.root).filter((j) => j.type === "cross");
    expect(crossJoins).toEqual([]);
    const r = await runSql(sql, catalog, memoryRunner(tables));
    expect(r.rows).toEqual([
      [1, 5, "b23"],
      [1, 30, "b23"],
      [2, 15, "b12"],
      [3, 5, "b34"],
      [4, 25, null],
    ]);
  });
});

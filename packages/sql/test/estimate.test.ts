/** Group estimates from distinct counts, and whole statements sent to one source. */
import { describe, expect, it } from "vitest";
import { type PlanNode, planSql, StaticCatalog } from "../src/index.ts";
import { capabilities, pgDialect } from "./helpers.ts";

const catalog = new StaticCatalog(
  [
    {
      source: "pg",
      schema: "public",
      name: "lineitem",
      columns: [
        { name: "l_returnflag", type: "text" },
        { name: "l_linestatus", type: "text" },
        { name: "l_orderkey", type: "integer" },
        { name: "l_comment", type: "text" },
        { name: "l_quantity", type: "decimal" },
        { name: "l_suppkey", type: "integer" },
      ],
      rowCount: 600_000,
      distinct: { l_returnflag: 3, l_linestatus: 2, l_orderkey: 150_000, l_suppkey: 5_000 },
    },
  ],
  [{ name: "pg", dialect: pgDialect, capabilities: capabilities() }],
);

/** The plan's first remote node (the pushed aggregate). */
function remoteOf(sql: string): Extract<PlanNode, { kind: "remote" }> {
  const find = (n: PlanNode): PlanNode | undefined =>
    n.kind === "remote" ? n : "input" in n ? find(n.input) : undefined;
  const node = find(planSql(sql, catalog).plan.root);
  if (node?.kind !== "remote") throw new Error(`no remote node for ${sql}`);
  return node;
}

describe("group estimates", () => {
  it("multiplies the keys' distinct counts (TPC-H Q1's flag and status)", () => {
    const q1 = remoteOf(
      "SELECT l_returnflag, l_linestatus, sum(l_quantity) FROM lineitem GROUP BY l_returnflag, l_linestatus",
    );
    expect(q1.estimate).toBe(6);
  });

  it("keeps the estimate at the input's rows, and a tenth of them for keys without counts", () => {
    const many = remoteOf("SELECT l_orderkey, count(*) FROM lineitem GROUP BY l_orderkey");
    expect(many.estimate).toBe(150_000);
    const unknown = remoteOf("SELECT l_comment, count(*) FROM lineitem GROUP BY l_comment");
    expect(unknown.estimate).toBe(60_000);
  });

  it("bounds the groups by the keys' distinct counts, whatever the filters keep", () => {
    // 5,000 suppliers at most, however many rows the filter keeps.
    const bySupplier = remoteOf(
      "SELECT l_suppkey, sum(l_quantity) FROM lineitem WHERE l_quantity > 5 GROUP BY l_suppkey",
    );
    expect(bySupplier.estimate).toBeLessThanOrEqual(5_000);
    expect(bySupplier.estimate).toBeGreaterThan(1_000);
  });

  it("sends a whole statement over one source with its ORDER BY", () => {
    const joined = "FROM lineitem a JOIN lineitem b ON a.l_orderkey = b.l_orderkey";
    const sorted = remoteOf(
      `SELECT a.l_returnflag, count(*) ${joined} GROUP BY a.l_returnflag ORDER BY 1 DESC`,
    );
    expect(sorted.describes).toBe("the whole statement");
    expect(sorted.statement.sql).toMatch(/ORDER BY/);
  });
});

/** Group estimates from distinct counts, and the few-rows hint they give a pushed statement. */
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
    expect(q1.statement.fewRows).toBe(true);
  });

  it("keeps the estimate at the input's rows, and a tenth of them for keys without counts", () => {
    const many = remoteOf("SELECT l_orderkey, count(*) FROM lineitem GROUP BY l_orderkey");
    expect(many.estimate).toBe(150_000);
    expect(many.statement.fewRows).toBeUndefined();
    const unknown = remoteOf("SELECT l_comment, count(*) FROM lineitem GROUP BY l_comment");
    expect(unknown.estimate).toBe(60_000);
    expect(remoteOf("SELECT count(*) FROM lineitem").statement.fewRows).toBe(true);
  });

  it("answers in one piece where the keys' distinct counts bound the groups within one batch", () => {
    // 5,000 suppliers at most, however many rows the filter keeps: within a 10,000-row batch.
    const bySupplier = remoteOf(
      "SELECT l_suppkey, sum(l_quantity) FROM lineitem WHERE l_quantity > 5 GROUP BY l_suppkey",
    );
    expect(bySupplier.estimate).toBeGreaterThan(1_000);
    expect(bySupplier.statement.fewRows).toBe(true);
    const pairs = remoteOf(
      "SELECT l_suppkey, l_returnflag, count(*) FROM lineitem GROUP BY l_suppkey, l_returnflag",
    );
    expect(pairs.statement.fewRows).toBeUndefined();
  });

  it("runs a whole statement in one piece where it aggregates into few groups or has a small LIMIT", () => {
    const joined = "FROM lineitem a JOIN lineitem b ON a.l_orderkey = b.l_orderkey";
    const few = remoteOf(`SELECT a.l_returnflag, count(*) ${joined} GROUP BY a.l_returnflag`);
    expect(few.describes).toBe("the whole statement");
    expect(few.statement.fewRows).toBe(true);
    expect(remoteOf(`SELECT a.l_comment ${joined} LIMIT 10`).statement.fewRows).toBe(true);
    // Read through a wrapping SELECT, one piece need not keep an ORDER BY's order.
    const ordered = remoteOf(`SELECT a.l_comment ${joined} ORDER BY a.l_comment LIMIT 10`);
    expect(ordered.statement.fewRows).toBeUndefined();
    // Few groups in order: the source finds them in one piece, the engine sorts them.
    const { root } = planSql(
      `SELECT a.l_returnflag, count(*) ${joined} GROUP BY a.l_returnflag ORDER BY 1 DESC`,
      catalog,
    ).plan;
    expect(root.kind).toBe("sort");
    const fewSorted = remoteOf(
      `SELECT a.l_returnflag, count(*) ${joined} GROUP BY a.l_returnflag ORDER BY 1 DESC`,
    );
    expect(fewSorted.describes).toBe("the whole statement");
    expect(fewSorted.statement.fewRows).toBe(true);
    expect(fewSorted.statement.sql).not.toMatch(/ORDER BY/);
    const many = remoteOf(`SELECT a.l_orderkey, count(*) ${joined} GROUP BY a.l_orderkey`);
    expect(many.statement.fewRows).toBeUndefined();
    expect(remoteOf(`SELECT a.l_comment ${joined}`).statement.fewRows).toBeUndefined();
  });
});

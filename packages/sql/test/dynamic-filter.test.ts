/**
 * A join's dynamic filter: the build side's keys go to the probe scan unless it builds a whole
 * table or they are keys for a quarter of the probe table's rows.
 */
import { describe, expect, it } from "vitest";
import { type CatalogTable, planSql, type Row, runPlan, StaticCatalog } from "../src/index.ts";
import { capabilities, keyedScanRunner, NOTHING_PUSHED, pgDialect } from "./helpers.ts";

const users: Row[] = Array.from({ length: 200 }, (_, i) => [i + 1, i < 10 ? "US" : "DE"]);
const orders: Row[] = Array.from({ length: 500 }, (_, i) => [i + 1, (i % 100) + 1]);

const tables: (CatalogTable & { rows: Row[] })[] = [
  {
    source: "a",
    schema: "main",
    name: "users",
    columns: [
      { name: "id", type: "integer" },
      { name: "country", type: "text" },
    ],
    rowCount: users.length,
    distinct: { id: 200, country: 2 },
    rows: users,
  },
  {
    source: "b",
    schema: "main",
    name: "orders",
    columns: [
      { name: "id", type: "integer" },
      { name: "user_id", type: "integer" },
    ],
    rowCount: orders.length,
    distinct: { id: 500, user_id: 100 },
    rows: orders,
  },
];
// Users' predicates stay in the engine; orders' source takes the keys.
const catalog = new StaticCatalog(tables, [
  { name: "a", dialect: pgDialect, capabilities: NOTHING_PUSHED },
  { name: "b", dialect: pgDialect, capabilities: capabilities() },
]);

async function run(sql: string) {
  const { plan } = planSql(sql, catalog);
  const runner = keyedScanRunner(tables);
  const { batches } = runPlan(plan, catalog, runner, new AbortController().signal);
  const rows: Row[] = [];
  for await (const b of batches) rows.push(...b);
  const probe = runner.statements.filter((s) => s.includes('"orders"'));
  return { rows, probe };
}

describe("dynamic filters", () => {
  it("sends the keys of a filtered build side", async () => {
    const { rows, probe } = await run(
      "SELECT count(*) FROM users u JOIN orders o ON o.user_id = u.id WHERE u.country = 'US'",
    );
    expect(rows).toEqual([[50]]);
    expect(probe).toHaveLength(1);
    expect(probe[0]).toMatch(/"user_id" IN \(/);
  });

  it("reads the probe side whole when the keys are a quarter of its table's rows or more", async () => {
    // 190 German users' keys for 500 orders: the list would keep out too little to pay for itself.
    const { rows, probe } = await run(
      "SELECT o.id FROM users u JOIN orders o ON o.user_id = u.id WHERE u.country = 'DE'",
    );
    expect(rows).toHaveLength(450);
    expect(probe).toEqual(['SELECT "id", "user_id" FROM "main"."orders"']);
  });

  it("reads the probe side whole when the build side is a whole table", async () => {
    const { rows, probe } = await run("SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id");
    expect(rows).toHaveLength(500);
    expect(probe).toEqual(['SELECT "user_id" FROM "main"."orders"']);
    const { plan } = planSql("SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id", catalog);
    expect(JSON.stringify(plan.root)).not.toContain("dynamicFilter");
  });
});

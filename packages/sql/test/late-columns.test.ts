/**
 * Wide columns read after a top-N: a GROUP BY of a table's primary key and its other columns,
 * sorted and cut by LIMIT, reads those columns for the rows kept only — and answers what the
 * engine answers reading them all.
 */
import { describe, expect, it } from "vitest";
import {
  type CatalogTable,
  explainPlan,
  planSql,
  type Row,
  runPlan,
  StaticCatalog,
} from "../src/index.ts";
import { capabilities, keyedScanRunner, NOTHING_PUSHED, pgDialect } from "./helpers.ts";

const CUSTOMERS = 120;
const customers: Row[] = Array.from({ length: CUSTOMERS }, (_, i) => [
  i + 1,
  `name ${i % 7}`,
  i % 3 === 0 ? null : `note ${i}`,
  i % 4,
]);
// Orders of customers 1..130: the last ten have no customer row.
const orders: Row[] = Array.from({ length: 900 }, (_, i) => [i + 1, ((i * 7) % 130) + 1, i % 50]);
const regions: Row[] = [
  [0, 1, "north"],
  [1, 1, "south"],
  [2, 2, "east"],
  [3, 2, "west"],
];

type Table = CatalogTable & { rows: Row[] };
const tables: Table[] = [
  {
    source: "a",
    schema: "main",
    name: "customers",
    columns: [
      { name: "id", type: "integer" },
      { name: "name", type: "text" },
      { name: "note", type: "text" },
      { name: "region", type: "integer" },
    ],
    primaryKey: ["id"],
    rowCount: customers.length,
    distinct: { id: CUSTOMERS, name: 7, note: 80, region: 4 },
    rows: customers,
  },
  {
    source: "b",
    schema: "main",
    name: "orders",
    columns: [
      { name: "id", type: "integer" },
      { name: "customer", type: "integer" },
      { name: "amount", type: "integer" },
    ],
    primaryKey: ["id"],
    rowCount: orders.length,
    distinct: { id: orders.length, customer: 130, amount: 50 },
    rows: orders,
  },
  {
    source: "a",
    schema: "main",
    name: "regions",
    columns: [
      { name: "region", type: "integer" },
      { name: "zone", type: "integer" },
      { name: "label", type: "text" },
    ],
    primaryKey: ["region", "zone"],
    rowCount: regions.length,
    rows: regions,
  },
];

/** Source a takes filters (so keys), source b nothing; neither joins nor aggregates. */
function catalogOf(list: Table[]) {
  return new StaticCatalog(list, [
    {
      name: "a",
      dialect: pgDialect,
      capabilities: capabilities({ aggregates: false, joins: false, limit: false }),
    },
    { name: "b", dialect: pgDialect, capabilities: NOTHING_PUSHED },
  ]);
}
const catalog = catalogOf(tables);

async function run(sql: string, pushdown = true, list: Table[] = tables) {
  const cat = list === tables ? catalog : catalogOf(list);
  const { plan } = planSql(sql, cat, [], { pushdown });
  const runner = keyedScanRunner(list);
  const { batches } = runPlan(plan, cat, runner, new AbortController().signal);
  const rows: Row[] = [];
  for await (const b of batches) rows.push(...b);
  const reads = runner.statements.filter((s) => s.includes('"customers"'));
  return { rows, reads, explain: explainPlan(plan, cat).plan };
}

/** The statement's rows with the late read, checked against the engine reading every column. */
async function lateAndWhole(sql: string, list: Table[] = tables) {
  const late = await run(sql, true, list);
  const whole = await run(sql, false, list);
  expect(late.rows).toEqual(whole.rows);
  return late;
}

const TOP_SPENDERS = `SELECT c.id, c.name, sum(o.amount) AS spent, c.note
  FROM customers c JOIN orders o ON o.customer = c.id
  GROUP BY c.id, c.name, c.note ORDER BY spent DESC, c.id LIMIT 5`;

describe("wide columns read after a top-N", () => {
  it("groups by the key, keeps the top rows, then reads their text by key", async () => {
    const { rows, reads, explain } = await lateAndWhole(TOP_SPENDERS);
    expect(rows).toHaveLength(5);
    expect(reads).toHaveLength(2);
    expect(reads[0]).not.toMatch(/"name"|"note"/);
    expect(reads[1]).toMatch(/"name".*"note".* IN \(/);
    expect(explain).toMatch(/HashJoin left/);
  });

  it("keeps NULL text and skips rows by OFFSET as the whole read does", async () => {
    const { rows, reads } = await lateAndWhole(
      `${TOP_SPENDERS.replace("LIMIT 5", "LIMIT 6 OFFSET 4")}`,
    );
    expect(rows).toHaveLength(6);
    expect(rows.some((r) => r[3] === null)).toBe(true);
    expect(reads).toHaveLength(2);
  });

  it("keeps the group of a NULL key, from the outer side of a left join, with NULLs", async () => {
    const { rows, reads } = await lateAndWhole(
      `SELECT c.id, c.name, count(*) AS n FROM orders o LEFT JOIN customers c ON c.id = o.customer
        GROUP BY c.id, c.name ORDER BY n DESC, c.id NULLS FIRST LIMIT 4`,
    );
    const orphans = orders.filter((o) => (o[1] as number) > CUSTOMERS).length;
    expect(rows[0]).toEqual([null, null, orphans]);
    expect(reads).toHaveLength(2);
  });

  it("reads a column grouped under two names late for both, or for neither", async () => {
    const twice = `SELECT x.id, x.name, sum(o.amount) AS spent, x.alias
      FROM (SELECT id, name, name AS alias FROM customers) x JOIN orders o ON o.customer = x.id
      GROUP BY x.id, x.name, x.alias ORDER BY spent DESC, x.id LIMIT 5`;
    expect((await lateAndWhole(twice)).reads).toHaveLength(2);
    for (const sql of [
      twice.replace("x.alias\n", "upper(x.alias)\n"),
      twice.replace("ORDER BY spent DESC", "ORDER BY x.alias, spent DESC"),
      twice.replace("x.alias ORDER BY", "x.alias HAVING x.alias <> 'zzz' ORDER BY"),
    ]) {
      const { rows, reads } = await lateAndWhole(sql);
      expect(rows, sql).toHaveLength(5);
      expect(
        rows.every((r) => r[1] !== null && r[3] !== null),
        sql,
      ).toBe(true);
      expect(reads[0], sql).toMatch(/"name"/);
    }
  });

  it("reads by a composite key", async () => {
    const { rows } = await lateAndWhole(
      `SELECT r.region, r.zone, r.label, count(*) AS n
         FROM customers c JOIN regions r ON r.region = c.region
        GROUP BY r.region, r.zone, r.label ORDER BY n DESC, r.region LIMIT 1`,
    );
    expect(rows).toHaveLength(1);
  });

  it("reads them with the groups where the statement sorts, tests or computes with them", async () => {
    for (const sql of [
      TOP_SPENDERS.replace("ORDER BY spent DESC", "ORDER BY c.name, spent DESC"),
      TOP_SPENDERS.replace(
        "GROUP BY c.id, c.name, c.note",
        "GROUP BY c.id, c.name, c.note HAVING c.name <> 'name 1'",
      ),
      TOP_SPENDERS.replace("SELECT c.id, c.name", "SELECT c.id, upper(c.name)"),
    ]) {
      const { reads } = await lateAndWhole(sql);
      expect(reads, sql).toHaveLength(1);
      expect(reads[0], sql).toMatch(/"name".*"note"/);
    }
    // A join condition reads the note: only the name waits for the top rows.
    const { reads } = await lateAndWhole(
      TOP_SPENDERS.replace(
        "JOIN orders o ON o.customer = c.id",
        "JOIN orders o ON o.customer = c.id AND length(c.note) < o.amount",
      ),
    );
    expect(reads).toHaveLength(2);
    expect(reads[0]).toMatch(/"note"/);
    expect(reads[0]).not.toMatch(/"name"/);
  });

  it("reads them with the groups without a primary key or a limit", async () => {
    const keyless = tables.map((t) =>
      t.name === "customers" ? { ...t, primaryKey: [] as string[] } : t,
    );
    expect((await lateAndWhole(TOP_SPENDERS, keyless)).reads).toHaveLength(1);
    expect((await lateAndWhole(TOP_SPENDERS.replace(" LIMIT 5", ""))).reads).toHaveLength(1);
  });
});

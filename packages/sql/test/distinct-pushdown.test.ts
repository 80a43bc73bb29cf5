/**
 * One table's DISTINCT rows are found by its source: an EXISTS key set ships distinct keys, or per
 * key the extremes of the value it compares.
 */
import { expect, it } from "vitest";
import { explainSql } from "../src/index.ts";
import { capabilities, memoryCatalog, mysqlDialect, pgDialect, rowsOver } from "./helpers.ts";

const lineitem = (source: string) => ({
  source,
  name: "lineitem",
  columns: [
    { name: "l_orderkey", type: "integer" as const },
    { name: "l_commitdate", type: "date" as const },
    { name: "l_receiptdate", type: "date" as const },
    { name: "l_comment", type: "text" as const },
  ],
  rows: [],
});
const orders = {
  source: "other",
  name: "orders",
  columns: [{ name: "o_orderkey", type: "integer" as const }],
  rows: [],
};
const Q4_EXISTS =
  "SELECT count(*) FROM orders WHERE EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)";

it("sends an EXISTS key set's DISTINCT to the table's source", () => {
  const catalog = memoryCatalog(
    [lineitem("pg"), orders],
    [
      { name: "pg", dialect: pgDialect, capabilities: capabilities() },
      { name: "other", dialect: pgDialect, capabilities: capabilities() },
    ],
  );
  const { sources } = explainSql(Q4_EXISTS, catalog);
  expect(sources.find((s) => s.source === "pg")?.sql).toMatch(
    /^SELECT DISTINCT .*"l_commitdate" < /,
  );
});

it("keeps DISTINCT of text in the engine where the source compares text without case", () => {
  const catalog = memoryCatalog(
    [lineitem("my"), orders],
    [
      {
        name: "my",
        dialect: mysqlDialect,
        capabilities: capabilities({ textComparison: "case-insensitive" }),
      },
      { name: "other", dialect: pgDialect, capabilities: capabilities() },
    ],
  );
  const { sources } = explainSql("SELECT DISTINCT l_comment FROM lineitem", catalog);
  expect(sources.find((s) => s.source === "my")?.sql).not.toMatch(/DISTINCT/);
});

it("sends an EXISTS correlated by one comparison a grouped least and greatest per key", () => {
  const catalog = memoryCatalog(
    [lineitem("pg"), orders],
    [
      { name: "pg", dialect: pgDialect, capabilities: capabilities() },
      { name: "other", dialect: pgDialect, capabilities: capabilities() },
    ],
  );
  // TPC-H Q21's shape: only each order's earliest and latest commit date can decide it.
  const { sources } = explainSql(
    "SELECT count(*) FROM orders, lineitem l1 WHERE o_orderkey = l1.l_orderkey AND EXISTS (SELECT * FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey AND l2.l_commitdate <> l1.l_commitdate)",
    catalog,
  );
  const keySet = sources.filter((s) => s.source === "pg").map((s) => s.sql);
  expect(keySet.some((sql) => /min\(.*max\(.*GROUP BY/i.test(sql))).toBe(true);
});

it("keeps the least and greatest of booleans in the engine (PostgreSQL has no min(boolean))", async () => {
  const flagged = (source: string) => ({
    source,
    name: source === "pg" ? "a" : "b",
    columns: [
      { name: "id", type: "integer" as const },
      { name: "flag", type: "boolean" as const },
    ],
    rows: [],
  });
  const catalog = memoryCatalog(
    [flagged("pg"), flagged("other")],
    [
      { name: "pg", dialect: pgDialect, capabilities: capabilities() },
      { name: "other", dialect: pgDialect, capabilities: capabilities() },
    ],
  );
  const { sources } = explainSql(
    "SELECT id FROM b WHERE EXISTS (SELECT 1 FROM a WHERE a.id = b.id AND a.flag <> b.flag)",
    catalog,
  );
  expect(sources.find((s) => s.source === "pg")?.sql).not.toMatch(/MIN\(/i);
  // And the engine's least and greatest of booleans decide it: false < true.
  const rows = rowsOver([
    {
      ...flagged("pg"),
      rows: [
        [1, true],
        [2, true],
        [2, false],
        [3, false],
        [4, null],
      ],
    },
    {
      ...flagged("other"),
      rows: [
        [1, true],
        [2, true],
        [3, true],
        [4, true],
        [5, true],
      ],
    },
  ]);
  const ids = async (sql: string) => (await rows(sql)).map((r) => r[0]);
  expect(
    await ids(
      "SELECT id FROM b WHERE EXISTS (SELECT 1 FROM a WHERE a.id = b.id AND a.flag <> b.flag) ORDER BY id",
    ),
  ).toEqual([2, 3]);
  expect(
    await ids(
      "SELECT id FROM b WHERE NOT EXISTS (SELECT 1 FROM a WHERE a.id = b.id AND a.flag < b.flag) ORDER BY id",
    ),
  ).toEqual([1, 4, 5]);
});

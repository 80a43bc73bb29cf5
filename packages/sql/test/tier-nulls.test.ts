/** A hot tier that takes NULL times: no move takes those rows, so they are read from hot. */
import { describe, expect, it } from "vitest";
import { type LogicalTable, type Row, type SourceInfo, StaticCatalog } from "../src/index.ts";
import { type MemoryTable, memoryRunner, NOTHING_PUSHED, pgDialect, runSql } from "./helpers.ts";

const columns = [
  { name: "id", type: "integer" as const },
  { name: "ts", type: "date" as const },
];
const hotRows: Row[] = [
  [1, null],
  [2, "2025-02-01"],
  // Still in hot though already below the boundary: a copy not yet deleted.
  [3, "2025-01-01"],
];
const coldRows: Row[] = [
  [3, "2025-01-01"],
  [4, "2024-12-01"],
];
const memory: MemoryTable[] = [
  { source: "hot", name: "events", columns, rows: hotRows },
  { source: "cold", name: "events", columns, rows: coldRows },
];
const sources: SourceInfo[] = ["hot", "cold"].map((name) => ({
  name,
  dialect: pgDialect,
  capabilities: NOTHING_PUSHED,
}));
const physical = memory.map((t) => ({
  source: t.source,
  schema: "main",
  name: t.name,
  columns,
  rowCount: t.rows.length,
}));
const tiered: LogicalTable = {
  name: "tiered",
  kind: "tiered",
  columns,
  members: [
    {
      label: "hot",
      table: physical[0] as (typeof physical)[number],
      constraint: {
        kind: "range",
        column: "ts",
        from: "2025-01-15",
        enforce: true,
        nulls: true,
      },
    },
    {
      label: "cold",
      table: physical[1] as (typeof physical)[number],
      constraint: { kind: "range", column: "ts", to: "2025-01-15", enforce: true },
    },
  ],
};
const catalog = new StaticCatalog(physical, sources, {}, [tiered]);

const ids = async (sql: string) =>
  (await runSql(sql, catalog, memoryRunner(memory))).rows.map((r) => r[0]).sort();

describe("a hot tier that takes NULL times", () => {
  it("reads its NULL-time rows once, and each other row from one tier", async () => {
    expect(await ids("SELECT id FROM tiered")).toEqual([1, 2, 3, 4]);
    expect(await ids("SELECT id FROM tiered WHERE ts IS NULL")).toEqual([1]);
    expect(await ids("SELECT id FROM tiered WHERE ts < '2025-01-20'")).toEqual([3, 4]);
  });
});

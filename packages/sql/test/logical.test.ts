import { encodeId } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  explainPlan,
  hashBucket,
  type LogicalTable,
  membersFor,
  planSql,
  type Row,
  type SourceInfo,
  StaticCatalog,
} from "../src/index.ts";
import { type MemoryTable, memoryRunner, NOTHING_PUSHED, pgDialect, runSql } from "./helpers.ts";

const sources: SourceInfo[] = ["hot", "cold", "s0", "s1", "s2", "all"].map((name) => ({
  name,
  dialect: pgDialect,
  capabilities: NOTHING_PUSHED,
}));

const DAY = 86_400_000_000_000n;
const BOUNDARY = 20_000n * DAY; // 2024-10-04
const columns = [
  { name: "id", type: "bigint" as const },
  { name: "kind", type: "text" as const },
  { name: "ts", type: "timestamp" as const },
];

// 120 events, ids spread over three regions, one a day around the boundary.
const events: Row[] = Array.from({ length: 120 }, (_, i) => [
  encodeId(1 + (i % 3), BigInt(i + 1)),
  ["click", "view", "buy"][i % 3] as string,
  BOUNDARY + BigInt(i - 60) * DAY,
]);

function table(source: string, name: string, rows: Row[]): MemoryTable {
  return { source, name, columns, rows };
}

const memory: MemoryTable[] = [
  table("all", "events", events),
  // The hot tier still holds five days that were already copied to the cold tier.
  table(
    "hot",
    "events_hot",
    events.filter((r) => (r[2] as bigint) >= BOUNDARY - 5n * DAY),
  ),
  table(
    "cold",
    "events_cold",
    events.filter((r) => (r[2] as bigint) < BOUNDARY),
  ),
  ...[0, 1, 2].map((b) =>
    table(
      `s${b}`,
      "events_h",
      events.filter((r) => hashBucket(r[0], 3) === b),
    ),
  ),
  ...[1, 2, 3].map((region, j) =>
    table(
      `s${j}`,
      "events_r",
      events.filter((r) => Number((r[0] as bigint) >> 48n) === region),
    ),
  ),
  table(
    "s0",
    "events_lo",
    events.filter((r) => (r[0] as bigint) < encodeId(2, 0n)),
  ),
  table(
    "s1",
    "events_hi",
    events.filter((r) => (r[0] as bigint) >= encodeId(2, 0n)),
  ),
];

const physical = memory.map((t) => ({
  source: t.source,
  schema: "main",
  name: t.name,
  columns,
  rowCount: t.rows.length,
}));
const find = (source: string, name: string) =>
  physical.find((t) => t.source === source && t.name === name) as (typeof physical)[number];

const logical: LogicalTable[] = [
  {
    name: "tiered",
    kind: "tiered",
    columns,
    members: [
      {
        label: "hot",
        table: find("hot", "events_hot"),
        constraint: { kind: "range", column: "ts", from: BOUNDARY, enforce: true },
      },
      {
        label: "cold",
        table: find("cold", "events_cold"),
        constraint: { kind: "range", column: "ts", to: BOUNDARY, enforce: true },
      },
    ],
  },
  {
    name: "hashed",
    kind: "sharded",
    columns,
    members: [0, 1, 2].map((b) => ({
      label: `shard ${b}`,
      table: find(`s${b}`, "events_h"),
      constraint: { kind: "hash" as const, column: "id", buckets: 3, bucket: b },
    })),
  },
  {
    name: "regional",
    kind: "sharded",
    columns,
    members: [1, 2, 3].map((region, j) => ({
      label: `region ${region}`,
      table: find(`s${j}`, "events_r"),
      constraint: { kind: "region" as const, column: "id", regions: [region] },
    })),
  },
  {
    name: "ranged",
    kind: "sharded",
    columns,
    members: [
      {
        label: "low",
        table: find("s0", "events_lo"),
        constraint: { kind: "range", column: "id", to: encodeId(2, 0n), enforce: false },
      },
      {
        label: "high",
        table: find("s1", "events_hi"),
        constraint: { kind: "range", column: "id", from: encodeId(2, 0n), enforce: false },
      },
    ],
  },
];

const catalog = new StaticCatalog(physical, sources, { events: "all.main.events" }, logical);
const runner = memoryRunner(memory);
const canon = (rows: unknown[][]) =>
  rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? `${v}` : v))).sort();

const id = (region: number, seq: number) => encodeId(region, BigInt(seq)).toString();
const WHERES = [
  "",
  "WHERE ts >= '2024-10-01'",
  "WHERE ts < '2024-10-04'",
  "WHERE ts BETWEEN '2024-09-20' AND '2024-10-10'",
  `WHERE id = ${id(2, 2)}`,
  `WHERE id IN (${id(1, 1)}, ${id(3, 3)}, ${id(3, 6)})`,
  `WHERE id >= ${id(2, 0)} AND kind = 'buy'`,
  "WHERE kind = 'view' AND ts > '2024-10-02'",
];

describe("sharded and tiered tables", () => {
  for (const name of ["tiered", "hashed", "regional", "ranged"]) {
    it(`${name} returns what the unsplit table returns`, async () => {
      for (const where of WHERES) {
        const expected = await runSql(`SELECT id, kind, ts FROM events ${where}`, catalog, runner);
        const got = await runSql(`SELECT id, kind, ts FROM ${name} ${where}`, catalog, runner);
        expect(canon(got.rows), `${name} ${where}`).toEqual(canon(expected.rows));
        const agg = await runSql(
          `SELECT kind, count(*) FROM ${name} ${where} GROUP BY kind`,
          catalog,
          runner,
        );
        const aggExpected = await runSql(
          `SELECT kind, count(*) FROM events ${where} GROUP BY kind`,
          catalog,
          runner,
        );
        expect(canon(agg.rows)).toEqual(canon(aggExpected.rows));
      }
    });
  }

  it("prunes shards and tiers from the predicates and shows it in EXPLAIN", () => {
    const plan = (sql: string) => explainPlan(planSql(sql, catalog).plan, catalog).plan;
    expect(plan("SELECT * FROM tiered WHERE ts >= '2024-10-05'")).toContain(
      "tiered tiered: reads hot; pruned cold",
    );
    expect(plan("SELECT * FROM tiered WHERE ts BETWEEN '2024-09-01' AND '2024-10-05'")).toContain(
      "reads hot, cold",
    );
    expect(plan(`SELECT * FROM hashed WHERE id = ${id(2, 2)}`)).toMatch(
      /reads shard \d; pruned shard \d, shard \d/,
    );
    expect(plan(`SELECT * FROM regional WHERE id IN (${id(1, 1)}, ${id(3, 3)})`)).toContain(
      "reads region 1, region 3; pruned region 2",
    );
    expect(plan(`SELECT * FROM ranged WHERE id < ${id(1, 500)}`)).toContain(
      "reads low; pruned high",
    );
  });

  it("tells which tier serves a date", () => {
    const tiered = logical[0] as LogicalTable;
    expect(membersFor(tiered, BOUNDARY).map((m) => m.label)).toEqual(["hot"]);
    expect(membersFor(tiered, BOUNDARY - 1n).map((m) => m.label)).toEqual(["cold"]);
  });
});

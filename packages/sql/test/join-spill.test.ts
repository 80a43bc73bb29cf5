/**
 * Joins past the memory limit: both sides split by join key into partitions on disk and joined
 * a partition at a time (a grace hash join), answering as the join in memory does.
 */
import type { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import type { ExecLimits, SourceInfo, SourceRunner } from "../src/index.ts";
import { PARTITIONS, partitionOf } from "../src/spill-partitions.ts";
import {
  type MemoryTable,
  NOTHING_PUSHED,
  pgDialect,
  sortedRows,
  spillDirectory,
  watchedRunner,
} from "./helpers.ts";

const sources: SourceInfo[] = [{ name: "s", dialect: pgDialect, capabilities: NOTHING_PUSHED }];

/**
 * Customers and their orders: some customers without orders, some orders of no customer, NULL
 * keys on both sides, 64-bit amounts, and a region code for a second join key.
 */
function shop(customers: number, orders: number): MemoryTable[] {
  return [
    {
      source: "s",
      name: "customers",
      columns: [
        { name: "id", type: "integer" },
        { name: "region", type: "integer" },
        { name: "credit", type: "bigint" },
      ],
      rows: Array.from({ length: customers }, (_, i) => [
        i % 50 === 7 ? null : i,
        i % 5,
        BigInt(i % 97) * 1_000_000_000_000n,
      ]),
    },
    {
      source: "s",
      name: "orders",
      columns: [
        { name: "oid", type: "integer" },
        { name: "cust", type: "integer" },
        { name: "region", type: "integer" },
        { name: "amount", type: "bigint" },
      ],
      rows: Array.from({ length: orders }, (_, i) => {
        const cust = (i * 7919) % (customers + 500);
        return [
          i,
          i % 41 === 3 ? null : cust,
          i % 3 === 0 ? cust % 5 : (cust + 1) % 5,
          BigInt(i % 89) * 1_000_000_000_000n,
        ];
      }),
    },
  ];
}

const spillDir = spillDirectory();
const runFiles = spillDir.runFiles;

const answer = (
  tables: MemoryTable[],
  sql: string,
  limits: Partial<ExecLimits>,
  runner?: SourceRunner,
) => sortedRows(tables, sources, sql, limits, runner);

const tables = shop(6000, 9000);
const tight = { maxBuildRows: 1500 };
const spill = () => ({ ...tight, spill: spillDir.limits(200_000_000) });

describe("a join past the memory limit", () => {
  it.each([
    [
      "inner",
      "SELECT c.id, c.credit, o.oid, o.amount FROM customers c JOIN orders o ON o.cust = c.id",
    ],
    ["left", "SELECT c.id, o.oid FROM customers c LEFT JOIN orders o ON o.cust = c.id"],
    ["right", "SELECT c.id, o.oid FROM customers c RIGHT JOIN orders o ON o.cust = c.id"],
    ["full", "SELECT c.id, o.oid FROM customers c FULL JOIN orders o ON o.cust = c.id"],
    [
      "two keys",
      "SELECT c.id, o.oid FROM customers c JOIN orders o ON o.cust = c.id AND o.region = c.region",
    ],
    [
      "a residual",
      "SELECT c.id, o.oid FROM customers c LEFT JOIN orders o ON o.cust = c.id AND o.amount > c.credit",
    ],
    [
      "a full join with a residual",
      "SELECT c.id, o.oid FROM customers c FULL JOIN orders o ON o.cust = c.id AND o.amount < c.credit",
    ],
  ])("answers as in memory: %s", async (_, sql) => {
    const inMemory = await answer(tables, sql, {});
    expect(inMemory.length).toBeGreaterThan(2000);
    await expect(answer(tables, sql, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await answer(tables, sql, spill())).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("splits a partition that still does not fit again, a level deeper", async () => {
    const big = shop(40_000, 40_000);
    const sql = "SELECT c.id, o.oid FROM customers c LEFT JOIN orders o ON o.cust = c.id";
    const inMemory = await answer(big, sql, {});
    // 40,000 build rows in 32 partitions are about 1,250 each: more than 1,100 fit.
    const limits = { maxBuildRows: 1100, spill: spillDir.limits(500_000_000) };
    expect(await answer(big, sql, limits)).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("keeps more build rows without a key than memory holds, the join keeping them", async () => {
    const keyless = shop(6000, 9000);
    for (const r of keyless[0]?.rows ?? []) if ((r[0] as number) % 2 === 0) r[0] = null;
    for (const sql of [
      "SELECT c.id, c.region, o.oid FROM customers c LEFT JOIN orders o ON o.cust = c.id",
      "SELECT c.id, c.region, o.oid FROM customers c FULL JOIN orders o ON o.cust = c.id",
    ]) {
      const inMemory = await answer(keyless, sql, {});
      expect(await answer(keyless, sql, spill())).toEqual(inMemory);
    }
    expect(await runFiles()).toEqual([]);
  });

  it("ends with TOO_LARGE naming the join when one key has more rows than memory holds", async () => {
    const skewed = shop(3000, 3000);
    for (const t of skewed) for (const r of t.rows) r[t.name === "customers" ? 0 : 1] = 1;
    const sql = "SELECT c.id, o.oid FROM customers c JOIN orders o ON o.cust = c.id";
    const err = await answer(skewed, sql, { maxBuildRows: 1500, spill: spillDir.limits(5e8) })
      .then(() => undefined)
      .catch((e: EntenteError) => e);
    expect(err?.code).toBe("TOO_LARGE");
    expect(err?.message).toMatch(/a join's build side/);
    expect(await runFiles()).toEqual([]);
  });

  it("ends with TOO_LARGE naming the disk budget, its runs removed", async () => {
    const sql = "SELECT c.id, o.oid FROM customers c JOIN orders o ON o.cust = c.id";
    const runner = watchedRunner(tables);
    const err = await answer(tables, sql, { ...tight, spill: spillDir.limits(30_000) }, runner)
      .then(() => undefined)
      .catch((e: EntenteError) => e);
    expect(err?.code).toBe("TOO_LARGE");
    expect(err?.message).toMatch(/sqlJoin\.maxSpillBytes 30000/);
    expect(await runFiles()).toEqual([]);
    expect([...runner.open]).toEqual([]);
  });

  it("removes its runs when a LIMIT above it stops reading early", async () => {
    const sql = "SELECT c.id, o.oid FROM customers c JOIN orders o ON o.cust = c.id LIMIT 10";
    expect(await answer(tables, sql, spill())).toHaveLength(10);
    expect(await runFiles()).toEqual([]);
  });
});

describe("join partitions", () => {
  it("put equal keys together and spread keys evenly, differently at each level", () => {
    const counts = new Array(PARTITIONS).fill(0);
    for (let k = 0; k < 32_000; k++) counts[partitionOf(k, 0)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    for (const c of counts) expect(c).toBeLessThan(1200);
    expect(partitionOf("a|b", 1)).toBe(partitionOf("a|b", 1));
    // The keys of one partition spread over all partitions a level deeper.
    const deeper = new Set<number>();
    for (let k = 0; k < 32_000; k++) if (partitionOf(k, 0) === 5) deeper.add(partitionOf(k, 1));
    expect(deeper.size).toBe(PARTITIONS);
  });
});

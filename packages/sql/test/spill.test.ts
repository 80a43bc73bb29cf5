/** ORDER BY, GROUP BY, DISTINCT, INTERSECT, EXCEPT and windows past the memory limit: runs on disk, read back, removed when done. */
import type { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { type ExecLimits, planSql, runPlan, type SourceInfo } from "../src/index.ts";
import { mergeSorted } from "../src/spill.ts";
import {
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  rowsUnder,
  sortedRows,
  spillDirectory,
} from "./helpers.ts";

const sources: SourceInfo[] = [{ name: "s", dialect: pgDialect, capabilities: NOTHING_PUSHED }];
/** 5,000 rows in a scrambled order, with a 64-bit column and NULLs. */
const tables: MemoryTable[] = [
  {
    source: "s",
    name: "events",
    columns: [
      { name: "id", type: "integer" },
      { name: "big", type: "bigint" },
      { name: "label", type: "text" },
    ],
    rows: Array.from({ length: 5000 }, (_, i) => {
      const id = (i * 7919) % 5000;
      return [id, id % 13 === 0 ? null : BigInt(id) * 1_000_000_000_000_000n, `e${id % 97}`];
    }),
  },
];

/** 80,000 rows of 60,000 scrambled ids: partitions of one split are still too big. */
const many: MemoryTable[] = [
  {
    source: "s",
    name: "events",
    columns: [{ name: "id", type: "integer" }],
    rows: Array.from({ length: 80_000 }, (_, i) => [(i * 7919) % 60_000]),
  },
];

const spillDir = spillDirectory();
const runFiles = spillDir.runFiles;

const rows = (sql: string, limits: Partial<ExecLimits>) => rowsUnder(tables, sources, sql, limits);

const SORT = "SELECT id, big, label FROM events ORDER BY label DESC, big NULLS FIRST, id";

describe("ORDER BY spilling", () => {
  it("answers as the in-memory sort does, past a memory limit it would fail at", async () => {
    const inMemory = await rows(SORT, {});
    const tight = { maxBuildRows: 1500 };
    await expect(rows(SORT, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
    const spilled = await rows(SORT, { ...tight, spill: spillDir.limits(50_000_000) });
    expect(spilled).toEqual(inMemory);
    expect(spilled.some((r) => typeof r[1] === "bigint")).toBe(true);
    expect(await runFiles()).toEqual([]);
  });

  it("removes its runs when a LIMIT above it stops reading early", async () => {
    const top = await rows(`${SORT} LIMIT 10`, {
      maxBuildRows: 1500,
      spill: spillDir.limits(50_000_000),
    });
    expect(top).toEqual((await rows(SORT, {})).slice(0, 10));
    expect(await runFiles()).toEqual([]);
  });

  it("ends with TOO_LARGE naming the disk budget when the runs would exceed it", async () => {
    const err = await rows(SORT, { maxBuildRows: 1500, spill: spillDir.limits(20_000) }).catch(
      (e: EntenteError) => e,
    );
    expect((err as EntenteError).code).toBe("TOO_LARGE");
    expect((err as EntenteError).message).toMatch(/sqlJoin\.maxSpillBytes 20000/);
    expect(await runFiles()).toEqual([]);
  });
});

describe("ORDER BY spilling over many runs", () => {
  it("merges more runs than it reads at once in passes, answering the same", async () => {
    const many: MemoryTable[] = [
      {
        source: "s",
        name: "events",
        columns: [{ name: "id", type: "integer" }],
        rows: Array.from({ length: 80_000 }, (_, i) => [(i * 7919) % 80_000]),
      },
    ];
    const catalog = memoryCatalog(many, sources);
    const { plan } = planSql("SELECT id FROM events ORDER BY id DESC", catalog);
    const { batches } = runPlan(plan, catalog, memoryRunner(many), new AbortController().signal, {
      batchRows: 5000,
      maxBuildRows: 1000,
      spill: spillDir.limits(100_000_000),
    });
    let expected = 79_999;
    for await (const b of batches) for (const [id] of b) expect(id).toBe(expected--);
    expect(expected).toBe(-1);
    expect(await runFiles()).toEqual([]);
  });
});

describe("GROUP BY spilling", () => {
  const GROUPED =
    "SELECT label, id % 700 AS k, count(*), sum(big), min(id), count(DISTINCT id % 3) FROM events GROUP BY label, id % 700 ORDER BY 1, 2";
  const ROLLED =
    "SELECT label, id % 100 AS k, count(*), max(big) FROM events GROUP BY ROLLUP (label, id % 100) ORDER BY 1, 2";

  it("answers as in memory when the groups do not fit, however they are grouped", async () => {
    for (const sql of [GROUPED, ROLLED]) {
      const inMemory = await rows(sql, {});
      const tight = { maxBuildRows: 1200 };
      await expect(rows(sql, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
      const spilled = await rows(sql, { ...tight, spill: spillDir.limits(50_000_000) });
      expect(spilled).toEqual(inMemory);
      expect(await runFiles()).toEqual([]);
    }
  });
});

describe("GROUP BY spilling tells groups apart as GROUP BY does", () => {
  const odd: MemoryTable[] = [
    {
      source: "s",
      name: "odd",
      columns: [
        { name: "v", type: "double" },
        { name: "j", type: "json" },
        { name: "a", type: "integer" },
      ],
      rows: Array.from({ length: 3000 }, (_, i) => [
        i % 7 === 0 ? Number.NaN : (i % 9) * 0.5,
        { k: i % 4 },
        i % 3,
      ]),
    },
  ];
  const grouped = (sql: string, limits: Partial<ExecLimits>) =>
    sortedRows(odd, sources, sql, limits);

  it.each([
    "SELECT v, count(*) FROM odd GROUP BY v",
    "SELECT j, count(*) FROM odd GROUP BY j",
    "SELECT a, count(*) FROM odd GROUP BY ROLLUP (a)",
  ])("%s", async (sql) => {
    const inMemory = await grouped(sql, {});
    const spilled = await grouped(sql, { maxBuildRows: 2, spill: spillDir.limits(50_000_000) });
    expect(spilled).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });
});

describe("DISTINCT spilling", () => {
  /** DISTINCT's order is any order. */
  const sorted = (sql: string, limits: Partial<ExecLimits>, table = tables) =>
    sortedRows(table, sources, sql, limits);

  it.each([
    "SELECT DISTINCT label, id % 1500 FROM events",
    "SELECT DISTINCT big FROM events",
    "SELECT label, id % 2000 FROM events UNION SELECT label, id % 1700 FROM events",
  ])("answers as in memory past the limit: %s", async (sql) => {
    const inMemory = await sorted(sql, {});
    expect(inMemory.length).toBeGreaterThan(1500);
    const tight = { maxBuildRows: 1200 };
    await expect(sorted(sql, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await sorted(sql, { ...tight, spill: spillDir.limits(50_000_000) })).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("splits a partition that still does not fit again, a level deeper", async () => {
    const sql = "SELECT DISTINCT id FROM events";
    const inMemory = await sorted(sql, {}, many);
    expect(inMemory).toHaveLength(60_000);
    // 60,000 keys in 32 partitions are about 1,900 each: more than 1,100 fit.
    const limits = { maxBuildRows: 1100, spill: spillDir.limits(100_000_000) };
    expect(await sorted(sql, limits, many)).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it.each([
    "SELECT DISTINCT ON (id % 2000) id % 2000, label FROM events ORDER BY id % 2000, label DESC",
    // A repeated key counts once: the rows still arrive grouped.
    "SELECT DISTINCT ON (id % 2000, label) id % 2000, label FROM events ORDER BY id % 2000, id % 2000, label",
  ])("runs DISTINCT ON after its sort holding one key: %s", async (sql) => {
    const inMemory = await rows(sql, {});
    expect(inMemory.length).toBeGreaterThanOrEqual(2000);
    expect(await rows(sql, { maxBuildRows: 1200, spill: spillDir.limits(50_000_000) })).toEqual(
      inMemory,
    );
    expect(await runFiles()).toEqual([]);
  });

  it("spills DISTINCT ON without ORDER BY as DISTINCT, keeping each value's first row", async () => {
    // The first row of each value in the order the rows arrive, as in memory.
    const sql = "SELECT DISTINCT ON (id % 2000) id % 2000, id, label FROM events";
    const inMemory = await sorted(sql, {});
    expect(inMemory).toHaveLength(2000);
    const tight = { maxBuildRows: 1200 };
    await expect(sorted(sql, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await sorted(sql, { ...tight, spill: spillDir.limits(50_000_000) })).toEqual(inMemory);
    // Partitions still too big split again.
    const deeper = "SELECT DISTINCT ON (id) id FROM events";
    const limits = { maxBuildRows: 1100, spill: spillDir.limits(100_000_000) };
    expect(await sorted(deeper, limits, many)).toEqual(await sorted(deeper, {}, many));
    expect(await runFiles()).toEqual([]);
  });

  it("removes its runs when a LIMIT above it stops reading early", async () => {
    const sql = "SELECT DISTINCT label, id % 1500 FROM events LIMIT 1400";
    const limited = await sorted(sql, { maxBuildRows: 1200, spill: spillDir.limits(50_000_000) });
    expect(limited).toHaveLength(1400);
    expect(await runFiles()).toEqual([]);
  });
});

describe("INTERSECT and EXCEPT spilling", () => {
  /** A set operation's order is any order. */
  const sorted = (sql: string, limits: Partial<ExecLimits>, table = tables) =>
    sortedRows(table, sources, sql, limits);
  // The spill directory exists once the tests run.
  const spilling = () => ({ maxBuildRows: 1200, spill: spillDir.limits(50_000_000) });

  it.each([
    // The right side's rows (or counts) fill the budget.
    "SELECT label, id % 2000 FROM events INTERSECT SELECT label, id % 1700 FROM events",
    "SELECT label, id % 2000 FROM events EXCEPT SELECT label, id % 1700 FROM events",
    "SELECT id % 1500 FROM events INTERSECT ALL SELECT id % 1300 FROM events",
    "SELECT id % 1500 FROM events EXCEPT ALL SELECT id % 1300 FROM events",
    "SELECT big, label FROM events EXCEPT ALL SELECT big, label FROM events WHERE id % 3 = 0",
    // The rows sent on fill it: the right side fits, the left side's distinct rows do not.
    "SELECT id, label FROM events EXCEPT SELECT id, label FROM events WHERE id < 100",
    "SELECT id FROM events INTERSECT SELECT id FROM events WHERE id > 100",
  ])("answers as in memory past the limit: %s", async (sql) => {
    const inMemory = await sorted(sql, {});
    await expect(sorted(sql, { maxBuildRows: 1200 })).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await sorted(sql, spilling())).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("splits a partition that still does not fit again, a level deeper", async () => {
    const sql = "SELECT id FROM events EXCEPT SELECT id FROM events WHERE id % 4 = 0";
    const inMemory = await sorted(sql, {}, many);
    expect(inMemory).toHaveLength(45_000);
    // 15,000 right values fill the budget; in 32 partitions each holds about 470 of them and
    // sends on about 1,400 left values: more than 1,100 fit, so each splits again.
    const limits = { maxBuildRows: 1100, spill: spillDir.limits(100_000_000) };
    expect(await sorted(sql, limits, many)).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("removes its runs when a LIMIT above it stops reading early", async () => {
    const sql = "SELECT id % 1500 FROM events INTERSECT ALL SELECT id % 1300 FROM events LIMIT 10";
    expect(await sorted(sql, spilling())).toHaveLength(10);
    expect(await runFiles()).toEqual([]);
  });
});

describe("window function spilling", () => {
  const sorted = (sql: string, limits: Partial<ExecLimits>) =>
    sortedRows(tables, sources, sql, limits);
  const spilling = () => ({ maxBuildRows: 1200, spill: spillDir.limits(50_000_000) });

  it.each([
    "SELECT id, label, row_number() OVER (PARTITION BY label ORDER BY id), sum(id) OVER (PARTITION BY g, label) FROM (SELECT id, label, id % 3 AS g FROM events) e",
    "SELECT id, big, rank() OVER (PARTITION BY g ORDER BY big NULLS FIRST), lag(id) OVER (PARTITION BY g ORDER BY id) FROM (SELECT id, big, id % 100 AS g FROM events) e",
  ])("splits by the partition key the calls share, past the limit: %s", async (sql) => {
    const inMemory = await sorted(sql, {});
    await expect(sorted(sql, { maxBuildRows: 1200 })).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await sorted(sql, spilling())).toEqual(inMemory);
    expect(await runFiles()).toEqual([]);
  });

  it("stays in memory when the calls share no partition key: past the limit it is TOO_LARGE", async () => {
    const sql =
      "SELECT id, row_number() OVER (PARTITION BY label ORDER BY id), count(*) OVER () FROM events";
    await expect(sorted(sql, spilling())).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(await runFiles()).toEqual([]);
  });
});

describe("merging sorted streams", () => {
  async function* chunks(values: number[], size: number) {
    for (let i = 0; i < values.length; i += size) yield values.slice(i, i + size);
  }

  it("merges any number of sorted streams, empty ones included", async () => {
    const streams = [
      chunks([1, 4, 9, 12], 2),
      chunks([], 3),
      chunks([2, 3, 10], 1),
      chunks([0, 5, 6, 7, 8, 11], 4),
    ];
    const out: number[] = [];
    for await (const b of mergeSorted(
      streams,
      (a, b) => a - b,
      5,
      async () => {},
    )) {
      expect(b.length).toBeLessThanOrEqual(5);
      out.push(...b);
    }
    expect(out).toEqual(Array.from({ length: 13 }, (_, i) => i));
  });
});

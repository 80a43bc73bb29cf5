/**
 * Tiered tables with a lifecycle: the configuration, and a boundary that is the watermark the
 * last move committed, read again before each statement.
 */
import { DuckdbConnector } from "@entente/connectors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveCatalog } from "../src/catalog.ts";
import { lifecycleTablesOf, logicalTablesSchema } from "../src/logical-config.ts";

const tiers = {
  column: "created_at",
  hot: "hot.main.events",
  cold: "cold.main.events",
};

describe("lifecycle configuration", () => {
  it("defaults to 30 days hot, two years cold, hourly moves and a five-minute grace", () => {
    const config = logicalTablesSchema.parse({ events: { tiers: { ...tiers, lifecycle: {} } } });
    expect(lifecycleTablesOf(config ?? {})).toEqual([
      {
        table: "events",
        ...tiers,
        hotRetentionDays: 30,
        coldRetentionDays: 730,
        everyMs: 3_600_000,
        graceMs: 300_000,
        partitionBy: undefined,
      },
    ]);
  });

  it("takes periods, on-demand moves and a partitioning", () => {
    const config = logicalTablesSchema.parse({
      events: {
        tiers: {
          ...tiers,
          lifecycle: {
            hotRetention: "7 days",
            coldRetention: "365 days",
            every: "off",
            graceMs: 0,
            partitionBy: [{ column: "created_at", transform: "day" }],
          },
        },
      },
    });
    expect(lifecycleTablesOf(config ?? {})[0]).toMatchObject({
      hotRetentionDays: 7,
      coldRetentionDays: 365,
      everyMs: undefined,
      graceMs: 0,
      partitionBy: [{ column: "created_at", transform: "day" }],
    });
    const every15 = logicalTablesSchema.parse({
      events: { tiers: { ...tiers, lifecycle: { every: "15 minutes" } } },
    });
    expect(lifecycleTablesOf(every15 ?? {})[0]?.everyMs).toBe(900_000);
  });

  it("refuses a boundary beside a lifecycle, neither, and retentions that make no sense", () => {
    const problems = (value: unknown) => {
      const parsed = logicalTablesSchema.safeParse({ events: { tiers: value } });
      return parsed.success ? [] : parsed.error.issues.map((i) => i.message);
    };
    expect(problems({ ...tiers, boundary: "30 days", lifecycle: {} })).toEqual([
      expect.stringMatching(/either a boundary or a lifecycle/),
    ]);
    expect(problems(tiers)).toEqual([expect.stringMatching(/either a boundary or a lifecycle/)]);
    expect(problems({ ...tiers, lifecycle: { hotRetention: "30" } })).toEqual([
      expect.stringMatching(/number of days/),
    ]);
    expect(
      problems({ ...tiers, lifecycle: { hotRetention: "30 days", coldRetention: "10 days" } }),
    ).toEqual([expect.stringMatching(/coldRetention must be longer/)]);
    expect(problems({ ...tiers, lifecycle: { every: "soon" } })).toEqual([
      expect.stringMatching(/every is "off" or a period/),
    ]);
  });
});

describe("a lifecycle table's boundary", () => {
  let hot: DuckdbConnector;
  let cold: DuckdbConnector;

  beforeAll(async () => {
    hot = await DuckdbConnector.open("hot", { kind: "duckdb" });
    cold = await DuckdbConnector.open("cold", { kind: "duckdb" });
    for (const c of [hot, cold]) {
      await c.execute({
        sql: "CREATE TABLE events (id INTEGER, created_at TIMESTAMP)",
        params: [],
      });
    }
  });

  afterAll(async () => {
    await hot?.close();
    await cold?.close();
  });

  it("is the committed watermark: all hot before the first move, then split where it moved", async () => {
    const config = logicalTablesSchema.parse({ events: { tiers: { ...tiers, lifecycle: {} } } });
    const catalog = new LiveCatalog(
      new Map([
        ["hot", hot],
        ["cold", cold],
      ]),
      {},
      config,
    );
    let watermark: string | null = null;
    let reads = 0;
    catalog.readWatermarks = async () => {
      reads++;
      return new Map([["events", watermark]]);
    };
    await catalog.refresh();
    const members = () =>
      catalog.current.logical("events")?.members.map((m) => [m.label, m.constraint]);
    expect(members()).toEqual([
      ["hot", { kind: "range", column: "created_at", from: undefined, enforce: true, nulls: true }],
    ]);

    watermark = "2026-01-01T00:00:00.000Z";
    const before = catalog.current;
    await catalog.syncWatermarks();
    expect(catalog.current).not.toBe(before);
    const at = 1_767_225_600_000_000_000n; // 2026-01-01 in ns
    expect(members()).toEqual([
      ["hot", { kind: "range", column: "created_at", from: at, enforce: true, nulls: true }],
      ["cold", { kind: "range", column: "created_at", to: at, enforce: true }],
    ]);

    // An unchanged watermark keeps the catalog as it is.
    const same = catalog.current;
    await catalog.syncWatermarks();
    expect(catalog.current).toBe(same);
    expect(reads).toBe(3);

    // A read that started before the last commit cannot take the boundary back.
    watermark = "2025-12-01T00:00:00.000Z";
    await catalog.syncWatermarks();
    expect(catalog.current).toBe(same);
    expect(members()?.[0]?.[1]).toMatchObject({ from: at });
  });
});

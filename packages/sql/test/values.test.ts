import { describe, expect, it } from "vitest";
import { compareValues, compositeKey, groupKey, keyOf, NULL_KEY, nsToIso } from "../src/index.ts";
import {
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  runSql,
} from "./helpers.ts";

describe("values", () => {
  it("orders text by code point, as UTF-8 bytes compare", () => {
    expect(compareValues("\uE000", "\u{1F600}")).toBeLessThan(0);
    expect(compareValues("\u{1F600}", "\uFFFD")).toBeGreaterThan(0);
    expect(compareValues("a", "b")).toBeLessThan(0);
    expect(compareValues("ab", "a")).toBeGreaterThan(0);
    expect(compareValues("\u{1F600}", "\u{1F601}")).toBeLessThan(0);
    expect(compareValues("x", "x")).toBe(0);
  });

  it("writes timestamps before 1970 with their sub-millisecond part", () => {
    expect(nsToIso(-1_000n)).toBe("1969-12-31T23:59:59.999999Z");
    expect(nsToIso(-1_500_000n)).toBe("1969-12-31T23:59:59.998500Z");
    expect(nsToIso(1_500_000n)).toBe("1970-01-01T00:00:00.001500Z");
  });

  it("keys equal numbers and bigints alike, also past 2^53", () => {
    expect(keyOf(5n)).toBe(keyOf(5));
    expect(keyOf(2n ** 60n)).toBe(keyOf(2 ** 60));
    expect(compositeKey([5n, "a"])).toBe(compositeKey([5, "a"]));
    expect(compositeKey([1, null])).toBeUndefined();
    expect(groupKey([null])).toBe(NULL_KEY);
    expect(groupKey([1, null])).toBe(groupKey([1n, undefined]));
    expect(groupKey([1, null])).not.toBe(groupKey([null, 1]));
  });
});

describe("mixed numeric sources", () => {
  const tables: MemoryTable[] = [
    { source: "a", name: "big", columns: [{ name: "id", type: "bigint" }], rows: [[5n], [2n]] },
    {
      source: "b",
      name: "dec",
      columns: [{ name: "v", type: "decimal" }],
      rows: [[2.5], [5], [null]],
    },
  ];
  const sources = ["a", "b"].map((name) => ({
    name,
    dialect: pgDialect,
    capabilities: NOTHING_PUSHED,
  }));
  const q = (sql: string) =>
    runSql(sql, memoryCatalog(tables, sources), memoryRunner(tables)).then((r) => r.rows);

  it("sums bigints and fractions together", async () => {
    expect(
      await q(
        "SELECT sum(x), count(DISTINCT x) FROM (SELECT v AS x FROM dec UNION ALL SELECT id FROM big) s",
      ),
    ).toEqual([["14.5", 3]]);
  });

  it("joins a bigint key to an equal decimal key", async () => {
    expect(await q("SELECT b.id, d.v FROM big b JOIN dec d ON b.id = d.v")).toEqual([[5, "5"]]);
  });
});

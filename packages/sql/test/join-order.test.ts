/**
 * Join order by cost: connected joins first, small and selective tables early, one source's
 * tables joined there as a unit where that moves fewer rows, any size fast.
 */
import { describe, expect, it } from "vitest";
import { chooseJoinOrder, type JoinCondition, type JoinShape } from "../src/join-order.ts";

/** The tables in the order the shape joins them. */
function order(shape: JoinShape): number[] {
  return typeof shape === "number" ? [shape] : [...order(shape[0]), ...order(shape[1])];
}

/** Whether each join of a left-deep shape has a condition to the tables before it. */
function everyJoinConnected(shape: JoinShape, conditions: JoinCondition[]): boolean {
  const seen = new Set<number>();
  return order(shape).every((t, i) => {
    const ok =
      i === 0 ||
      conditions.some((c) => c.tables.includes(t) && c.tables.some((u) => u !== t && seen.has(u)));
    seen.add(t);
    return ok;
  });
}

/** The tables under each join of a shape, the whole shape's last. */
function joinedSets(shape: JoinShape): number[][] {
  if (typeof shape === "number") return [];
  return [...joinedSets(shape[0]), ...joinedSets(shape[1]), order(shape).sort((a, b) => a - b)];
}

const key = (a: number, b: number): JoinCondition => ({
  tables: [a, b],
  equi: { distinct: [undefined, undefined] },
});

describe("join order", () => {
  it("never starts with a cross join when the FROM list puts unrelated tables first", () => {
    // part, supplier, partsupp: part and supplier meet only through partsupp.
    const tables = [
      { rows: 2000, tableRows: 200_000 },
      { rows: 10_000, tableRows: 10_000 },
      { rows: 800_000, tableRows: 800_000 },
    ];
    const conditions = [key(0, 2), key(1, 2)];
    const { shape } = chooseJoinOrder(tables, conditions);
    expect(everyJoinConnected(shape, conditions)).toBe(true);
  });

  it("joins the small filtered dimensions before the large fact table (TPC-H Q5's shape)", () => {
    // customer 0, orders 1, lineitem 2, supplier 3, nation 4, region 5 (one region of five).
    const tables = [
      { rows: 150_000, tableRows: 150_000 },
      { rows: 225_000, tableRows: 1_500_000 },
      { rows: 6_000_000, tableRows: 6_000_000 },
      { rows: 10_000, tableRows: 10_000 },
      { rows: 25, tableRows: 25 },
      { rows: 1, tableRows: 5 },
    ];
    const conditions = [key(0, 1), key(2, 1), key(2, 3), key(0, 4), key(3, 4), key(4, 5)];
    const { shape } = chooseJoinOrder(tables, conditions);
    expect(everyJoinConnected(shape, conditions)).toBe(true);
    const joined = order(shape);
    expect(joined.indexOf(5)).toBeLessThan(joined.indexOf(2));
    expect(joined.indexOf(4)).toBeLessThan(joined.indexOf(2));
  });

  it("estimates the equalities between two tables as one composite key (TPC-H Q9's shape)", () => {
    // part 0 (filtered by a LIKE), lineitem 1, partsupp 2; lineitem meets partsupp on
    // (partkey, suppkey): one partsupp row per lineitem row, not 600,000 × 80,000 / 20M.
    const tables = [
      { rows: 2_000, tableRows: 20_000 },
      { rows: 600_000, tableRows: 600_000 },
      { rows: 80_000, tableRows: 80_000 },
    ];
    const eq = (a: number, b: number, da: number, db: number): JoinCondition => ({
      tables: [a, b],
      equi: { distinct: [da, db] },
    });
    const conditions = [
      eq(1, 2, 20_000, 20_000), // l_partkey = ps_partkey
      eq(2, 1, 1_000, 1_000), // ps_suppkey = l_suppkey
      eq(0, 1, 20_000, 20_000), // p_partkey = l_partkey
    ];
    const { shape, rowsOf } = chooseJoinOrder(tables, conditions);
    expect(rowsOf([1, 2])).toBe(80_000);
    // The filtered part first: its keys cut lineitem down before partsupp is met.
    expect(order(shape).slice(0, 2).sort()).toEqual([0, 1]);
  });

  it("keeps the FROM order when every order costs the same", () => {
    const tables = Array.from({ length: 5 }, () => ({ rows: 10, tableRows: 10 }));
    const conditions = [key(0, 1), key(1, 2), key(2, 3), key(3, 4)];
    expect(order(chooseJoinOrder(tables, conditions).shape)).toEqual([0, 1, 2, 3, 4]);
  });

  it("orders joins of dozens of tables greedily, connected at every step", () => {
    // A chain of 28 tables listed out of order, as in generated statements.
    const n = 28;
    const tables = Array.from({ length: n }, (_, i) => ({ rows: 10 + i, tableRows: 10 + i }));
    const perm = Array.from({ length: n }, (_, i) => (i * 11) % n);
    const conditions = perm.slice(1).map((t, i) => key(perm[i] as number, t));
    const { shape } = chooseJoinOrder(tables, conditions);
    expect(order(shape).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(everyJoinConnected(shape, conditions)).toBe(true);
  });

  it("joins tables with no condition between them only when it must", () => {
    const tables = [
      { rows: 5, tableRows: 5 },
      { rows: 7, tableRows: 7 },
      { rows: 100, tableRows: 100 },
    ];
    const { shape } = chooseJoinOrder(tables, [key(1, 2)]);
    expect(order(shape)).toHaveLength(3);
    // The one cross join comes last, after the connected pair.
    expect(typeof shape !== "number" && order(shape[0]).sort()).toEqual([1, 2]);
  });

  it("joins one source's tables there as a unit, narrowed by the small side's keys (TPC-H Q5)", () => {
    // Q5 at SF 0.1, as its sources estimate it: customer 0, nation 4 and region 5 in DuckDB,
    // orders 1 and lineitem 2 in PostgreSQL, supplier 3 in MariaDB.
    const tables = [
      { rows: 15_000, tableRows: 15_000, source: "duck" },
      { rows: 16_335, tableRows: 150_000, source: "pg" },
      { rows: 600_000, tableRows: 600_000, source: "pg" },
      { rows: 1_000, tableRows: 1_000, source: "my" },
      { rows: 25, tableRows: 25, source: "duck" },
      { rows: 1, tableRows: 5, source: "duck" },
    ];
    // c_custkey = o_custkey, l_orderkey = o_orderkey, l_suppkey = s_suppkey,
    // c_nationkey = s_nationkey, s_nationkey = n_nationkey, n_regionkey = r_regionkey.
    const conditions = [key(0, 1), key(2, 1), key(2, 3), key(0, 3), key(3, 4), key(4, 5)];
    const { shape } = chooseJoinOrder(tables, conditions);
    // orders ⋈ lineitem is one join of the plan: lineitem is never joined alone to the tables of
    // another source, and the unit comes after the small region–nation–supplier side.
    const sets = joinedSets(shape);
    expect(sets).toContainEqual([1, 2]);
    expect(sets.filter((set) => set.includes(2)).every((set) => set.includes(1))).toBe(true);
    expect(sets).toContainEqual([1, 2, 3, 4, 5]);
    const withoutSources = chooseJoinOrder(
      tables.map(({ rows, tableRows }) => ({ rows, tableRows })),
      conditions,
    );
    expect(joinedSets(withoutSources.shape)).not.toContainEqual([1, 2]);
  });

  it("makes no unit of one source's tables that no condition joins", () => {
    // Tables 0 and 2 live in one source but meet only through table 1 of another.
    const tables = [
      { rows: 100, tableRows: 100, source: "pg" },
      { rows: 10, tableRows: 10, source: "my" },
      { rows: 100, tableRows: 100, source: "pg" },
    ];
    const { shape } = chooseJoinOrder(tables, [key(0, 1), key(1, 2)]);
    expect(joinedSets(shape)).not.toContainEqual([0, 2]);
    expect(everyJoinConnected(shape, [key(0, 1), key(1, 2)])).toBe(true);
  });
});

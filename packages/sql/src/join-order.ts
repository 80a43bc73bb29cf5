/**
 * Join order for inner joins, chosen by cost instead of FROM order: dynamic programming over
 * subsets of tables up to `DP_LIMIT` tables, greedy beyond, so the choice stays fast for joins
 * of dozens of tables.
 *
 * The cost of a tree is the sum of its joins' estimated output rows (what the engine holds and
 * moves). A join's rows are the product of its inputs' rows times the selectivity of every
 * condition between them: `1 / max(distinct(a), distinct(b))` for `a = b` (a column's distinct
 * count from the source's statistics, or, failing that, its table's row count: a key) — the
 * equalities between two tables taken together, as one composite key — and fixed guesses for
 * other conditions. Two sets of tables with no condition between them are
 * joined only when nothing else is possible: no cross join is planned for a statement that
 * connects its tables.
 *
 * Tables of one source connected by their conditions may also join as a unit: the source joins
 * them in one statement and only the unit's rows travel (TPC-H's orders and lineitem, both in
 * PostgreSQL). A unit is the right input of a join as well as a start, so plans are left-deep
 * over tables and units.
 *
 * Pure: estimates and conditions in, a tree shape out.
 */

export interface JoinTable {
  /** Estimated rows after the table's own filters. */
  rows: number;
  /** Rows in the whole table (the distinct count assumed for a key without statistics). */
  tableRows: number;
  /**
   * The source that can join this table with its other tables in the statement, in one
   * statement of its own; absent where the table must be read alone.
   */
  source?: string;
}

export interface JoinCondition {
  /** The tables the condition reads. */
  tables: number[];
  /** For `a = b` between two tables: each side's distinct values, where known. */
  equi?: { distinct: [number | undefined, number | undefined] };
}

/** A table, or two trees joined. */
export type JoinShape = number | [JoinShape, JoinShape];

export interface JoinPlan {
  shape: JoinShape;
  /** Estimated output rows of the join of some of the tables. */
  rowsOf(tables: number[]): number;
}

export const DP_LIMIT = 12;

/** Units are sought among at most this many tables of one source (2⁶ subsets). */
const UNIT_TABLES = 6;

/** Selectivity of a condition that is not an equality (a range, an inequality, an OR). */
const OTHER_SELECTIVITY = 0.5;

/** Tables are sets of bits here; beyond this many the FROM order is kept. */
export const MAX_TABLES = 30;

export function chooseJoinOrder(tables: JoinTable[], conditions: JoinCondition[]): JoinPlan {
  const n = tables.length;
  const fromOrder = () => tables.slice(1).reduce<JoinShape>((tree, _, i) => [tree, i + 1], 0);
  if (n > MAX_TABLES) return { shape: fromOrder(), rowsOf: () => Number.NaN };
  const model = new CostModel(tables, conditions);
  const shape =
    n <= DP_LIMIT ? dynamicProgramming(model, n, sourceUnits(tables, model)) : greedy(model, n);
  return { shape, rowsOf: (ts) => model.rows(ts.reduce((m, t) => m | (1 << t), 0)) };
}

class CostModel {
  private readonly memo = new Map<number, number>();
  /** Per condition: the bit set of its tables, and its selectivity. */
  private readonly conds: { mask: number; selectivity: number }[];

  private readonly tables: JoinTable[];

  constructor(tables: JoinTable[], conditions: JoinCondition[]) {
    this.tables = tables;
    this.conds = [];
    // Equalities between the same two tables are estimated together (see pairSelectivity).
    const equalities = new Map<number, JoinCondition[]>();
    for (const c of conditions) {
      if (c.tables.length < 2) continue;
      const mask = c.tables.reduce((m, t) => m | (1 << t), 0);
      const pair = c.equi !== undefined && c.tables.length === 2 && c.tables[0] !== c.tables[1];
      if (pair) equalities.set(mask, [...(equalities.get(mask) ?? []), c]);
      else this.conds.push({ mask, selectivity: OTHER_SELECTIVITY });
    }
    for (const [mask, group] of equalities) {
      this.conds.push({ mask, selectivity: this.pairSelectivity(group) });
    }
  }

  /**
   * Equalities `a₁ = b₁ AND … AND aₙ = bₙ` between two tables A and B: `1 / max(distinct(a₁…aₙ),
   * distinct(b₁…bₙ))`, where a side's distinct combinations are the product of its columns'
   * distinct counts but at most its table's rows. Multiplying the equalities' own selectivities
   * would treat them as independent, which a composite key is not: TPC-H's lineitem joins
   * partsupp on (partkey, suppkey), one row each, and was estimated at 288 rows for 600,000.
   */
  private pairSelectivity(group: JoinCondition[]): number {
    const [a, b] = (group[0] as JoinCondition).tables as [number, number];
    const rowsOf = (t: number) => Math.max(1, (this.tables[t] as JoinTable).tableRows);
    let combinationsA = 1;
    let combinationsB = 1;
    for (const c of group) {
      const [left, right] = (c.equi as NonNullable<JoinCondition["equi"]>).distinct;
      const [ofA, ofB] = c.tables[0] === a ? [left, right] : [right, left];
      combinationsA *= Math.max(1, ofA ?? rowsOf(a));
      combinationsB *= Math.max(1, ofB ?? rowsOf(b));
    }
    return 1 / Math.max(Math.min(combinationsA, rowsOf(a)), Math.min(combinationsB, rowsOf(b)));
  }

  /** Estimated rows of the join of the tables in `mask`, whatever the order. */
  rows(mask: number): number {
    const known = this.memo.get(mask);
    if (known !== undefined) return known;
    let rows = 1;
    for (let t = 0; t < this.tables.length; t++)
      if (mask & (1 << t)) rows *= Math.max(1, (this.tables[t] as JoinTable).rows);
    for (const c of this.conds) if ((c.mask & mask) === c.mask) rows *= c.selectivity;
    const result = Math.max(1, rows);
    this.memo.set(mask, result);
    return result;
  }

  /** Whether the tables of `mask` are all joined to each other through conditions among them. */
  joinedWithin(mask: number): boolean {
    let reached = mask & -mask;
    for (let grown = true; grown; ) {
      grown = false;
      for (let rest = mask & ~reached; rest !== 0; rest &= rest - 1) {
        const bit = rest & -rest;
        if (this.connected(reached, bit)) {
          reached |= bit;
          grown = true;
        }
      }
    }
    return reached === mask;
  }

  /** Whether some condition reads tables on both sides. */
  connected(a: number, b: number): boolean {
    return this.conds.some(
      (c) => (c.mask & a) !== 0 && (c.mask & b) !== 0 && (c.mask & ~(a | b)) === 0,
    );
  }
}

interface Best {
  shape: JoinShape;
  /** Joins with no condition between their sides: fewest first, then the lowest cost. */
  crossJoins: number;
  cost: number;
}

const cheaper = (a: Best, b: Best) =>
  a.crossJoins !== b.crossJoins ? a.crossJoins < b.crossJoins : a.cost < b.cost;

/**
 * The sets of two or more tables of one source that conditions among them connect: each could
 * be joined in its source as one statement.
 */
function sourceUnits(tables: JoinTable[], model: CostModel): number[] {
  const bySource = new Map<string, number[]>();
  tables.forEach((t, i) => {
    if (t.source !== undefined) bySource.set(t.source, [...(bySource.get(t.source) ?? []), i]);
  });
  const units: number[] = [];
  for (const members of bySource.values()) {
    if (members.length < 2 || members.length > UNIT_TABLES) continue;
    for (let pick = 1; pick < 1 << members.length; pick++) {
      if ((pick & (pick - 1)) === 0) continue;
      const mask = members.reduce((m, t, j) => (pick & (1 << j) ? m | (1 << t) : m), 0);
      if (model.joinedWithin(mask)) units.push(mask);
    }
  }
  return units;
}

/**
 * Left-deep trees: each join adds one table, or one source's unit, to those joined so far. The
 * engine's hash joins then build on a table or on the (small) tables joined so far and stream
 * the other side, so what a statement holds stays bounded by its inputs rather than by
 * intermediate joins.
 *
 * A unit costs the rows it sends, as the engine's join of its tables would have cost its output
 * — its inner joins are the source's. Added to a larger side it is that join's probe and reads
 * only the rows with the other side's keys, which the join's output already counts; added to a
 * smaller side it is built, every one of its rows read.
 */
function dynamicProgramming(model: CostModel, n: number, units: number[]): JoinShape {
  const best = new Map<number, Best>();
  for (let t = 0; t < n; t++) best.set(1 << t, { shape: t, crossJoins: 0, cost: 0 });
  const full = (1 << n) - 1;
  // Masks in increasing order: every subset comes before its supersets.
  for (let mask = 1; mask <= full; mask++) {
    if ((mask & (mask - 1)) === 0) continue;
    let chosen: Best | undefined;
    // The last table added, from the highest: on equal costs the FROM order stands.
    for (let t = n - 1; t >= 0; t--) {
      const bit = 1 << t;
      if ((mask & bit) === 0) continue;
      const before = best.get(mask ^ bit) as Best;
      const candidate: Best = {
        shape: [before.shape, t],
        crossJoins: before.crossJoins + (model.connected(mask ^ bit, bit) ? 0 : 1),
        cost: before.cost + model.rows(mask),
      };
      if (!chosen || cheaper(candidate, chosen)) chosen = candidate;
    }
    const leftDeep = chosen as Best;
    for (const unit of units) {
      if ((unit & mask) !== unit) continue;
      let candidate: Best;
      if (unit === mask) {
        candidate = { shape: leftDeep.shape, crossJoins: 0, cost: model.rows(unit) };
      } else {
        const rest = mask ^ unit;
        const before = best.get(rest) as Best;
        const built = model.rows(unit) < model.rows(rest);
        candidate = {
          shape: [before.shape, (best.get(unit) as Best).shape],
          crossJoins: before.crossJoins + (model.connected(rest, unit) ? 0 : 1),
          cost: before.cost + model.rows(mask) + (built ? model.rows(unit) : 0),
        };
      }
      if (cheaper(candidate, chosen as Best)) chosen = candidate;
    }
    best.set(mask, chosen as Best);
  }
  return (best.get(full) as Best).shape;
}

/**
 * Beyond DP_LIMIT tables: start from the connected pair with the fewest rows, then add the
 * table that keeps the rows fewest, preferring tables connected to those joined.
 */
function greedy(model: CostModel, n: number): JoinShape {
  let start: { a: number; b: number; rows: number; connected: boolean } | undefined;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const connected = model.connected(1 << a, 1 << b);
      const rows = model.rows((1 << a) | (1 << b));
      if (better({ rows, connected }, start)) start = { a, b, rows, connected };
    }
  }
  const first = start as { a: number; b: number };
  let shape: JoinShape = [first.a, first.b];
  let mask = (1 << first.a) | (1 << first.b);
  while (mask !== (1 << n) - 1) {
    let pick: { t: number; rows: number; connected: boolean } | undefined;
    for (let t = 0; t < n; t++) {
      if (mask & (1 << t)) continue;
      const connected = model.connected(mask, 1 << t);
      const rows = model.rows(mask | (1 << t));
      if (better({ rows, connected }, pick)) pick = { t, rows, connected };
    }
    const { t } = pick as { t: number };
    shape = [shape, t];
    mask |= 1 << t;
  }
  return shape;
}

function better(
  candidate: { rows: number; connected: boolean },
  current: { rows: number; connected: boolean } | undefined,
): boolean {
  if (!current) return true;
  if (candidate.connected !== current.connected) return candidate.connected;
  return candidate.rows < current.rows;
}

/**
 * Aggregations without a parameter (sum, avg, count, min, max, group, stddev, stdvar) over
 * series-by-series input: each series' group is found once, then every step accumulates its
 * samples in series order exactly as `aggregate` would over that step's vector.
 */
import {
  accumulate,
  finalValue,
  type Group,
  type GroupIdentity,
  groupOfNode,
  startGroup,
} from "./aggregate.ts";
import type { AggregateExpr } from "./ast.ts";
import type { ColumnSeries, ColumnsValue } from "./eval-columns.ts";
import type { EvalContext } from "./eval-context.ts";
import { type StepGrid, stepTime } from "./eval-grid.ts";
import type { Vector, VectorSample } from "./values.ts";

const PARAMETERLESS: ReadonlySet<AggregateExpr["op"]> = new Set([
  "sum",
  "avg",
  "count",
  "min",
  "max",
  "group",
  "stddev",
  "stdvar",
]);

export function aggregatesColumns(node: AggregateExpr): boolean {
  return PARAMETERLESS.has(node.op);
}

export async function aggregateColumns(
  ctx: EvalContext,
  node: AggregateExpr,
  input: ColumnsValue,
  grid: StepGrid,
): Promise<Vector[]> {
  const identities: GroupIdentity[] = [];
  const indexOfKey = new Map<string, number>();
  const groupIndex = new Int32Array(input.series.length);
  input.series.forEach((s, i) => {
    const identity = groupOfNode.get(s.labels, node);
    let index = indexOfKey.get(identity.key);
    if (index === undefined) {
      index = identities.length;
      indexOfKey.set(identity.key, index);
      identities.push(identity);
    }
    groupIndex[i] = index;
  });
  const fits = input.steps * identities.length <= MAX_RUNNING_CELLS;
  if ((node.op === "sum" || node.op === "count") && fits) {
    return sumsOrCounts(ctx, node.op, input, grid, groupIndex, identities);
  }
  const active: (Group | undefined)[] = new Array(identities.length);
  // Only the value is read when accumulating these operators: one scratch sample serves all.
  const sample: VectorSample = { labels: {}, t: 0, v: 0 };
  const out: Vector[] = [];
  for (let i = 0; i < input.steps; i++) {
    const ts = stepTime(grid, i);
    const ordered: Group[] = [];
    active.fill(undefined);
    for (let k = 0; k < input.series.length; k++) {
      const s = input.series[k];
      if (s === undefined || s.present[i] !== 1) continue;
      sample.v = s.values[i] as number;
      const g = groupIndex[k] as number;
      const group = active[g];
      if (group === undefined) {
        const started = startGroup(node.op, (identities[g] as GroupIdentity).labels, sample, 0);
        active[g] = started;
        ordered.push(started);
      } else {
        accumulate(node.op, group, sample);
      }
    }
    const vector: Vector = [];
    for (const group of ordered) {
      vector.push({ labels: group.labels, t: ts, v: finalValue(node.op, group, Number.NaN) });
    }
    ctx.hold(vector.length);
    out.push(vector);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return out;
}

/** Most running values `sumsOrCounts` keeps at once, one per step and group; beyond, the general step loop. */
const MAX_RUNNING_CELLS = 1 << 21;

/**
 * sum and count, the most common, with plain running values instead of group objects, walking
 * each series' steps in turn (its values lie together in memory). A step's group still sums
 * its series in series order, and lists its groups in the order its series first reach them.
 */
async function sumsOrCounts(
  ctx: EvalContext,
  op: "sum" | "count",
  input: ColumnsValue,
  grid: StepGrid,
  groupIndex: Int32Array,
  identities: readonly GroupIdentity[],
): Promise<Vector[]> {
  const groupTotal = identities.length;
  const steps = input.steps;
  const running = new Float64Array(steps * groupTotal);
  const started = new Uint8Array(steps * groupTotal);
  const startOrder: number[][] = Array.from({ length: steps }, () => []);
  const counting = op === "count";
  for (let k = 0; k < input.series.length; k++) {
    const s = input.series[k] as ColumnSeries;
    const g = groupIndex[k] as number;
    for (let i = 0; i < steps; i++) {
      if (s.present[i] !== 1) continue;
      const v = counting ? 1 : (s.values[i] as number);
      const cell = i * groupTotal + g;
      if (started[cell] === 0) {
        started[cell] = 1;
        running[cell] = v;
        (startOrder[i] as number[]).push(g);
      } else {
        running[cell] = (running[cell] as number) + v;
      }
    }
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  const out: Vector[] = [];
  for (let i = 0; i < steps; i++) {
    const ts = stepTime(grid, i);
    const vector: Vector = [];
    for (const g of startOrder[i] as number[]) {
      const labels = (identities[g] as GroupIdentity).labels;
      vector.push({ labels, t: ts, v: running[i * groupTotal + g] as number });
    }
    ctx.hold(vector.length);
    out.push(vector);
  }
  return out;
}

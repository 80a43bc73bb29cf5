/**
 * Instant vectors over a step grid kept series by series: a value and a presence flag per step
 * for each series. Selectors, range functions, external values and arithmetic or comparison
 * produce them without an object per sample; aggregations, operators, subqueries and range
 * results read them directly; other consumers get per-step vectors. Within a step, samples are
 * in series order, as the per-step vectors would list them.
 */
import type { EvalContext } from "./eval-context.ts";
import { type StepGrid, stepCount, stepTime } from "./eval-grid.ts";
import { keyOfLabels } from "./eval-labels.ts";
import { isStaleNaN, type Labels, type Sample, type Series, type Vector } from "./values.ts";

export interface ColumnSeries {
  labels: Labels;
  values: Float64Array;
  /** 1 where the series has a sample at that step. */
  present: Uint8Array;
  /** How many steps have a sample. */
  count: number;
}

export interface ColumnsValue {
  type: "columns";
  series: ColumnSeries[];
  steps: number;
}

/** Hands out columns as views into shared buffers: a few allocations instead of two a series. */
export class ColumnPool {
  private readonly steps: number;
  private values = new Float64Array(0);
  private present = new Uint8Array(0);
  private used = 0;
  /** Series the next buffer holds: doubling from one, so a pool of few series stays small. */
  private nextChunk = 1;

  constructor(steps: number) {
    this.steps = steps;
  }

  column(labels: Labels): ColumnSeries {
    const steps = this.steps;
    if ((this.used + 1) * steps > this.values.length) {
      const seriesPerChunk = Math.max(1, Math.ceil(CHUNK_STEPS / Math.max(steps, 1)));
      const series = Math.min(seriesPerChunk, this.nextChunk);
      this.nextChunk = series * 2;
      this.values = new Float64Array(series * steps);
      this.present = new Uint8Array(series * steps);
      this.used = 0;
    }
    const from = this.used * steps;
    this.used++;
    return {
      labels,
      values: this.values.subarray(from, from + steps),
      present: this.present.subarray(from, from + steps),
      count: 0,
    };
  }
}

/** Steps per shared buffer. */
const CHUNK_STEPS = 1 << 16;

export function columnsPointCount(value: ColumnsValue): number {
  let n = 0;
  for (const s of value.series) n += s.count;
  return n;
}

/** Series as a grid value: each one at the steps where it has a sample at exactly that time. */
export function columnsAtSteps(series: readonly Series[], grid: StepGrid): ColumnsValue {
  const steps = stepCount(grid);
  const pool = new ColumnPool(steps);
  const out: ColumnsValue = { type: "columns", series: [], steps };
  for (const { labels, samples } of series) {
    const column = pool.column(labels);
    let next = 0;
    for (let i = 0; i < steps; i++) {
      const ts = stepTime(grid, i);
      while (next < samples.length && (samples[next] as Sample).t < ts) next++;
      const sample = samples[next];
      if (sample === undefined || sample.t !== ts) continue;
      column.values[i] = sample.v;
      column.present[i] = 1;
      column.count++;
    }
    out.series.push(column);
  }
  return out;
}

/** The per-step vectors of the same samples. */
export async function columnsToSteps(
  ctx: EvalContext,
  value: ColumnsValue,
  grid: StepGrid,
): Promise<Vector[]> {
  const out: Vector[] = Array.from({ length: value.steps }, () => []);
  for (const { labels, values, present, count } of value.series) {
    if (count === 0) continue;
    for (let i = 0; i < value.steps; i++) {
      if (present[i] === 1) {
        (out[i] as Vector).push({ labels, t: stepTime(grid, i), v: values[i] as number });
      }
    }
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return out;
}

/**
 * The samples as series, staleness markers left out, in order of first appearance. Label sets
 * are distinct, as selectors and range functions answer them; undefined when they are not.
 */
export async function columnsToSeries(
  ctx: EvalContext,
  value: ColumnsValue,
  grid: StepGrid,
): Promise<Series[] | undefined> {
  const seen = new Set<string>();
  for (const s of value.series) {
    const key = keyOfLabels(s.labels);
    if (seen.has(key)) return undefined;
    seen.add(key);
  }
  const withFirst: { first: number; index: number; series: Series }[] = [];
  for (const { labels, values, present, count } of value.series) {
    if (count === 0) continue;
    const samples: Sample[] = [];
    let first = -1;
    for (let i = 0; i < value.steps; i++) {
      if (present[i] !== 1) continue;
      const v = values[i] as number;
      if (isStaleNaN(v)) continue;
      if (first < 0) first = i;
      samples.push({ t: grid.start + i * grid.interval, v });
    }
    if (first >= 0) withFirst.push({ first, index: withFirst.length, series: { labels, samples } });
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  // Order of first appearance: by first step, then by series order within that step.
  withFirst.sort((a, b) => a.first - b.first || a.index - b.index);
  return withFirst.map((entry) => entry.series);
}

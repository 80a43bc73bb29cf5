/**
 * Selectors over a step grid with Prometheus 2.42's rules: an instant selector takes each
 * series' latest sample at or before the reference time, when it is no older than the lookback
 * (a sample exactly `lookback` old still counts) and not a staleness marker; a range selector
 * sees the samples of the closed window `[ref - range, ref]`, staleness markers left out.
 */
import { ColumnPool, type ColumnsValue } from "./eval-columns.ts";
import type { EvalContext } from "./eval-context.ts";
import { type StepGrid, stepCount, stepTime } from "./eval-grid.ts";
import { samplesBetween } from "./eval-windows.ts";
import { isStaleNaN, type Sample, type Series, type Vector } from "./values.ts";

export interface InstantSelection {
  /** The reference time a step at `ts` looks at; never decreasing with `ts`. */
  refTime: (ts: number) => number;
  /** Output samples carry their own time instead of the step's (for `timestamp()`). */
  keepSampleTime: boolean;
}

/** The vector an instant selector answers at each step of the grid. */
export async function selectInstant(
  ctx: EvalContext,
  series: readonly Series[],
  grid: StepGrid,
  selection: InstantSelection,
): Promise<Vector[]> {
  const steps = stepCount(grid);
  const out: Vector[] = Array.from({ length: steps }, () => []);
  const lookbackMs = ctx.settings.lookbackMs;
  for (const { labels, samples } of series) {
    let next = 0;
    let found = 0;
    for (let i = 0; i < steps; i++) {
      const ts = stepTime(grid, i);
      const ref = selection.refTime(ts);
      while (next < samples.length && (samples[next] as Sample).t <= ref) next++;
      if (next === 0) continue;
      const latest = samples[next - 1] as Sample;
      if (latest.t < ref - lookbackMs || isStaleNaN(latest.v)) continue;
      (out[i] as Vector).push({ labels, t: selection.keepSampleTime ? latest.t : ts, v: latest.v });
      found++;
    }
    ctx.hold(found);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return out;
}

/** The same selection as `selectInstant`, series by series, each sample at its step's time. */
export async function selectInstantColumns(
  ctx: EvalContext,
  series: readonly Series[],
  grid: StepGrid,
  refTime: (ts: number) => number,
): Promise<ColumnsValue> {
  const steps = stepCount(grid);
  const refs = new Float64Array(steps);
  for (let i = 0; i < steps; i++) refs[i] = refTime(stepTime(grid, i));
  const lookbackMs = ctx.settings.lookbackMs;
  const out: ColumnsValue = { type: "columns", series: [], steps };
  const pool = new ColumnPool(steps);
  for (const { labels, samples } of series) {
    const column = pool.column(labels);
    let next = 0;
    for (let i = 0; i < steps; i++) {
      const ref = refs[i] as number;
      while (next < samples.length && (samples[next] as Sample).t <= ref) next++;
      if (next === 0) continue;
      const latest = samples[next - 1] as Sample;
      if (latest.t < ref - lookbackMs) continue;
      const v = latest.v;
      if (isStaleNaN(v)) continue;
      column.values[i] = v;
      column.present[i] = 1;
      column.count++;
    }
    ctx.hold(column.count);
    out.series.push(column);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  return out;
}

/** Series without their staleness markers, as range selectors see them. */
export function withoutStaleMarkers(series: readonly Series[]): Series[] {
  return series.map((s) => (hasStaleMarker(s.samples) ? withoutStaleSamples(s) : s));
}

function hasStaleMarker(samples: readonly Sample[]): boolean {
  for (const { v } of samples) if (isStaleNaN(v)) return true;
  return false;
}

function withoutStaleSamples(s: Series): Series {
  return { labels: s.labels, samples: s.samples.filter((sample) => !isStaleNaN(sample.v)) };
}

/** Each series' samples in `[end - rangeMs, end]`, series with none left out. */
export function windowOf(series: readonly Series[], end: number, rangeMs: number): Series[] {
  const out: Series[] = [];
  for (const s of series) {
    const samples = samplesBetween(s.samples, end - rangeMs, end);
    if (samples.length > 0) out.push({ labels: s.labels, samples });
  }
  return out;
}

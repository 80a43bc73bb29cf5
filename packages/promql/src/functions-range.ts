/**
 * Functions over range vectors, one series at a time, as Prometheus 2.42 computes them. Each
 * takes a view of the series' samples inside the window — indices `from` up to but excluding
 * `to` of its time and value columns, never empty — so windows need no copies, and answers a value, or undefined
 * when the series has too few samples to give one.
 */
import { quantile } from "./quantile.ts";
import type { Sample } from "./values.ts";

/** A series' samples as two parallel arrays of times (milliseconds) and values. */
export interface SampleColumns {
  t: Float64Array;
  v: Float64Array;
  /**
   * In increasing order, the first `resetCount` entries: each index `i` whose value is below
   * the one before it (a counter reset), so a window's resets are found without a scan.
   */
  resets: Int32Array;
  resetCount: number;
}

/** The columns of samples, for callers holding sample objects. */
export function sampleColumns(samples: readonly Sample[]): SampleColumns {
  const columns: SampleColumns = {
    t: new Float64Array(samples.length),
    v: new Float64Array(samples.length),
    resets: new Int32Array(samples.length),
    resetCount: 0,
  };
  for (let i = 0; i < samples.length; i++) {
    const sample = samples[i] as Sample;
    appendSample(columns, i, sample.t, sample.v);
  }
  return columns;
}

/** Writes a sample at `index` (columns filled in order), noting a counter reset. */
export function appendSample(columns: SampleColumns, index: number, t: number, v: number): void {
  columns.t[index] = t;
  columns.v[index] = v;
  if (index > 0 && v < (columns.v[index - 1] as number)) {
    columns.resets[columns.resetCount++] = index;
  }
}

/** The first of the noted resets at an index above `index`. */
function firstResetAfter(columns: SampleColumns, index: number): number {
  let lo = 0;
  let hi = columns.resetCount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((columns.resets[mid] as number) <= index) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RangeWindow {
  /** The window's bounds in milliseconds, after offset and `@`. */
  start: number;
  end: number;
  /** The step's evaluation time, milliseconds (predict_linear's intercept time). */
  ts: number;
}

/** Extra scalar arguments of predict_linear and quantile_over_time. */
export type RangeFunction = (
  samples: SampleColumns,
  from: number,
  to: number,
  window: RangeWindow,
  scalars: readonly number[],
) => number | undefined;

/**
 * The compensation of Prometheus' `kahanSumInc` (Neumaier's compensated summation step),
 * without building a pair: callers add `inc` to `sum` after it, which is the sum it answers.
 */
function compensation(inc: number, sum: number, c: number): number {
  const t = sum + inc;
  if (Math.abs(sum) >= Math.abs(inc)) return c + (sum - t + inc);
  return c + (inc - t + sum);
}

/**
 * rate, increase and delta: the change over the samples, with counter resets added back for
 * counters, extrapolated towards the window's edges (Prometheus 2.42's `extrapolatedRate`).
 */
function extrapolatedRate(
  samples: SampleColumns,
  from: number,
  to: number,
  window: RangeWindow,
  isCounter: boolean,
  isRate: boolean,
): number | undefined {
  if (to - from < 2) return undefined;
  const first = { t: samples.t[from] as number, v: samples.v[from] as number };
  const last = { t: samples.t[to - 1] as number, v: samples.v[to - 1] as number };

  let result = last.v - first.v;
  if (isCounter) {
    // Each reset adds back the value before it, in sample order.
    for (let r = firstResetAfter(samples, from); r < samples.resetCount; r++) {
      const i = samples.resets[r] as number;
      if (i >= to) break;
      result += samples.v[i - 1] as number;
    }
  }

  let durationToStart = (first.t - window.start) / 1000;
  const durationToEnd = (window.end - last.t) / 1000;
  const sampledInterval = (last.t - first.t) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (to - from - 1);

  // A counter cannot go below zero: do not extrapolate past the point where it would be zero.
  // 2.42 applies this before the threshold test below (later releases swapped the order).
  if (isCounter && result > 0 && first.v >= 0) {
    const durationToZero = sampledInterval * (first.v / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }

  // Extrapolate to an edge only when it is about one sample interval away; otherwise assume
  // the series starts or ends inside the window, half an interval beyond its last sample.
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval +=
    durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval +=
    durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;

  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= (window.end - window.start) / 1000;
  return result * factor;
}

/** irate and idelta: from the last two samples only. */
function instantValue(
  samples: SampleColumns,
  from: number,
  to: number,
  isRate: boolean,
): number | undefined {
  if (to - from < 2) return undefined;
  const last = { t: samples.t[to - 1] as number, v: samples.v[to - 1] as number };
  const previous = { t: samples.t[to - 2] as number, v: samples.v[to - 2] as number };
  let result = isRate && last.v < previous.v ? last.v : last.v - previous.v;
  const sampledInterval = last.t - previous.t;
  if (sampledInterval === 0) return undefined;
  if (isRate) result /= sampledInterval / 1000;
  return result;
}

/** Least-squares fit of value over time in seconds relative to `interceptTime`. */
export function linearRegression(
  samples: SampleColumns,
  from: number,
  to: number,
  interceptTime: number,
): { slope: number; intercept: number } {
  let n = 0;
  let sumX = 0;
  let cX = 0;
  let sumY = 0;
  let cY = 0;
  let sumXY = 0;
  let cXY = 0;
  let sumX2 = 0;
  let cX2 = 0;
  const initY = samples.v[from] as number;
  let constY = true;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    if (constY && i > from && v !== initY) constY = false;
    n += 1;
    const x = ((samples.t[i] as number) - interceptTime) / 1000;
    cX = compensation(x, sumX, cX);
    sumX += x;
    cY = compensation(v, sumY, cY);
    sumY += v;
    const xy = x * v;
    cXY = compensation(xy, sumXY, cXY);
    sumXY += xy;
    const x2 = x * x;
    cX2 = compensation(x2, sumX2, cX2);
    sumX2 += x2;
  }
  // A constant series has slope zero exactly, which the sums below would blur.
  if (constY) {
    if (!Number.isFinite(initY) && !Number.isNaN(initY)) return { slope: NaN, intercept: NaN };
    return { slope: 0, intercept: initY };
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  const intercept = sumY / n - (slope * sumX) / n;
  return { slope, intercept };
}

function sumOverTime(samples: SampleColumns, from: number, to: number): number {
  let sum = 0;
  let c = 0;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    c = compensation(v, sum, c);
    sum += v;
  }
  // The compensation of an infinite sum is NaN: keep the infinity.
  return Number.isFinite(sum) ? sum + c : sum;
}

function avgOverTime(samples: SampleColumns, from: number, to: number): number {
  let mean = 0;
  let c = 0;
  let count = 0;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    count++;
    if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
      // An infinite mean stays as it is unless a value could change it (NaN or the other
      // infinity); subtracting it from itself below would make it NaN.
      if (!Number.isFinite(v) && !Number.isNaN(v) && mean > 0 === v > 0) continue;
      if (Number.isFinite(v)) continue;
    }
    const inc = v / count - mean / count;
    c = compensation(inc, mean, c);
    mean += inc;
  }
  return !Number.isFinite(mean) && !Number.isNaN(mean) ? mean : mean + c;
}

/** Welford's variance with compensated sums, as stdvar_over_time and stddev_over_time use. */
function varianceOverTime(samples: SampleColumns, from: number, to: number): number {
  let count = 0;
  let mean = 0;
  let cMean = 0;
  let aux = 0;
  let cAux = 0;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    count++;
    const delta = v - (mean + cMean);
    const meanInc = delta / count;
    cMean = compensation(meanInc, mean, cMean);
    mean += meanInc;
    const auxInc = delta * (v - (mean + cMean));
    cAux = compensation(auxInc, aux, cAux);
    aux += auxInc;
  }
  return (aux + cAux) / count;
}

function maxOverTime(samples: SampleColumns, from: number, to: number): number {
  let max = samples.v[from] as number;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    if (v > max || Number.isNaN(max)) max = v;
  }
  return max;
}

function minOverTime(samples: SampleColumns, from: number, to: number): number {
  let min = samples.v[from] as number;
  for (let i = from; i < to; i++) {
    const v = samples.v[i] as number;
    if (v < min || Number.isNaN(min)) min = v;
  }
  return min;
}

function changes(samples: SampleColumns, from: number, to: number): number {
  let count = 0;
  let previous = samples.v[from] as number;
  for (let i = from + 1; i < to; i++) {
    const current = samples.v[i] as number;
    if (current !== previous && !(Number.isNaN(current) && Number.isNaN(previous))) count++;
    previous = current;
  }
  return count;
}

function resets(samples: SampleColumns, from: number, to: number): number {
  let count = 0;
  let previous = samples.v[from] as number;
  for (let i = from + 1; i < to; i++) {
    const current = samples.v[i] as number;
    if (current < previous) count++;
    previous = current;
  }
  return count;
}

type WindowFunction = (samples: SampleColumns, from: number, to: number) => number;

function atLeastTwo(fn: WindowFunction): RangeFunction {
  return (samples, from, to) => (to - from < 2 ? undefined : fn(samples, from, to));
}

function valuesOf(samples: SampleColumns, from: number, to: number): number[] {
  const values: number[] = [];
  for (let i = from; i < to; i++) values.push(samples.v[i] as number);
  return values;
}

export const RANGE_FUNCTIONS: Readonly<Record<string, RangeFunction>> = {
  rate: (samples, from, to, window) => extrapolatedRate(samples, from, to, window, true, true),
  increase: (samples, from, to, window) => extrapolatedRate(samples, from, to, window, true, false),
  delta: (samples, from, to, window) => extrapolatedRate(samples, from, to, window, false, false),
  irate: (samples, from, to) => instantValue(samples, from, to, true),
  idelta: (samples, from, to) => instantValue(samples, from, to, false),
  // Times relative to the first sample keep the sums small (Prometheus issue 2674).
  deriv: atLeastTwo(
    (samples, from, to) => linearRegression(samples, from, to, samples.t[from] as number).slope,
  ),
  predict_linear: (samples, from, to, window, [duration = NaN]) => {
    if (to - from < 2) return undefined;
    const { slope, intercept } = linearRegression(samples, from, to, window.ts);
    return slope * duration + intercept;
  },
  changes,
  resets,
  avg_over_time: avgOverTime,
  count_over_time: (_samples, from, to) => to - from,
  sum_over_time: sumOverTime,
  min_over_time: minOverTime,
  max_over_time: maxOverTime,
  last_over_time: (samples, _from, to) => samples.v[to - 1] as number,
  present_over_time: () => 1,
  stdvar_over_time: varianceOverTime,
  stddev_over_time: (samples, from, to) => Math.sqrt(varianceOverTime(samples, from, to)),
  quantile_over_time: (samples, from, to, _window, [q = NaN]) =>
    quantile(q, valuesOf(samples, from, to)),
};

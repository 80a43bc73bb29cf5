/**
 * Quantiles as Prometheus 2.42 computes them: over plain values (quantile_over_time) and over
 * classic histogram buckets (histogram_quantile, from series with an `le` label).
 */
import { dropMetricName, type Labels, labelsKey, type Vector } from "./values.ts";

/**
 * The q-quantile of `values`, interpolating between the two nearest ranks. Out-of-range q
 * gives an infinity, as the φ of an aggregation does.
 */
export function quantile(q: number, values: number[]): number {
  if (values.length === 0) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  if (Number.isNaN(q)) return NaN;
  // NaNs sort first, as Go's sort with Prometheus' "NaN is less" comparison leaves them.
  const sorted = [...values].sort((a, b) => {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : -1;
    if (Number.isNaN(b)) return 1;
    return a - b;
  });
  const n = sorted.length;
  const rank = q * (n - 1);
  const lowerIndex = Math.max(0, Math.floor(rank));
  const upperIndex = Math.min(n - 1, lowerIndex + 1);
  const weight = rank - Math.floor(rank);
  return (sorted[lowerIndex] as number) * (1 - weight) + (sorted[upperIndex] as number) * weight;
}

export interface Bucket {
  upperBound: number;
  count: number;
}

/** Adds up buckets with the same upper bound; `buckets` must be sorted by it. */
function coalesceBuckets(buckets: Bucket[]): Bucket[] {
  const out: Bucket[] = [];
  for (const bucket of buckets) {
    const last = out[out.length - 1];
    if (last !== undefined && last.upperBound === bucket.upperBound) last.count += bucket.count;
    else out.push({ ...bucket });
  }
  return out;
}

/**
 * Raises any count below an earlier one to that one: counts read at slightly different times
 * can be non-monotonic, and the interpolation below assumes they are not.
 */
function ensureMonotonic(buckets: Bucket[]): void {
  let max = -Infinity;
  for (const bucket of buckets) {
    if (bucket.count > max) max = bucket.count;
    else if (bucket.count < max) bucket.count = max;
  }
}

/** The q-quantile of one classic histogram (Prometheus' `bucketQuantile`). */
export function bucketQuantile(q: number, input: Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...input].sort((a, b) => a.upperBound - b.upperBound);
  const highest = sorted[sorted.length - 1];
  if (highest === undefined || highest.upperBound !== Infinity) return NaN;

  const buckets = coalesceBuckets(sorted);
  ensureMonotonic(buckets);
  if (buckets.length < 2) return NaN;
  const observations = (buckets[buckets.length - 1] as Bucket).count;
  if (observations === 0) return NaN;

  let rank = q * observations;
  // The first bucket (the +Inf one excluded) whose cumulative count reaches the rank.
  let b = 0;
  while (b < buckets.length - 1 && !((buckets[b] as Bucket).count >= rank)) b++;

  if (b === buckets.length - 1) return (buckets[buckets.length - 2] as Bucket).upperBound;
  const bucket = buckets[b] as Bucket;
  if (b === 0 && bucket.upperBound <= 0) return bucket.upperBound;

  let bucketStart = 0;
  let count = bucket.count;
  const previous = buckets[b - 1];
  if (previous !== undefined) {
    bucketStart = previous.upperBound;
    count -= previous.count;
    rank -= previous.count;
  }
  return bucketStart + (bucket.upperBound - bucketStart) * (rank / count);
}

/** Go allows single underscores between digits. */
const DECIMAL_FLOAT =
  /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const HEX_FLOAT =
  /^([+-]?)0[xX]((?:[0-9a-fA-F]_?)*[0-9a-fA-F]?)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?\d+)$/;

/**
 * Go's `strconv.ParseFloat(s, 64)`, the way Prometheus reads `le`: undefined where Go fails,
 * including values too large for a float64.
 */
export function parseGoFloat(text: string): number | undefined {
  const special = /^([+-]?)(inf|infinity)$/i.exec(text);
  if (special) return special[1] === "-" ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  let value: number | undefined;
  if (DECIMAL_FLOAT.test(text)) {
    value = Number(text.replaceAll("_", ""));
  } else {
    const hex = HEX_FLOAT.exec(text);
    if (hex === null) return undefined;
    const [, sign = "", intDigits = "", fracDigits = "", exponent = "0"] = hex;
    const digits = (intDigits + fracDigits).replaceAll("_", "");
    if (digits === "") return undefined;
    const fractionBits = 4 * fracDigits.replaceAll("_", "").length;
    const mantissa = Number.parseInt(digits, 16);
    value = mantissa * 2 ** (Number(exponent) - fractionBits);
    if (sign === "-") value = -value;
  }
  // Go reports a range error for overflow, and Prometheus skips such a bucket.
  return Number.isFinite(value) ? value : undefined;
}

interface HistogramGroup {
  labels: Labels;
  buckets: Bucket[];
}

/**
 * histogram_quantile over classic buckets: groups series by their labels without `le` (the
 * metric name kept apart, so different names never merge), one output per group.
 */
export function histogramQuantile(q: number, input: Vector, ts: number): Vector {
  const groups = new Map<string, HistogramGroup>();
  for (const sample of input) {
    const le = sample.labels.le;
    if (le === undefined) continue;
    const upperBound = parseGoFloat(le);
    if (upperBound === undefined) continue;
    const { le: _le, ...withoutLe } = sample.labels;
    const key = labelsKey(withoutLe);
    let group = groups.get(key);
    if (group === undefined) {
      group = { labels: dropMetricName(withoutLe), buckets: [] };
      groups.set(key, group);
    }
    group.buckets.push({ upperBound, count: sample.v });
  }
  const out: Vector = [];
  for (const group of groups.values()) {
    out.push({ labels: group.labels, t: ts, v: bucketQuantile(q, group.buckets) });
  }
  return out;
}

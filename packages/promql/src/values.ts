/**
 * Values the evaluator produces, in Prometheus' shapes. Times are milliseconds since the epoch.
 */

/** A label set, `__name__` included when the series has a metric name. Never mutated. */
export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  t: number;
  v: number;
}

/** A series with its samples in time order: what storage returns and what a range vector holds. */
export interface Series {
  labels: Labels;
  samples: Sample[];
}

/** One element of an instant vector. */
export interface VectorSample {
  labels: Labels;
  /** The evaluation time the sample belongs to. */
  t: number;
  v: number;
}

export type Vector = VectorSample[];

export type Value =
  | { type: "scalar"; t: number; v: number }
  | { type: "vector"; value: Vector }
  | { type: "matrix"; value: Series[] }
  | { type: "string"; t: number; v: string };

/** Prometheus' staleness marker: a NaN with this exact bit pattern ends a series. */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

const staleBuffer = new DataView(new ArrayBuffer(8));

export function staleNaN(): number {
  staleBuffer.setBigUint64(0, STALE_NAN_BITS);
  return staleBuffer.getFloat64(0);
}

export function isStaleNaN(v: number): boolean {
  if (!Number.isNaN(v)) return false;
  staleBuffer.setFloat64(0, v);
  return staleBuffer.getBigUint64(0) === STALE_NAN_BITS;
}

/** A stable key of a label set: names sorted, with separators that cannot occur in names. */
export function labelsKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let key = "";
  for (const name of names) key += `${name}\xff${labels[name]}\xfe`;
  return key;
}

/** The label set without `__name__` (what most functions and operators return). */
export function dropMetricName(labels: Labels): Labels {
  if (!("__name__" in labels)) return labels;
  const { __name__: _dropped, ...rest } = labels;
  return rest;
}

/** Label sets compared as Prometheus orders them: by sorted (name, value) pairs. */
export function compareLabels(a: Labels, b: Labels): number {
  const an = Object.keys(a).sort();
  const bn = Object.keys(b).sort();
  const n = Math.min(an.length, bn.length);
  for (let i = 0; i < n; i++) {
    const nameA = an[i] as string;
    const nameB = bn[i] as string;
    if (nameA !== nameB) return nameA < nameB ? -1 : 1;
    const va = a[nameA] as string;
    const vb = b[nameB] as string;
    if (va !== vb) return va < vb ? -1 : 1;
  }
  return an.length - bn.length;
}

/** A label set as Prometheus prints it in messages: `{a="1", b="2"}`, names sorted. */
export function formatLabels(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((name) => `${name}=${JSON.stringify(labels[name])}`);
  return `{${parts.join(", ")}}`;
}

/**
 * Comparing query results of Prometheus' HTTP API with the engine's: both are brought to one
 * shape (series of points, or an error kind), then compared with a float tolerance.
 */
import type { PrometheusResponse } from "@entente/testkit";
import { PromQLError } from "../../src/errors.ts";
import { compareLabels, type Labels, labelsKey, type Value } from "../../src/values.ts";

export type Point = readonly [t: number, v: number];

export interface NormalSeries {
  labels: Labels;
  points: Point[];
}

/** A result in a shape both sides can be brought to. */
export type Outcome =
  | { kind: "error"; errorType: string; message: string }
  | { kind: "scalar"; point: Point }
  | { kind: "string"; t: number; value: string }
  | { kind: "vector" | "matrix"; series: NormalSeries[] };

interface PromVectorItem {
  metric: Record<string, string>;
  value: [number, string];
}

interface PromMatrixItem {
  metric: Record<string, string>;
  values: [number, string][];
}

type PromData =
  | { resultType: "scalar"; result: [number, string] }
  | { resultType: "string"; result: [number, string] }
  | { resultType: "vector"; result: PromVectorItem[] }
  | { resultType: "matrix"; result: PromMatrixItem[] };

/** Prometheus answers values as strings ("NaN", "+Inf", "1e-05"). */
export function parsePromValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (text === "NaN") return Number.NaN;
  return Number(text);
}

const toMs = (seconds: number) => Math.round(seconds * 1000);

export function fromPrometheus(response: PrometheusResponse): Outcome {
  if (response.status !== "success") {
    return {
      kind: "error",
      errorType: response.errorType ?? "unknown",
      message: response.error ?? "",
    };
  }
  const data = response.data as PromData;
  switch (data.resultType) {
    case "scalar":
      return { kind: "scalar", point: [toMs(data.result[0]), parsePromValue(data.result[1])] };
    case "string":
      return { kind: "string", t: toMs(data.result[0]), value: data.result[1] };
    case "vector":
      return {
        kind: "vector",
        series: data.result.map((item) => ({
          labels: item.metric,
          points: [[toMs(item.value[0]), parsePromValue(item.value[1])]],
        })),
      };
    case "matrix":
      return {
        kind: "matrix",
        series: data.result.map((item) => ({
          labels: item.metric,
          points: item.values.map(([t, v]) => [toMs(t), parsePromValue(v)] as const),
        })),
      };
  }
}

/** The engine's value, or the error it threw (anything but a PromQLError is "internal"). */
export async function fromEngine(run: () => Promise<Value>): Promise<Outcome> {
  let value: Value;
  try {
    value = await run();
  } catch (error) {
    if (error instanceof PromQLError) {
      return { kind: "error", errorType: error.kind, message: error.message };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { kind: "error", errorType: "internal", message };
  }
  // A broken engine may answer anything; that is a difference to report, not a crash.
  const shape = (value as { type?: unknown } | undefined)?.type;
  if (!["scalar", "string", "vector", "matrix"].includes(shape as string)) {
    return { kind: "error", errorType: "internal", message: `engine answered ${String(value)}` };
  }
  switch (value.type) {
    case "scalar":
      return { kind: "scalar", point: [value.t, value.v] };
    case "string":
      return { kind: "string", t: value.t, value: value.v };
    case "vector":
      return {
        kind: "vector",
        series: value.value.map((sample) => ({
          labels: sample.labels,
          points: [[sample.t, sample.v]],
        })),
      };
    case "matrix":
      return {
        kind: "matrix",
        series: value.value.map((series) => ({
          labels: series.labels,
          points: series.samples.map((s) => [s.t, s.v] as const),
        })),
      };
  }
}

/** Equal to relative 1e-6 (absolute 1e-9 near zero); NaN equals NaN; infinities exactly. */
export function valuesEqual(expected: number, actual: number): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) {
    return Number.isNaN(expected) && Number.isNaN(actual);
  }
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return expected === actual;
  const diff = Math.abs(expected - actual);
  return diff <= 1e-9 || diff <= 1e-6 * Math.max(Math.abs(expected), Math.abs(actual));
}

export function formatLabels(labels: Labels): string {
  const name = labels.__name__ ?? "";
  const rest = Object.keys(labels)
    .filter((label) => label !== "__name__")
    .sort()
    .map((label) => `${label}=${JSON.stringify(labels[label])}`)
    .join(", ");
  return `${name}{${rest}}`;
}

function formatPoint([t, v]: Point): string {
  return `${v} @${new Date(t).toISOString()}`;
}

function summarize(outcome: Outcome): string {
  switch (outcome.kind) {
    case "error":
      return `error ${outcome.errorType}: ${outcome.message}`;
    case "scalar":
      return `scalar ${formatPoint(outcome.point)}`;
    case "string":
      return `string ${JSON.stringify(outcome.value)}`;
    default:
      return `${outcome.kind} of ${outcome.series.length} series`;
  }
}

/**
 * How `actual` (the engine) differs from `expected` (Prometheus), or undefined when it does
 * not. Series order only counts when `ordered` (a top-level sort or sort_desc).
 */
export function difference(
  expected: Outcome,
  actual: Outcome,
  options: { ordered?: boolean } = {},
): string | undefined {
  if (expected.kind === "error" || actual.kind === "error") {
    if (expected.kind === "error" && actual.kind === "error") {
      return expected.errorType === actual.errorType
        ? undefined
        : `Prometheus: ${summarize(expected)}\n  engine: ${summarize(actual)}`;
    }
    return `Prometheus: ${summarize(expected)}\n  engine: ${summarize(actual)}`;
  }
  if (expected.kind !== actual.kind) {
    return `Prometheus: ${summarize(expected)}\n  engine: ${summarize(actual)}`;
  }
  if (expected.kind === "scalar" && actual.kind === "scalar") {
    return pointsDifference([expected.point], [actual.point]);
  }
  if (expected.kind === "string" && actual.kind === "string") {
    return expected.value === actual.value && expected.t === actual.t
      ? undefined
      : `Prometheus: ${summarize(expected)}\n  engine: ${summarize(actual)}`;
  }
  if (
    (expected.kind === "vector" || expected.kind === "matrix") &&
    (actual.kind === "vector" || actual.kind === "matrix")
  ) {
    return seriesDifference(expected.series, actual.series, options.ordered === true);
  }
  return undefined;
}

function seriesDifference(
  expected: NormalSeries[],
  actual: NormalSeries[],
  ordered: boolean,
): string | undefined {
  const expectedByKey = indexByLabels(expected);
  const actualByKey = indexByLabels(actual);
  if (typeof expectedByKey === "string") return `Prometheus answered ${expectedByKey}`;
  if (typeof actualByKey === "string") return `engine answered ${actualByKey}`;
  const missing = [...expectedByKey.keys()].filter((key) => !actualByKey.has(key));
  const extra = [...actualByKey.keys()].filter((key) => !expectedByKey.has(key));
  if (missing.length > 0 || extra.length > 0) {
    const show = (keys: string[], from: Map<string, NormalSeries>) =>
      keys
        .map((key) => from.get(key) as NormalSeries)
        .sort((a, b) => compareLabels(a.labels, b.labels))
        .slice(0, 3)
        .map((s) => `${formatLabels(s.labels)} ${s.points.slice(0, 2).map(formatPoint).join(", ")}`)
        .join("; ");
    const parts = [`${expected.length} series expected, ${actual.length} answered`];
    if (missing.length > 0)
      parts.push(`missing ${missing.length}: ${show(missing, expectedByKey)}`);
    if (extra.length > 0) parts.push(`extra ${extra.length}: ${show(extra, actualByKey)}`);
    return parts.join("\n  ");
  }
  const sorted = [...expectedByKey.entries()].sort(([, a], [, b]) =>
    compareLabels(a.labels, b.labels),
  );
  for (const [key, series] of sorted) {
    const other = actualByKey.get(key) as NormalSeries;
    const diff = pointsDifference(series.points, other.points);
    if (diff !== undefined) return `${formatLabels(series.labels)}: ${diff}`;
  }
  if (ordered) {
    // Ties may come in any order (Prometheus' sort is not stable): compare the value sequence.
    const at = expected.findIndex((want, i) => {
      const got = actual[i] as NormalSeries;
      return !valuesEqual(want.points[0]?.[1] ?? 0, got.points[0]?.[1] ?? 0);
    });
    if (at >= 0) {
      const name = (list: NormalSeries[]) => formatLabels((list[at] as NormalSeries).labels);
      return `order differs at #${at}: Prometheus ${name(expected)}, engine ${name(actual)}`;
    }
  }
  return undefined;
}

function indexByLabels(series: NormalSeries[]): Map<string, NormalSeries> | string {
  const byKey = new Map<string, NormalSeries>();
  for (const one of series) {
    const key = labelsKey(one.labels);
    if (byKey.has(key)) return `the label set ${formatLabels(one.labels)} twice`;
    byKey.set(key, one);
  }
  return byKey;
}

function pointsDifference(expected: Point[], actual: Point[]): string | undefined {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    const want = expected[i];
    const got = actual[i];
    if (want === undefined || got === undefined) {
      return `${expected.length} points expected, ${actual.length} answered; first unmatched: ${
        want === undefined ? `extra ${formatPoint(got as Point)}` : `missing ${formatPoint(want)}`
      }`;
    }
    if (want[0] !== got[0] || !valuesEqual(want[1], got[1])) {
      return `point #${i}: Prometheus ${formatPoint(want)}, engine ${formatPoint(got)}`;
    }
  }
  return undefined;
}

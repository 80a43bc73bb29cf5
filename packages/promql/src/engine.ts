/**
 * The evaluator: instant and range queries with Prometheus' semantics.
 */
import type { Expr, VectorSelector } from "./ast.ts";
import { badData } from "./errors.ts";
import { columnsToSeries } from "./eval-columns.ts";
import {
  DEFAULT_LOOKBACK_MS,
  DEFAULT_MAX_SAMPLES,
  DEFAULT_SUBQUERY_STEP_MS,
  EvalContext,
} from "./eval-context.ts";
import type { GridValue, StepGrid } from "./eval-grid.ts";
import { stepInvariantRoots } from "./eval-invariant.ts";
import { NodeEvaluator } from "./eval-node.ts";
import { readWindows } from "./eval-reads.ts";
import { seriesOverSteps, valueAtStep } from "./eval-steps.ts";
import { parse } from "./parse.ts";
import type { SeriesSource } from "./storage.ts";
import { documentedType, typeOf } from "./typecheck.ts";
import type { Labels, Series, Value } from "./values.ts";

export interface EngineOptions {
  /** How far back an instant selector looks for a sample; Prometheus' default is 5 minutes. */
  lookbackMs?: number;
  /** Most samples held at once before the query fails (Prometheus' `query.max-samples`). */
  maxSamples?: number;
  /** The step of subqueries that name none (Prometheus' global evaluation interval, 1 minute). */
  defaultSubqueryStepMs?: number;
  /** Aborts the query: fetching stops and evaluation ends at its next slice. */
  signal?: AbortSignal;
}

/** One evaluation: a single time (start = end, step 0) or a range at a step, milliseconds. */
export interface EvalRange {
  start: number;
  end: number;
  step: number;
}

/** What a selector must read: its series with samples in [start, end]. */
export interface SelectorRead {
  selector: VectorSelector;
  start: number;
  end: number;
}

/** Values of `external` nodes, by key: series with a sample at each step they have one. */
export type Externals = ReadonlyMap<string, Series[]>;

/** Prometheus' API limit on the points of one series in a range query. */
export { DEFAULT_LOOKBACK_MS } from "./eval-context.ts";

/** Prometheus' API refuses range queries with more steps than this per series. */
export const MAX_POINTS_PER_SERIES = 11_000;

/** The selectors an evaluation reads, each with the time range it needs. */
export function selectorReads(
  expr: Expr,
  range: EvalRange,
  options?: EngineOptions,
): SelectorRead[] {
  return readWindows(expr, {
    start: range.start,
    end: range.end,
    lookbackMs: options?.lookbackMs ?? DEFAULT_LOOKBACK_MS,
  });
}

/**
 * Evaluates with the selectors' series already read (`reads` keyed by selector node) — pure,
 * yielding to the event loop between slices of work. A range evaluation answers a matrix.
 */
export async function evaluate(
  expr: Expr,
  range: EvalRange,
  reads: ReadonlyMap<VectorSelector, Series[]>,
  options?: EngineOptions & { externals?: Externals },
): Promise<Value> {
  const instant = range.step === 0 && range.start === range.end;
  if (!instant) {
    assertValidRange(range);
    assertRangeQueryType(expr);
  }
  const ctx = new EvalContext({
    lookbackMs: options?.lookbackMs ?? DEFAULT_LOOKBACK_MS,
    maxSamples: options?.maxSamples ?? DEFAULT_MAX_SAMPLES,
    defaultSubqueryStepMs: options?.defaultSubqueryStepMs ?? DEFAULT_SUBQUERY_STEP_MS,
    queryStart: range.start,
    queryEnd: range.end,
    signal: options?.signal,
    reads,
    externals: options?.externals ?? new Map(),
  });
  ctx.throwIfAborted();
  for (const series of new Set(reads.values())) {
    ctx.hold(series.reduce((n, s) => n + s.samples.length, 0));
  }
  const grid: StepGrid = { start: range.start, end: range.end, interval: instant ? 1 : range.step };
  const evaluator = new NodeEvaluator(ctx, stepInvariantRoots(expr));
  const value = await evaluator.evalAny(expr, grid);
  ctx.throwIfAborted();
  if (instant) return instantResult(await evaluator.materialize(value, grid), range.start);
  const series =
    (value.type === "columns" ? await columnsToSeries(ctx, value, grid) : undefined) ??
    (await seriesOverSteps(ctx, await evaluator.materialize(value, grid), grid));
  return rangeResult(series);
}

/** Parses (when given text), reads every selector from `source` and evaluates at one time. */
export async function instantQuery(
  source: SeriesSource,
  query: string | Expr,
  time: number,
  options?: EngineOptions,
): Promise<Value> {
  return runQuery(source, query, { start: time, end: time, step: 0 }, options);
}

/** Parses (when given text), reads every selector from `source` and evaluates over a range. */
export async function rangeQuery(
  source: SeriesSource,
  query: string | Expr,
  range: EvalRange,
  options?: EngineOptions,
): Promise<Value> {
  assertRangeQueryRange(range);
  return runQuery(source, query, range, options);
}

async function runQuery(
  source: SeriesSource,
  query: string | Expr,
  range: EvalRange,
  options: EngineOptions | undefined,
): Promise<Value> {
  const expr = typeof query === "string" ? parse(query) : query;
  if (range.step !== 0) assertRangeQueryType(expr);
  const reads = await readAll(source, selectorReads(expr, range, options), options?.signal);
  return evaluate(expr, range, reads, options);
}

/** Fetches every selector's series, reading identical selections once. */
export async function readAll(
  source: SeriesSource,
  reads: SelectorRead[],
  signal: AbortSignal | undefined,
): Promise<Map<VectorSelector, Series[]>> {
  const distinct = new Map<string, SelectorRead>();
  const keyOf = (read: SelectorRead): string =>
    JSON.stringify([read.selector.matchers, read.start, read.end]);
  for (const read of reads) {
    const key = keyOf(read);
    if (!distinct.has(key)) distinct.set(key, read);
  }
  const fetched = new Map<string, Series[]>();
  await Promise.all(
    [...distinct].map(async ([key, read]) => {
      const hints = { start: read.start, end: read.end };
      fetched.set(key, await source.select(read.selector.matchers, hints, signal));
    }),
  );
  return new Map(reads.map((read) => [read.selector, fetched.get(keyOf(read)) ?? []]));
}

/** A range query's range as Prometheus' API accepts it, at most 11,000 steps. */
export function assertRangeQueryRange(range: EvalRange): void {
  assertValidRange(range);
  if ((range.end - range.start) / range.step > MAX_POINTS_PER_SERIES) {
    throw badData(
      "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
    );
  }
}

function assertValidRange(range: EvalRange): void {
  if (range.end < range.start) throw badData("end timestamp must not be before start time");
  if (!(range.step > 0)) {
    throw badData(
      "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
  }
}

function assertRangeQueryType(expr: Expr): void {
  const type = typeOf(expr);
  if (type === "vector" || type === "scalar") return;
  throw badData(
    `invalid expression type "${documentedType(type)}" for range query, must be Scalar or instant Vector`,
  );
}

function instantResult(value: GridValue, time: number): Value {
  return valueAtStep(value, 0, time);
}

/** A range evaluation's series, sorted by labels as Prometheus sorts them. */
function rangeResult(all: Series[]): Value {
  const series = all.filter((s) => s.samples.length > 0);
  // Each label set's names are sorted once rather than at every comparison.
  const decorated = series.map((s) => ({ series: s, names: Object.keys(s.labels).sort() }));
  decorated.sort((a, b) => compareSortedLabels(a.series.labels, a.names, b.series.labels, b.names));
  return { type: "matrix", value: decorated.map((entry) => entry.series) };
}

/** `compareLabels` with each side's names already sorted. */
function compareSortedLabels(
  a: Labels,
  aNames: readonly string[],
  b: Labels,
  bNames: readonly string[],
): number {
  const n = Math.min(aNames.length, bNames.length);
  for (let i = 0; i < n; i++) {
    const nameA = aNames[i] as string;
    const nameB = bNames[i] as string;
    if (nameA !== nameB) return nameA < nameB ? -1 : 1;
    const va = a[nameA] as string;
    const vb = b[nameB] as string;
    if (va !== vb) return va < vb ? -1 : 1;
  }
  return aNames.length - bNames.length;
}

/**
 * `entente.promql`: a PromQL query (instant or range) over the query federation's instances,
 * answered in the shapes of Prometheus' HTTP API (`data` of `/api/v1/query` and
 * `/api/v1/query_range`), plus `partial` when some instances failed. Beside it, the series,
 * label names and label values that Grafana's label browser and autocomplete ask for.
 */
import { z } from "zod";
import { PARTIAL_POLICIES, type PartialInfo } from "./query.ts";

/** The longest PromQL text accepted. */
export const MAX_PROMQL_LENGTH = 64 * 1024;

/**
 * A time as Prometheus' API takes it: an RFC 3339 timestamp or Unix seconds (number or
 * decimal string, fractions allowed).
 */
const promTime = z.union([z.string().max(64), z.number()]);
/** A step or lookback: a Prometheus duration (`15s`, `1m30s`) or float seconds. */
const promDuration = z.union([z.string().max(64), z.number()]);

export const promqlRequestSchema = z.strictObject({
  query: z.string().min(1, "query must not be empty").max(MAX_PROMQL_LENGTH),
  /** An instant query's evaluation time; now when absent and no range is given. */
  time: promTime.optional(),
  /** A range query: start, end and step together. */
  start: promTime.optional(),
  end: promTime.optional(),
  step: promDuration.optional(),
  timeoutMs: z.number().optional(),
  partial: z.enum(PARTIAL_POLICIES).optional(),
});
export type PromqlRequest = z.input<typeof promqlRequestSchema>;

/** A sample as Prometheus' API writes it: Unix seconds and the value as a string. */
export type PromSample = [number, string];

export interface PromVectorElement {
  metric: Record<string, string>;
  value: PromSample;
}

export interface PromMatrixElement {
  metric: Record<string, string>;
  values: PromSample[];
}

export type PromqlData =
  | { resultType: "vector"; result: PromVectorElement[] }
  | { resultType: "matrix"; result: PromMatrixElement[] }
  | { resultType: "scalar"; result: PromSample }
  | { resultType: "string"; result: [number, string] };

/**
 * The answer: Prometheus' `data`, with `warnings` (one per failed instance when the answer is
 * partial) and Entente's `partial`. A large vector or matrix streams as items of this shape,
 * each with a slice of `result`; the first carries `warnings` and `partial`.
 */
export type PromqlAnswer = PromqlData & { warnings?: string[]; partial?: PartialInfo };

const matchers = z.array(z.string().min(1).max(MAX_PROMQL_LENGTH)).max(64);

/** `<promql>.series`: the label sets of series matching any selector in `match`. */
export const promqlSeriesRequestSchema = z.strictObject({
  match: matchers.min(1, "match needs at least one series selector"),
  start: promTime.optional(),
  end: promTime.optional(),
  timeoutMs: z.number().optional(),
});
export type PromqlSeriesRequest = z.input<typeof promqlSeriesRequestSchema>;

/** `<promql>.labels` (label names) and `<promql>.values` (values of `name`). */
export const promqlLabelsRequestSchema = z.strictObject({
  /** For `.values`: the label whose values are asked for. */
  name: z.string().min(1).max(256).optional(),
  match: matchers.optional(),
  start: promTime.optional(),
  end: promTime.optional(),
  timeoutMs: z.number().optional(),
});
export type PromqlLabelsRequest = z.input<typeof promqlLabelsRequestSchema>;

export interface PromqlSeriesAnswer {
  series: Array<Record<string, string>>;
  warnings?: string[];
}

export interface PromqlLabelsAnswer {
  /** Label names (`.labels`) or values (`.values`), sorted. */
  values: string[];
  warnings?: string[];
}

export function promqlSeriesSubject(promqlSubject: string): string {
  return `${promqlSubject}.series`;
}

export function promqlLabelsSubject(promqlSubject: string): string {
  return `${promqlSubject}.labels`;
}

export function promqlValuesSubject(promqlSubject: string): string {
  return `${promqlSubject}.values`;
}

/** Prometheus' `metadata` (Entente keeps none: `{}`) and `status/buildinfo`, for Grafana. */
export function promqlMetadataSubject(promqlSubject: string): string {
  return `${promqlSubject}.metadata`;
}

export function promqlBuildinfoSubject(promqlSubject: string): string {
  return `${promqlSubject}.buildinfo`;
}

/** Joins a streamed answer's items into one, as the HTTP API and the command line answer. */
export function joinPromqlItems(items: unknown[]): PromqlAnswer {
  const [first, ...rest] = items as PromqlAnswer[];
  if (first === undefined) return { resultType: "vector", result: [] };
  if (first.resultType !== "vector" && first.resultType !== "matrix") return first;
  const result: unknown[] = [...first.result];
  for (const item of rest) if (Array.isArray(item.result)) result.push(...item.result);
  return { ...first, result } as PromqlAnswer;
}

/** What every kind of instance offers the executor. */
import type { EvalRange, Expr, LabelMatcher, Labels, Value } from "@entente/promql";
import type { PartialAggregate } from "../partials.ts";
import type { Point } from "../points.ts";
import type { FederatedQuery } from "../query.ts";

export type InstanceKind = "duckdb" | "postgres" | "mysql" | "entente" | "prometheus";

export interface FetchOptions {
  /** Aborted at the instance's timeout, the query's deadline, or when the caller goes away. */
  signal: AbortSignal;
  /** Milliseconds left for this call. */
  timeoutMs: number;
  /** Most points (raw) or groups (partials) this call may return before it is TOO_LARGE. */
  maxPoints: number;
}

/** A failure inside an instance that itself federates (an `entente` instance). */
export interface InnerFailure {
  instance: string;
  code: string;
  message: string;
}

export interface RawResult {
  /** In time order. */
  points: Point[];
  failures?: InnerFailure[];
}

export interface PartialsResult {
  partials: PartialAggregate[];
  failures?: InnerFailure[];
}

/** One series' samples in time order, times in milliseconds. */
export interface SeriesSamples {
  tags: Record<string, string>;
  samples: Array<{ t: number; v: number }>;
}

export interface MetricInstance {
  readonly name: string;
  readonly kind: InstanceKind;
  /** Points matching the query, in time order, `limit` applied. */
  fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult>;
  /** Partial aggregates per window and group for `query.aggregation`. */
  fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult>;
  /**
   * The query's samples series by series, times in milliseconds, where the instance can read
   * them so (PromQL's reads); otherwise PromQL groups `fetchRaw`'s points.
   */
  readSeries?(query: FederatedQuery, options: FetchOptions): Promise<SeriesSamples[]>;
  /** The tag sets of the series the query reads, where the instance can list them unread. */
  readTagSets?(query: FederatedQuery, options: FetchOptions): Promise<Record<string, string>[]>;
  /** Every metric name held, where the instance can list them (PromQL name patterns need it). */
  metricNames?(signal: AbortSignal): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * PromQL pushed down to an instance: each part is evaluated over the instance's own data alone,
 * at one time (`start === end`) or over a range, and answered as the engine answers.
 */
export interface PromqlEvaluation {
  parts: ReadonlyArray<{ expr: Expr; range: EvalRange }>;
  lookbackMs: number;
  /** Most samples an evaluation in the worker may hold. */
  maxSamples: number;
}

export interface PromqlPartsResult {
  /** One value per part, in order: a matrix for a range evaluation. */
  values: Value[];
  failures?: InnerFailure[];
}

/** What an instance offers PromQL: pushed-down evaluation and its series' label sets. */
export interface PromqlInstance {
  evaluatePromql(evaluation: PromqlEvaluation, options: FetchOptions): Promise<PromqlPartsResult>;
  /** Label sets of the series matching every matcher with samples in [startMs, endMs]. */
  seriesLabels(
    matchers: LabelMatcher[],
    startMs: number,
    endMs: number,
    options: FetchOptions,
  ): Promise<Labels[]>;
}

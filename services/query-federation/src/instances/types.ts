/** What every kind of instance offers the executor. */
import type { PartialAggregate } from "../partials.ts";
import type { Point } from "../points.ts";
import type { FederatedQuery } from "../query.ts";

export type InstanceKind = "duckdb" | "postgres" | "mysql" | "entente";

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

export interface MetricInstance {
  readonly name: string;
  readonly kind: InstanceKind;
  /** Points matching the query, in time order, `limit` applied. */
  fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult>;
  /** Partial aggregates per window and group for `query.aggregation`. */
  fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult>;
  close(): Promise<void>;
}

/**
 * The federated executor: a query's machines (executor.ts, replica-group-machine.ts,
 * call-machine.ts) run with the effects of a query run (query-run.ts), over the instances, their
 * circuit breakers and figures (instance-health.ts) and the result cache this federator keeps.
 * The query's time comes from one deadline: the caller's, a little kept back, or the query's
 * own budget when there is no caller's.
 */
import { EntenteError, type PartialInfo } from "@entente/protocol";
// The deadline alone, not the runtime: the federator stays free of NATS.
import { abortReason, Deadline } from "@entente/runtime/deadline";
import { toPromise } from "xstate";
import { type BreakerSettings, DEFAULT_BREAKER } from "./breaker.ts";
import { type CacheSettings, DEFAULT_CACHE, ResultCache } from "./cache.ts";
import type { QueryOutput } from "./executor.ts";
import { InstanceHealth } from "./instance-health.ts";
import type { MetricInstance } from "./instances/types.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import type { FederatedQuery } from "./query.ts";
import { type Answering, type FederatorParts, QueryRun } from "./query-run.ts";
import { DEFAULT_RETRY, type RetrySettings } from "./retry.ts";
import type { RoutingTable } from "./router.ts";
import type { InstanceStatsView } from "./stats.ts";

export interface FederatorSettings {
  parallelism: number;
  /** Each instance call's own budget, within the query's. */
  instanceTimeoutMs: number;
  /** A query's budget when it has no caller's deadline and names none. */
  defaultTimeoutMs: number;
  maxPoints: number;
  maxBytes: number;
  retry: RetrySettings;
  breaker: BreakerSettings;
  cache: CacheSettings;
}

export const DEFAULT_FEDERATOR: FederatorSettings = {
  parallelism: 16,
  instanceTimeoutMs: 10_000,
  defaultTimeoutMs: 30_000,
  maxPoints: 1_000_000,
  maxBytes: 256 * 1024 * 1024,
  retry: DEFAULT_RETRY,
  breaker: DEFAULT_BREAKER,
  cache: DEFAULT_CACHE,
};

export interface FederatedAnswer {
  points: Point[];
  partial?: PartialInfo;
}

/** What `fetchPartials` of a federation answers: unmerged partials, for a federation above. */
export interface PartialsAnswer {
  partials: PartialAggregate[];
  partial?: PartialInfo;
}

export interface ExecuteOptions {
  /**
   * The caller's deadline: the request's, which already holds any `timeoutMs` the request
   * named. Without one (an embedded federator), the query's `timeoutMs` or `defaultTimeoutMs`.
   */
  deadline?: Deadline;
  /** The caller's cancellation: the request's signal. */
  signal?: AbortSignal;
}

/**
 * The query's deadline within its caller's: a little is kept back, so that a partial answer
 * made at the query's deadline still reaches the caller before the caller's own deadline.
 */
export function executorDeadline(caller: Deadline, now = Date.now()): Deadline {
  const remaining = caller.remainingMs(now);
  return caller.within(Math.max(1, remaining - Math.min(250, remaining * 0.1)), now);
}

export class Federator {
  readonly instances: Map<string, MetricInstance>;
  readonly routing: RoutingTable;
  readonly settings: FederatorSettings;
  readonly cache: ResultCache;
  private readonly health: InstanceHealth;
  /** What each query run shares. */
  private readonly parts: FederatorParts;
  queries = 0;
  failedQueries = 0;
  partialQueries = 0;

  constructor(options: {
    instances: MetricInstance[];
    routing?: Partial<RoutingTable>;
    settings?: Partial<FederatorSettings>;
    now?: () => number;
  }) {
    this.instances = new Map(options.instances.map((i) => [i.name, i]));
    this.routing = {
      instances: options.instances.map((i) => i.name),
      rules: options.routing?.rules ?? [],
      replicaGroups: options.routing?.replicaGroups ?? [],
    };
    this.settings = { ...DEFAULT_FEDERATOR, ...options.settings };
    this.cache = new ResultCache(this.settings.cache);
    const now = options.now ?? (() => performance.now());
    this.health = new InstanceHealth(this.instances.keys(), this.settings.breaker, now);
    this.parts = {
      instances: this.instances,
      routing: this.routing,
      cache: this.cache,
      health: this.health,
      instanceTimeoutMs: this.settings.instanceTimeoutMs,
      maxPoints: this.settings.maxPoints,
      maxBytes: this.settings.maxBytes,
      now,
    };
  }

  /** A query, answered with finalized points (or raw points tagged with their instance). */
  async query(query: FederatedQuery, options: ExecuteOptions = {}): Promise<FederatedAnswer> {
    this.queries += 1;
    try {
      const outcome = await this.execute(query, "points", options);
      if (outcome.partial) this.partialQueries += 1;
      if (outcome.state !== "answered") throw outcome.error;
      const points = "points" in outcome.merged ? outcome.merged.points : [];
      return outcome.partial ? { points, partial: outcome.partial } : { points };
    } catch (err) {
      this.failedQueries += 1;
      throw err;
    }
  }

  /** Unmerged partials for a federation above this one (hierarchical federation). */
  async partials(query: FederatedQuery, options: ExecuteOptions = {}): Promise<PartialsAnswer> {
    if (!query.aggregation) throw new EntenteError("BAD_REQUEST", "partials need an aggregation");
    const outcome = await this.execute(query, "partials", options);
    if (outcome.state !== "answered") throw outcome.error;
    const partials = "partials" in outcome.merged ? outcome.merged.partials : [];
    return outcome.partial ? { partials, partial: outcome.partial } : { partials };
  }

  /** Raw points, unmerged order aside, for a federation above this one. */
  async raw(query: FederatedQuery, options: ExecuteOptions = {}): Promise<FederatedAnswer> {
    const { aggregation: _aggregation, ...rawQuery } = query;
    return this.query(rawQuery, options);
  }

  /** Runs the query's machine to its end; the caller going away cancels it. */
  private async execute(
    query: FederatedQuery,
    answering: Answering,
    options: ExecuteOptions,
  ): Promise<QueryOutput> {
    const { signal, deadline: caller } = options;
    if (signal?.aborted) throw abortReason(signal, caller, "query");
    const deadline = caller
      ? executorDeadline(caller)
      : Deadline.after(query.timeoutMs ?? this.settings.defaultTimeoutMs);
    const budgetMs = deadline.remainingMs();
    const run = new QueryRun(this.parts, query, answering, budgetMs);
    const actor = run.actor({
      parallelism: this.settings.parallelism,
      deadlineMs: budgetMs,
      policy: query.partial,
      retry: this.settings.retry,
    });
    const cancel = () =>
      actor.send({ type: "cancel", reason: abortReason(signal, caller, "query") });
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      const done = toPromise(actor);
      actor.start();
      return await done;
    } finally {
      signal?.removeEventListener("abort", cancel);
      actor.stop();
      run.abandonOpen();
    }
  }

  circuitOf(name: string): string {
    return this.health.circuitOf(name);
  }

  instanceStats(): Record<string, InstanceStatsView> {
    return this.health.view();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.instances.values()].map((i) => i.close()));
  }
}

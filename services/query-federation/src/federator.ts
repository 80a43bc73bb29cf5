/**
 * The federated executor: a query's machines (executor.ts, replica-group-machine.ts,
 * call-machine.ts) run with the effects of a query run (query-run.ts), over the instances, their
 * circuit breakers and figures (instance-health.ts) and the result cache this federator keeps.
 * The query's time comes from one deadline: the caller's, a little kept back, or the query's
 * own budget when there is no caller's.
 */

import {
  compareLabels,
  DEFAULT_LOOKBACK_MS,
  type EvalRange,
  type Expr,
  evaluate,
  type LabelMatcher,
  type Labels,
  labelsKey,
  planFederation,
  type Series,
  type Value,
} from "@entente/promql";
import {
  EntenteError,
  INSTANCE_TAG,
  type PartialInfo,
  type PartialPolicy,
  toEntenteError,
} from "@entente/protocol";
// The deadline alone, not the runtime: the federator stays free of NATS.
import { abortReason, Deadline } from "@entente/runtime/deadline";
import { toPromise } from "xstate";
import { type BreakerSettings, DEFAULT_BREAKER } from "./breaker.ts";
import { type CacheSettings, DEFAULT_CACHE, ResultCache } from "./cache.ts";
import { DEFAULT_PROMQL_MAX_SAMPLES } from "./config.ts";
import type { QueryOutput } from "./executor.ts";
import { InstanceHealth } from "./instance-health.ts";
import type { MetricInstance, PromqlInstance } from "./instances/types.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import { LocalPromql } from "./promql/local-instance.ts";
import { type PromqlQuery, promqlError } from "./promql/request.ts";
import { routePromql } from "./promql/routing.ts";
import { PromqlRun, type PromqlRunParts } from "./promql/run.ts";
import type { FederatedQuery } from "./query.ts";
import { type Answering, QueryRun, type RunEffects, runActor } from "./query-run.ts";
import { DEFAULT_RETRY, type RetrySettings } from "./retry.ts";
import { type RoutingTable, route } from "./router.ts";
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

export interface PromqlAnswer {
  value: Value;
  partial?: PartialInfo;
}

export interface SeriesAnswer {
  series: Labels[];
  /** One per instance that could not answer. */
  warnings: string[];
}

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
  /** PromQL answers are the merged pushdowns of a plan, cached apart from points. */
  readonly promqlCache: ResultCache<Series[][]>;
  private readonly health: InstanceHealth;
  /** What each query run shares. */
  private readonly parts: PromqlRunParts;
  private readonly promqlInstances = new Map<string, PromqlInstance>();
  readonly lookbackMs: number;
  readonly maxSamples: number;
  queries = 0;
  failedQueries = 0;
  partialQueries = 0;

  constructor(options: {
    instances: MetricInstance[];
    routing?: Partial<RoutingTable>;
    settings?: Partial<FederatorSettings>;
    now?: () => number;
    lookbackMs?: number;
    maxSamples?: number;
  }) {
    this.instances = new Map(options.instances.map((i) => [i.name, i]));
    this.routing = {
      instances: options.instances.map((i) => i.name),
      rules: options.routing?.rules ?? [],
      replicaGroups: options.routing?.replicaGroups ?? [],
    };
    this.settings = { ...DEFAULT_FEDERATOR, ...options.settings };
    this.cache = new ResultCache(this.settings.cache);
    this.promqlCache = new ResultCache<Series[][]>(this.settings.cache, seriesBytes);
    this.lookbackMs = options.lookbackMs ?? DEFAULT_LOOKBACK_MS;
    this.maxSamples = options.maxSamples ?? DEFAULT_PROMQL_MAX_SAMPLES;
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
      promqlOf: (name) => this.promqlOf(name),
      promqlCache: this.promqlCache,
    };
  }

  /** How PromQL reaches an instance: its own evaluation, or the worker's over its points. */
  promqlOf(name: string): PromqlInstance {
    let promql = this.promqlInstances.get(name);
    if (!promql) {
      const instance = this.instances.get(name);
      if (!instance) throw new EntenteError("NOT_FOUND", `unknown instance ${name}`);
      promql = isPromqlInstance(instance) ? instance : new LocalPromql(instance);
      this.promqlInstances.set(name, promql);
    }
    return promql;
  }

  /**
   * A PromQL query: planned into parts each target evaluates over its own data, fetched and
   * merged by the same machines as a metric query (routing, replicas, breaker, retries,
   * deadline, partial answers, cache), then the central rest evaluated here.
   */
  async promql(query: PromqlQuery, options: ExecuteOptions = {}): Promise<PromqlAnswer> {
    this.queries += 1;
    try {
      const { routing, expr } = routePromql(query.expr);
      const { range } = query;
      const plan = planFederation(expr, range);
      const lookbackMs = this.lookbackMs;
      const key = JSON.stringify(
        { e: expr, r: [range.start, range.end, range.step], l: lookbackMs },
        exactNumbers,
      );
      const input = { plan, range, lookbackMs, maxSamples: this.maxSamples, routing, key };
      const deadline = this.deadlineOf(query.timeoutMs, options);
      // Nothing to read (`1+1`, Grafana's health check): no instance is asked.
      if (plan.parts.length === 0) {
        return {
          value: await this.evaluateCentral(plan.central, range, new Map(), deadline, options),
        };
      }
      const run = new PromqlRun(this.parts, input, deadline.remainingMs());
      const outcome = await this.runToEnd(run, query.partial, deadline, options.signal);
      if (outcome.partial) this.partialQueries += 1;
      if (outcome.state !== "answered") throw outcome.error;
      const merged = "pushdowns" in outcome.merged ? outcome.merged.pushdowns : [];
      const partial = outcome.partial ? { partial: outcome.partial } : {};
      if (plan.united) {
        return { value: { type: "matrix", value: sortedSeries(merged[0] ?? []) }, ...partial };
      }
      const externals = new Map(plan.pushdowns.map((p, i) => [p.key, merged[i] ?? []]));
      const value = await this.evaluateCentral(plan.central, range, externals, deadline, options);
      return { value, ...partial };
    } catch (err) {
      this.failedQueries += 1;
      throw promqlError(err);
    }
  }

  /** The plan's central rest, within the query's deadline. */
  private async evaluateCentral(
    central: Expr,
    range: EvalRange,
    externals: Map<string, Series[]>,
    deadline: Deadline,
    options: ExecuteOptions,
  ): Promise<Value> {
    using bounded = deadline.signal(options.signal, "query");
    try {
      return await evaluate(central, range, new Map(), {
        externals,
        lookbackMs: this.lookbackMs,
        maxSamples: this.maxSamples,
        signal: bounded.signal,
      });
    } catch (err) {
      throw bounded.signal.aborted
        ? abortReason(bounded.signal, deadline, "query")
        : promqlError(err);
    }
  }

  /**
   * Label sets of the series matching any of `selectors` (each a list of matchers), from every
   * instance the selectors route to; an instance that fails is a warning, as Prometheus'
   * federating proxies answer it.
   */
  async seriesLabels(
    selectors: LabelMatcher[][],
    startMs: number,
    endMs: number,
    options: ExecuteOptions = {},
  ): Promise<SeriesAnswer> {
    const deadline = this.deadlineOf(undefined, options);
    const found = new Map<string, Labels>();
    const warnings: string[] = [];
    for (const matchers of selectors) {
      const { routing } = routePromql({ type: "vectorSelector", matchers, offsetMs: 0 });
      const names = route(routing, this.routing).flatMap((t) =>
        t.kind === "instance" ? [t.name] : t.instances,
      );
      const own = matchers.filter((m) => m.name !== INSTANCE_TAG);
      await Promise.all(
        names.map(async (name) => {
          const timeoutMs = Math.max(
            1,
            Math.min(this.settings.instanceTimeoutMs, deadline.remainingMs()),
          );
          using bounded = deadline.within(timeoutMs).signal(options.signal, `instance ${name}`);
          try {
            const labels = await this.promqlOf(name).seriesLabels(own, startMs, endMs, {
              signal: bounded.signal,
              timeoutMs,
              maxPoints: this.settings.maxPoints,
            });
            for (const l of labels) found.set(labelsKey(l), l);
          } catch (err) {
            const error = toEntenteError(err);
            warnings.push(`instance ${name}: ${error.code}: ${error.message}`);
          }
        }),
      );
    }
    return { series: sortedLabels([...found.values()]), warnings };
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

  /** The query's deadline: within the caller's, else its own budget or the default. */
  private deadlineOf(timeoutMs: number | undefined, options: ExecuteOptions): Deadline {
    const { signal, deadline: caller } = options;
    if (signal?.aborted) throw abortReason(signal, caller, "query");
    return caller
      ? executorDeadline(caller)
      : Deadline.after(timeoutMs ?? this.settings.defaultTimeoutMs);
  }

  /** Runs a metric query's machine to its end. */
  private async execute(
    query: FederatedQuery,
    answering: Answering,
    options: ExecuteOptions,
  ): Promise<QueryOutput> {
    const deadline = this.deadlineOf(query.timeoutMs, options);
    const run = new QueryRun(this.parts, query, answering, deadline.remainingMs());
    return this.runToEnd(run, query.partial, deadline, options.signal);
  }

  /** Runs a query's machine with `run`'s effects to its end; the caller going away cancels it. */
  private async runToEnd(
    run: RunEffects & { abandonOpen(): void },
    policy: PartialPolicy,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): Promise<QueryOutput> {
    const budgetMs = deadline.remainingMs();
    const actor = runActor(run, {
      parallelism: this.settings.parallelism,
      deadlineMs: budgetMs,
      policy,
      retry: this.settings.retry,
    });
    const cancel = () =>
      actor.send({ type: "cancel", reason: abortReason(signal, deadline, "query") });
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

function isPromqlInstance(instance: MetricInstance): instance is MetricInstance & PromqlInstance {
  return "evaluatePromql" in instance && "seriesLabels" in instance;
}

/** Rough size of merged pushdowns, for the cache's byte bound. */
function seriesBytes(pushdowns: Series[][]): number {
  let bytes = 0;
  for (const series of pushdowns) {
    for (const s of series) {
      bytes += 16 * s.samples.length;
      for (const name in s.labels) bytes += name.length + (s.labels[name] as string).length + 4;
    }
  }
  return bytes;
}

function sortedSeries(series: Series[]): Series[] {
  return [...series].sort((a, b) => compareLabels(a.labels, b.labels));
}

function sortedLabels(labels: Labels[]): Labels[] {
  return [...labels].sort(compareLabels);
}

/** JSON keeps no NaN, infinities or -0: spelled out, so `x > NaN` and `x > Inf` differ in a key. */
function exactNumbers(_key: string, value: unknown): unknown {
  if (typeof value !== "number") return value;
  if (Number.isFinite(value) && !Object.is(value, -0)) return value;
  return `#${Object.is(value, -0) ? "-0" : String(value)}`;
}

/**
 * The federated executor: routes a query to its targets, runs the fan-out actor, calls each
 * instance through its circuit breaker with retries and a per-instance timeout, merges raw
 * points or partial aggregates exactly, applies limits, and caches complete results.
 */
import { EntenteError, INSTANCE_TAG, type PartialInfo, toEntenteError } from "@entente/protocol";
import { DEFAULT_PACE, NEVER_ABORTED, Pacer } from "@entente/runtime/pace";
import { createActor, fromPromise, toPromise } from "xstate";
import {
  type Breaker,
  type BreakerSettings,
  DEFAULT_BREAKER,
  newBreaker,
  onAbandoned,
  onFailure,
  onSuccess,
  stateAt,
  tryAcquire,
} from "./breaker.ts";
import { PointBudget, tooLarge } from "./budget.ts";
import { type CacheSettings, cacheKey, DEFAULT_CACHE, ResultCache } from "./cache.ts";
import { SampleDeduplicator } from "./dedup.ts";
import {
  type ExecutorOutput,
  executorMachine,
  type FetchTargetInput,
  isFatal,
  type TargetFailure,
  type TargetResult,
} from "./executor.ts";
import type {
  FetchOptions,
  InnerFailure,
  MetricInstance,
  PartialsResult,
  RawResult,
} from "./instances/types.ts";
import {
  chargePoints,
  dedupOrdered,
  finalizeAll,
  mergeByTime,
  mergePartials,
  partialsOfOrdered,
} from "./paced-merge.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import type { FederatedQuery } from "./query.ts";
import { DEFAULT_RETRY, nextBackoff, type RetrySettings } from "./retry.ts";
import { type RoutingTable, route, type Target } from "./router.ts";
import { InstanceStats, type InstanceStatsView } from "./stats.ts";

export interface FederatorSettings {
  parallelism: number;
  /** Each instance call's own budget, within the query's. */
  instanceTimeoutMs: number;
  /** A query's budget when it names none. */
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

export type FetchMode = "raw" | "partials";

export interface ExecuteOptions {
  /** The caller's cancellation (the request's signal). */
  signal?: AbortSignal;
  /** Milliseconds the caller still waits; the query's own `timeoutMs` may shorten it. */
  remainingMs?: number;
}

export class Federator {
  readonly instances: Map<string, MetricInstance>;
  readonly routing: RoutingTable;
  readonly settings: FederatorSettings;
  readonly cache: ResultCache;
  private readonly breakers = new Map<string, Breaker>();
  private readonly stats = new Map<string, InstanceStats>();
  private readonly now: () => number;
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
    this.now = options.now ?? (() => performance.now());
    for (const name of this.instances.keys()) {
      this.breakers.set(name, newBreaker());
      this.stats.set(name, new InstanceStats());
    }
  }

  /** A query, answered with finalized points (or raw points tagged with their instance). */
  async query(query: FederatedQuery, options: ExecuteOptions = {}): Promise<FederatedAnswer> {
    this.queries += 1;
    try {
      const targets = route(query, this.routing);
      const key = this.cache.settings.enabled ? cacheKey(query, targets) : undefined;
      if (key !== undefined) {
        const cached = this.cache.get(key);
        if (cached) return { points: cached };
      }
      const mode: FetchMode = query.aggregation ? "partials" : "raw";
      const outcome = await this.fanOut(query, targets, mode, options);
      const partial = partialInfo(targets.length, outcome);
      const pacer = this.mergePacer(options);
      const points = query.aggregation
        ? await this.finalizePartials(query, outcome, pacer)
        : await this.mergeRaw(query, outcome, pacer);
      if (partial) {
        this.partialQueries += 1;
        guardPartial(query, partial);
        return { points, partial };
      }
      if (key !== undefined) this.cache.set(key, points);
      return { points };
    } catch (err) {
      this.failedQueries += 1;
      throw err;
    }
  }

  /** Unmerged partials for a federation above this one (hierarchical federation). */
  async partials(query: FederatedQuery, options: ExecuteOptions = {}): Promise<PartialsAnswer> {
    if (!query.aggregation) throw new EntenteError("BAD_REQUEST", "partials need an aggregation");
    const targets = route(query, this.routing);
    const outcome = await this.fanOut(query, targets, "partials", options);
    const set = await mergePartials(
      outcome.results.map(({ result }) => result.partials ?? []),
      this.mergePacer(options),
    );
    this.checkGroups(set.size);
    const partial = partialInfo(targets.length, outcome);
    if (partial) guardPartial(query, partial);
    return { partials: set.values(), ...(partial ? { partial } : {}) };
  }

  /** Raw points, unmerged order aside, for a federation above this one. */
  async raw(query: FederatedQuery, options: ExecuteOptions = {}): Promise<FederatedAnswer> {
    const { aggregation: _aggregation, ...rawQuery } = query;
    return this.query(rawQuery, options);
  }

  private async fanOut(
    query: FederatedQuery,
    targets: Target[],
    mode: FetchMode,
    options: ExecuteOptions,
  ): Promise<ExecutorOutput> {
    const budget = Math.min(
      query.timeoutMs ?? this.settings.defaultTimeoutMs,
      options.remainingMs ?? Number.POSITIVE_INFINITY,
    );
    const deadlineAt = this.now() + budget;
    const points = new PointBudget(this.settings.maxPoints, this.settings.maxBytes);
    const machine = executorMachine.provide({
      actors: {
        fetchTarget: fromPromise<TargetResult, FetchTargetInput>(({ input, signal }) =>
          this.fetchTarget(input.target, query, mode, { signal, deadlineAt, points }),
        ),
      },
    });
    const actor = createActor(machine, {
      input: { targets, parallelism: this.settings.parallelism, deadlineMs: budget },
    });
    const stop = () => actor.stop();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      actor.start();
      const done = toPromise(actor);
      const outcome = options.signal
        ? await Promise.race([done, abortedPromise(options.signal)])
        : await done;
      // Stopping the actor when the caller goes away settles `done` too, with no output.
      if (options.signal?.aborted) throw abortReason(options.signal);
      if (outcome.fatal !== undefined) throw toEntenteError(outcome.fatal);
      return outcome;
    } finally {
      options.signal?.removeEventListener("abort", stop);
      actor.stop();
    }
  }

  private async fetchTarget(
    target: Target,
    query: FederatedQuery,
    mode: FetchMode,
    call: Call,
  ): Promise<TargetResult> {
    const { signal, deadlineAt } = call;
    if (target.kind === "instance") {
      return this.callInstance(target.name, query, mode, call);
    }
    if (target.read === "one") {
      const failures: InnerFailure[] = [];
      // Prefer replicas whose circuit lets a call through; fail over in order.
      const ordered = [
        ...target.instances.filter((n) => this.circuitOf(n) !== "open"),
        ...target.instances.filter((n) => this.circuitOf(n) === "open"),
      ];
      let last: EntenteError | undefined;
      for (const name of ordered) {
        try {
          const result = await this.callInstance(name, query, mode, call);
          return result;
        } catch (err) {
          last = toEntenteError(err);
          if (isFatal(last) || signal.aborted) throw last;
          failures.push({ instance: name, code: last.code, message: last.message });
        }
      }
      throw new EntenteError(
        last?.code ?? "UNAVAILABLE",
        `every replica of ${target.name} failed: ${failures.map((f) => `${f.instance}: ${f.message}`).join("; ")}`,
        { retryable: last?.retryable ?? true, details: { instance: target.name, failures } },
      );
    }
    // Merge: read every replica's raw points and count each sample once. The union's first
    // `limit` samples are among each replica's first `limit`; an aggregation needs them all.
    const { aggregation: _aggregation, limit: _limit, ...unlimited } = query;
    const rawQuery = query.aggregation ? unlimited : query;
    const settled = await Promise.allSettled(
      target.instances.map((name) => this.callInstance(name, rawQuery, "raw", call)),
    );
    const lists: Point[][] = [];
    const failures: InnerFailure[] = [];
    settled.forEach((s, i) => {
      const name = target.instances[i] as string;
      if (s.status === "rejected") {
        const e = toEntenteError(s.reason);
        if (isFatal(e)) throw e;
        failures.push({ instance: name, code: e.code, message: e.message });
        return;
      }
      lists.push(s.value.points ?? []);
    });
    if (failures.length === target.instances.length) {
      throw new EntenteError(
        failures[0]?.code ?? "UNAVAILABLE",
        `every replica of ${target.name} failed: ${failures.map((f) => `${f.instance}: ${f.message}`).join("; ")}`,
        { details: { instance: target.name, failures } },
      );
    }
    // Each replica's points are in time order: merged, a sample both hold is met twice in a row.
    const pacer = new Pacer(signal, deadlineAt, DEFAULT_PACE, this.now);
    const merged = await mergeByTime(lists, Number.POSITIVE_INFINITY, pacer);
    const dedup = new SampleDeduplicator(INSTANCE_TAG);
    const points = await dedupOrdered(merged, dedup, pacer);
    if (query.aggregation) {
      return { partials: await partialsOfOrdered(points, query.aggregation, pacer) };
    }
    return { points: query.limit === undefined ? points : points.slice(0, query.limit) };
  }

  /** One instance call; raw points come back labelled with their instance and counted. */
  private async callInstance(
    name: string,
    query: FederatedQuery,
    mode: FetchMode,
    call: Call,
  ): Promise<TargetResult> {
    // Raw points without a limit count against the query's allowance as they arrive.
    const budget = mode === "raw" && query.limit === undefined ? call.points : undefined;
    const result = await this.askInstance(name, query, mode, call, budget);
    if (mode === "partials") {
      return { partials: (result as PartialsResult).partials, ...failuresOf(result) };
    }
    const pacer = new Pacer(call.signal, call.deadlineAt, DEFAULT_PACE, this.now);
    const points = await labelPoints((result as RawResult).points, name, pacer);
    if (budget) await chargePoints(budget, points, pacer);
    return { points, ...failuresOf(result) };
  }

  /** Asks one instance: breaker, per-instance timeout, retries within the deadline, stats. */
  private async askInstance(
    name: string,
    query: FederatedQuery,
    mode: FetchMode,
    call: Call,
    budget: PointBudget | undefined,
  ): Promise<RawResult | PartialsResult> {
    const { signal, deadlineAt } = call;
    const instance = this.instances.get(name);
    if (!instance) throw new EntenteError("NOT_FOUND", `unknown instance ${name}`);
    const stats = this.stats.get(name) as InstanceStats;
    for (let attempt = 1; ; attempt++) {
      const acquired = tryAcquire(this.breakerOf(name), this.now(), this.settings.breaker);
      this.breakers.set(name, acquired.breaker);
      if (!acquired.allowed) {
        throw new EntenteError(
          "UNAVAILABLE",
          `instance ${name}: circuit open after ${acquired.breaker.failures} consecutive failures; not called`,
          { details: { instance: name, circuit: "open" } },
        );
      }
      const remaining = deadlineAt - this.now();
      const timeoutMs = Math.max(1, Math.min(this.settings.instanceTimeoutMs, remaining));
      const controller = new AbortController();
      const timeout = new EntenteError(
        "DEADLINE_EXCEEDED",
        `instance ${name} did not answer within ${Math.round(timeoutMs)} ms`,
        { details: { instance: name } },
      );
      const timer = setTimeout(() => controller.abort(timeout), timeoutMs);
      const follow = () => controller.abort(signal.reason);
      signal.addEventListener("abort", follow, { once: true });
      const started = this.now();
      try {
        const fetchOptions: FetchOptions = {
          signal: controller.signal,
          timeoutMs,
          maxPoints: budget ? budget.remaining() : this.settings.maxPoints,
        };
        const work =
          mode === "raw"
            ? instance.fetchRaw(query, fetchOptions)
            : instance.fetchPartials(query, fetchOptions);
        // An instance that ignores its signal still loses the race to it.
        const result = await Promise.race([work, abortedPromise(controller.signal)]);
        stats.record(this.now() - started);
        this.breakers.set(name, onSuccess(this.breakerOf(name)));
        return result;
      } catch (err) {
        const reason = controller.signal.aborted ? controller.signal.reason : err;
        let error = toEntenteError(signal.aborted ? signal.reason : reason);
        // The instance's own client may notice the budget running out before our timer does:
        // report it as our timeout.
        if (!signal.aborted && error.code === "DEADLINE_EXCEEDED") error = timeout;
        if (signal.aborted) {
          // The query ended (deadline, caller gone): no verdict on this instance.
          this.breakers.set(name, onAbandoned(this.breakerOf(name)));
          stats.record(this.now() - started, error.message);
          throw error;
        }
        if (isFatal(error)) {
          this.breakers.set(name, onAbandoned(this.breakerOf(name)));
          // An instance that alone passed what was left of the allowance: name the query's limit.
          if (budget && error.code === "TOO_LARGE" && budget.points <= budget.maxPoints) {
            throw tooLarge(`query returns more than the limit of ${budget.maxPoints} points`);
          }
          throw error;
        }
        stats.record(this.now() - started, error.message);
        const breaker = onFailure(this.breakerOf(name), this.now(), this.settings.breaker);
        this.breakers.set(name, breaker);
        // A failure that opened the circuit ends the retries: report it, not the refusal.
        const wait =
          breaker.state === "open"
            ? undefined
            : nextBackoff(attempt, error.retryable, deadlineAt - this.now(), this.settings.retry);
        if (wait === undefined) {
          if (!(error.details && "instance" in error.details)) {
            throw new EntenteError(error.code, error.message, {
              retryable: error.retryable,
              details: { ...error.details, instance: name },
            });
          }
          throw error;
        }
        await sleep(wait, signal);
      } finally {
        clearTimeout(timer);
        signal.removeEventListener("abort", follow);
      }
    }
  }

  private async finalizePartials(
    query: FederatedQuery,
    outcome: ExecutorOutput,
    pacer: Pacer,
  ): Promise<Point[]> {
    const aggregation = query.aggregation;
    if (!aggregation) return [];
    const set = await mergePartials(
      outcome.results.map(({ result }) => result.partials ?? []),
      pacer,
    );
    this.checkGroups(set.size);
    const points = await finalizeAll(query.metric, aggregation, set.values(), pacer);
    return query.limit === undefined ? points : points.slice(0, query.limit);
  }

  private async mergeRaw(
    query: FederatedQuery,
    outcome: ExecutorOutput,
    pacer: Pacer,
  ): Promise<Point[]> {
    const lists = outcome.results.map(({ result }) => result.points ?? []);
    const merged = await mergeByTime(lists, query.limit ?? Number.POSITIVE_INFINITY, pacer);
    // What is returned, limit applied, within the limits too.
    const budget = new PointBudget(this.settings.maxPoints, this.settings.maxBytes);
    await chargePoints(budget, merged, pacer);
    return merged;
  }

  /**
   * The pace of the work after the fan-out: it yields in slices and ends when the caller's
   * request does (its deadline, or the caller going away).
   */
  private mergePacer(options: ExecuteOptions): Pacer {
    return new Pacer(options.signal ?? NEVER_ABORTED, undefined, DEFAULT_PACE, this.now);
  }

  private checkGroups(groups: number): void {
    if (groups > this.settings.maxPoints) {
      throw tooLarge(
        `aggregation yields ${groups} windows × groups, more than the limit of ${this.settings.maxPoints} points`,
      );
    }
  }

  private breakerOf(name: string): Breaker {
    return this.breakers.get(name) ?? newBreaker();
  }

  circuitOf(name: string): string {
    return stateAt(this.breakerOf(name), this.now(), this.settings.breaker);
  }

  instanceStats(): Record<string, InstanceStatsView> {
    const out: Record<string, InstanceStatsView> = {};
    for (const [name, stats] of this.stats) {
      out[name] = stats.view(stateAt(this.breakerOf(name), this.now(), this.settings.breaker));
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.instances.values()].map((i) => i.close()));
  }
}

/** One instance call's context within a query. */
interface Call {
  signal: AbortSignal;
  deadlineAt: number;
  points: PointBudget;
}

function instanceLabel(name: string, inner: string | undefined): string {
  return inner ? `${name}/${inner}` : name;
}

/** The points with their instance in `__instance__`; one tag object per series, as given. */
async function labelPoints(points: Point[], name: string, pacer: Pacer): Promise<Point[]> {
  const labelled = new Map<Record<string, string>, Record<string, string>>();
  const out: Point[] = new Array(points.length);
  for (let i = 0; i < points.length; i++) {
    const p = points[i] as Point;
    let tags = labelled.get(p.tags);
    if (!tags) {
      tags = { ...p.tags, [INSTANCE_TAG]: instanceLabel(name, p.tags[INSTANCE_TAG]) };
      labelled.set(p.tags, tags);
    }
    out[i] = { metric: p.metric, tags, timestamp: p.timestamp, value: p.value };
    if (pacer.due()) await pacer.pause();
  }
  return out;
}

function failuresOf(result: unknown): { failures?: InnerFailure[] } {
  const failures = (result as { failures?: InnerFailure[] }).failures;
  return failures && failures.length > 0 ? { failures } : {};
}

function partialInfo(total: number, outcome: ExecutorOutput): PartialInfo | undefined {
  const errors: PartialInfo["errors"] = outcome.failures.map((f: TargetFailure) => ({
    instance: f.instance,
    code: f.code,
    message: f.message,
  }));
  for (const { target, result } of outcome.results) {
    for (const f of result.failures ?? []) {
      errors.push({ instance: `${target.name}/${f.instance}`, code: f.code, message: f.message });
    }
  }
  if (errors.length === 0) return undefined;
  return { succeeded: outcome.results.length, total, errors };
}

/** `partial: deny` turns any failure into an error; so does a query nobody answered. */
function guardPartial(query: FederatedQuery, partial: PartialInfo): void {
  const summary = partial.errors.map((e) => `${e.instance}: ${e.message}`).join("; ");
  if (query.partial === "deny") {
    throw new EntenteError(
      "UNAVAILABLE",
      `partial result refused (partial: deny): ${partial.total - partial.succeeded} of ${partial.total} instances failed: ${summary}`,
      { details: { partial } },
    );
  }
  if (partial.succeeded === 0 && partial.total > 0) {
    throw new EntenteError("UNAVAILABLE", `all ${partial.total} instances failed: ${summary}`, {
      details: { partial },
    });
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new EntenteError("CANCELLED", "query cancelled");
}

function abortedPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(abortReason(signal));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

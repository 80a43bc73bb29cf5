/**
 * One query's effects, provided to its machines: planning (routing, the cache, replicas in
 * order of health), admission and failures through the instances' circuits, the instance
 * calls, taking answers in (labelled with their instance and counted against the query's
 * allowance of points), merging replicas and merging the answer. The machines decide; this
 * does what they ask, with the query's budget and clock.
 */
import { EntenteError, INSTANCE_TAG, toEntenteError } from "@entente/protocol";
import { DEFAULT_PACE, Pacer } from "@entente/runtime/pace";
import { type Actor, createActor, fromPromise } from "xstate";
import { PointBudget, tooLarge } from "./budget.ts";
import { cacheKey, type ResultCache } from "./cache.ts";
import {
  type Admission,
  callMachine,
  type FetchInput,
  type InstanceAnswer,
  type ReceiveInput,
  type Settlement,
  type Verdict,
} from "./call-machine.ts";
import { SampleDeduplicator } from "./dedup.ts";
import {
  type Merged,
  type MergeInput,
  type Plan,
  type QueryInput,
  queryMachine,
} from "./executor.ts";
import type { InstanceHealth } from "./instance-health.ts";
import type { FetchOptions, InnerFailure, MetricInstance } from "./instances/types.ts";
import type { TargetResult } from "./outcome.ts";
import {
  chargePoints,
  dedupOrdered,
  finalizeAll,
  labelPoints,
  mergeByTime,
  mergePartials,
  partialsOfOrdered,
} from "./paced-merge.ts";
import type { FederatedQuery } from "./query.ts";
import { replicaGroupMachine } from "./replica-group-machine.ts";
import { type RoutingTable, route } from "./router.ts";
import { RunCalls } from "./run-calls.ts";

/** What the caller gets: finalized (or raw) points, or unmerged partials for a federation above. */
export type Answering = "points" | "partials";

/** What a query run shares with its federator. */
export interface FederatorParts {
  instances: ReadonlyMap<string, MetricInstance>;
  routing: RoutingTable;
  cache: ResultCache;
  health: InstanceHealth;
  instanceTimeoutMs: number;
  maxPoints: number;
  maxBytes: number;
  now: () => number;
}

interface Shape {
  query: FederatedQuery;
  mode: "raw" | "partials";
}

/**
 * Each query's actors share an actor system of their own (its root's), through which they find
 * their run; so the machines are provided once, below, rather than for every query (providing a
 * machine's implementations costs more than a small query).
 */
const runs = new WeakMap<object, RunEffects>();

/** What a query's machines ask of its run: the federator's metric queries and PromQL alike. */
export interface RunEffects {
  plan(): Plan;
  admit(instance: string): Admission;
  settle(settlement: Settlement): void;
  recordFailure(lease: number, error: EntenteError): Verdict;
  fetch(input: FetchInput, signal: AbortSignal): Promise<InstanceAnswer>;
  receive(input: ReceiveInput, signal: AbortSignal): Promise<TargetResult>;
  combine(answers: TargetResult[], signal: AbortSignal): Promise<TargetResult>;
  merge(input: MergeInput, signal: AbortSignal): Promise<Merged>;
  remember(merged: Merged): void;
}

/** A query's actor with `effects` as its run's; started by the caller. */
export function runActor(effects: RunEffects, input: QueryInput): Actor<typeof executor> {
  const actor = createActor(executor, { input });
  runs.set(actor.system, effects);
  return actor;
}

function runOf(system: object): RunEffects {
  const run = runs.get(system);
  if (!run) throw new Error("an executor actor runs outside a query run");
  return run;
}

const call = callMachine.provide({
  actors: {
    admit: fromPromise<Admission, { instance: string }>(async ({ input, system }) =>
      runOf(system).admit(input.instance),
    ),
    fetch: fromPromise<InstanceAnswer, FetchInput>(({ input, system, signal }) =>
      runOf(system).fetch(input, signal),
    ),
    receive: fromPromise<TargetResult, ReceiveInput>(({ input, system, signal }) =>
      runOf(system).receive(input, signal),
    ),
    recordFailure: fromPromise<Verdict, { lease: number; error: EntenteError }>(
      async ({ input, system }) => runOf(system).recordFailure(input.lease, input.error),
    ),
  },
  actions: { settle: ({ system }, settlement: Settlement) => runOf(system).settle(settlement) },
});

const group = replicaGroupMachine.provide({
  actors: {
    call,
    combine: fromPromise<TargetResult, { answers: TargetResult[] }>(({ input, system, signal }) =>
      runOf(system).combine(input.answers, signal),
    ),
  },
});

const executor = queryMachine.provide({
  actors: {
    plan: fromPromise<Plan>(async ({ system }) => runOf(system).plan()),
    call,
    group,
    merge: fromPromise<Merged, MergeInput>(({ input, system, signal }) =>
      runOf(system).merge(input, signal),
    ),
  },
  actions: { remember: ({ system }, merged: Merged) => runOf(system).remember(merged) },
});

/** One query's effects, which its actors ask for (see the machines provided above). */
export class QueryRun extends RunCalls implements RunEffects {
  private readonly query: FederatedQuery;
  private readonly answering: Answering;
  /** As asked, and as a replica of a merged group is read: its raw samples, all of them. */
  private readonly asked: Shape;
  private readonly samples: Shape;
  /** Raw points read without a limit count against the query's allowance as they arrive. */
  private readonly points: PointBudget;
  private key: string | undefined;

  constructor(
    parts: FederatorParts,
    query: FederatedQuery,
    answering: Answering,
    budgetMs: number,
  ) {
    super(parts, budgetMs);
    this.query = query;
    this.answering = answering;
    this.asked = { query, mode: query.aggregation ? "partials" : "raw" };
    // The union's first `limit` samples are among each replica's first `limit`; an aggregation
    // needs them all.
    const { aggregation: _aggregation, limit: _limit, ...unlimited } = query;
    this.samples = { query: query.aggregation ? unlimited : query, mode: "raw" };
    this.points = new PointBudget(parts.maxPoints, parts.maxBytes);
  }

  plan(): Plan {
    const targets = route(this.query, this.parts.routing);
    if (this.answering === "points" && this.parts.cache.settings.enabled) {
      this.key = cacheKey(this.query, targets);
      const cached = this.parts.cache.get(this.key);
      if (cached) return { targets, cached: { points: cached } };
    }
    return { targets: targets.map((target) => this.healthiestFirst(target)) };
  }

  private budgetOf({ query, mode }: Shape): PointBudget | undefined {
    return mode === "raw" && query.limit === undefined ? this.points : undefined;
  }

  async fetch(input: FetchInput, signal: AbortSignal): Promise<InstanceAnswer> {
    const instance = this.parts.instances.get(input.instance);
    if (!instance) throw new EntenteError("NOT_FOUND", `unknown instance ${input.instance}`);
    const shape = input.samples ? this.samples : this.asked;
    const budget = this.budgetOf(shape);
    const options: FetchOptions = {
      signal,
      timeoutMs: input.timeoutMs,
      maxPoints: budget ? budget.remaining() : this.parts.maxPoints,
    };
    try {
      return shape.mode === "raw"
        ? await instance.fetchRaw(shape.query, options)
        : await instance.fetchPartials(shape.query, options);
    } catch (err) {
      const error = toEntenteError(err);
      // An instance that alone passed what was left of the allowance: name the query's limit.
      if (budget && error.code === "TOO_LARGE" && budget.points <= budget.maxPoints) {
        throw tooLarge(`query returns more than the limit of ${budget.maxPoints} points`);
      }
      throw error;
    }
  }

  async receive(input: ReceiveInput, signal: AbortSignal): Promise<TargetResult> {
    const answer = input.answer;
    const failures = innerFailures(answer.failures);
    const pacer = this.pacer(signal);
    const points = await labelPoints(answer.points, input.instance, pacer);
    const budget = this.budgetOf(input.samples ? this.samples : this.asked);
    if (budget) await chargePoints(budget, points, pacer);
    return { points, ...failures };
  }

  /** Each replica's points are in time order: merged, a sample both hold is met twice in a row. */
  async combine(answers: TargetResult[], signal: AbortSignal): Promise<TargetResult> {
    const lists = answers.map((answer) => answer.points ?? []);
    const pacer = this.pacer(signal);
    const merged = await mergeByTime(lists, Number.POSITIVE_INFINITY, pacer);
    const points = await dedupOrdered(merged, new SampleDeduplicator(INSTANCE_TAG), pacer);
    const { aggregation, limit } = this.query;
    if (aggregation) return { partials: await partialsOfOrdered(points, aggregation, pacer) };
    return { points: limit === undefined ? points : points.slice(0, limit) };
  }

  /**
   * The answer from every target's result. It yields in slices; the caller's deadline or going
   * away stops it (the query machine is cancelled, which stops this actor).
   */
  async merge({ results }: MergeInput, signal: AbortSignal): Promise<Merged> {
    const pacer = new Pacer(signal, undefined, DEFAULT_PACE, this.parts.now);
    const { aggregation, limit } = this.query;
    if (aggregation) {
      const set = await mergePartials(
        results.map(({ result }) => result.partials ?? []),
        pacer,
      );
      this.checkGroups(set.size);
      if (this.answering === "partials") return { partials: set.values() };
      const points = await finalizeAll(this.query.metric, aggregation, set.values(), pacer);
      return { points: limit === undefined ? points : points.slice(0, limit) };
    }
    const lists = results.map(({ result }) => result.points ?? []);
    const merged = await mergeByTime(lists, limit ?? Number.POSITIVE_INFINITY, pacer);
    // What is returned, limit applied, within the limits too.
    await chargePoints(new PointBudget(this.parts.maxPoints, this.parts.maxBytes), merged, pacer);
    return { points: merged };
  }

  /** Only complete answers are kept: a partial one must not outlive the failure behind it. */
  remember(merged: Merged): void {
    if (this.key !== undefined && "points" in merged) this.parts.cache.set(this.key, merged.points);
  }

  private checkGroups(groups: number): void {
    if (groups > this.parts.maxPoints) {
      throw tooLarge(
        `aggregation yields ${groups} windows × groups, more than the limit of ${this.parts.maxPoints} points`,
      );
    }
  }

  /** The pace of work inside the fetch: it yields in slices and ends at the query's deadline. */
  private pacer(signal: AbortSignal): Pacer {
    return new Pacer(signal, this.deadlineAt, DEFAULT_PACE, this.parts.now);
  }
}

function innerFailures(failures: InnerFailure[] | undefined): { failures?: InnerFailure[] } {
  return failures && failures.length > 0 ? { failures } : {};
}

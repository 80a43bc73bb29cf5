/**
 * One PromQL query's effects, provided to the same machines as a metric query's (executor,
 * call and replica group machines): routing and the cache, admission through the circuits,
 * each target evaluating the plan's parts (pushed down), replicas' answers deduplicated, and
 * the pushdowns merged exactly. The central rest of the plan is evaluated by the federator.
 */

import {
  dedupeReplicas,
  type EvalRange,
  type FederationPlan,
  mergePushdown,
  type Series,
  seriesOf,
  type Value,
} from "@entente/promql";
import { toJson } from "@entente/protocol";
import { tooLarge } from "../budget.ts";
import type { ResultCache } from "../cache.ts";
import type { FetchInput, InstanceAnswer } from "../call-machine.ts";
import type { Merged, MergeInput, Plan } from "../executor.ts";
import type { PromqlInstance } from "../instances/types.ts";
import type { TargetResult } from "../outcome.ts";
import type { FederatedQuery } from "../query.ts";
import type { FederatorParts, RunEffects } from "../query-run.ts";
import { route, type Target } from "../router.ts";
import { RunCalls } from "../run-calls.ts";
import { promqlError } from "./request.ts";

export interface PromqlRunParts extends FederatorParts {
  promqlOf(instance: string): PromqlInstance;
  promqlCache: ResultCache<Series[][]>;
}

export interface PromqlRunInput {
  plan: FederationPlan;
  range: EvalRange;
  lookbackMs: number;
  maxSamples: number;
  /** What routes the query: the matchers every selector shares, and `__instance__`'s. */
  routing: FederatedQuery;
  /** What decides the answer besides the targets, for the cache. */
  key: string;
}

export class PromqlRun extends RunCalls implements RunEffects {
  private readonly promql: PromqlRunParts;
  private readonly input: PromqlRunInput;
  private cacheKey: string | undefined;

  constructor(parts: PromqlRunParts, input: PromqlRunInput, budgetMs: number) {
    super(parts, budgetMs);
    this.promql = parts;
    this.input = input;
  }

  plan(): Plan {
    const targets = route(this.input.routing, this.parts.routing);
    if (this.promql.promqlCache.settings.enabled) {
      this.cacheKey = toJson({ q: this.input.key, i: targets.map(targetKey) });
      const cached = this.promql.promqlCache.get(this.cacheKey);
      if (cached) return { targets, cached: { pushdowns: cached } };
    }
    return { targets: targets.map((target) => this.healthiestFirst(target)) };
  }

  async fetch(input: FetchInput, signal: AbortSignal): Promise<InstanceAnswer> {
    const { plan, lookbackMs, maxSamples } = this.input;
    return this.promql
      .promqlOf(input.instance)
      .evaluatePromql(
        { parts: plan.parts, lookbackMs, maxSamples },
        { signal, timeoutMs: input.timeoutMs, maxPoints: this.parts.maxPoints },
      );
  }

  async receive(): Promise<TargetResult> {
    throw new Error("a PromQL answer has no raw points to take in");
  }

  /** Replicas answer the same parts: each series and time once, the first replica's value. */
  async combine(answers: TargetResult[]): Promise<TargetResult> {
    const values: Value[] = this.input.plan.parts.map((_, part) => ({
      type: "matrix",
      value: dedupeReplicas(
        answers.map((answer) => {
          const value = answer.values?.[part];
          return value ? seriesOf(value) : [];
        }),
      ),
    }));
    return { values };
  }

  async merge({ results }: MergeInput): Promise<Merged> {
    const answers = results.map(({ target, result }) => ({
      instance: target.name,
      values: result.values ?? [],
    }));
    let pushdowns: Series[][];
    try {
      pushdowns = this.input.plan.pushdowns.map((pushdown) => mergePushdown(pushdown, answers));
    } catch (err) {
      throw promqlError(err);
    }
    let samples = 0;
    for (const series of pushdowns) for (const s of series) samples += s.samples.length;
    if (samples > this.parts.maxPoints) {
      throw tooLarge(
        `the instances' answers hold ${samples} samples, more than the limit of ${this.parts.maxPoints} points`,
      );
    }
    return { pushdowns };
  }

  /** Only complete answers are kept: a partial one must not outlive the failure behind it. */
  remember(merged: Merged): void {
    if (this.cacheKey !== undefined && "pushdowns" in merged) {
      this.promql.promqlCache.set(this.cacheKey, merged.pushdowns);
    }
  }
}

function targetKey(target: Target): string | string[] {
  return target.kind === "instance" ? target.name : [target.name, ...target.instances];
}

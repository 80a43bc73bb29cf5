/**
 * One federated query's lifecycle, as a machine (the executor):
 *
 *   gathering
 *   ├─ planning ──► fetching ──every target answered or failed──► merging ──► answered
 *   │     └─ cached ──────────────────────────────────────────────────────► answered
 *   └─ the query's deadline: what still runs times out ───────────► merging
 *   failed     ◄── routing failed, a fatal error, a partial answer refused, merging failed
 *   cancelled  ◄── from anywhere: the caller went away or ran out of time
 *
 * It has no I/O: planning (routing, the cache, the order of replicas), the instance calls and
 * merging are actors the federator provides; the machine decides. Fetching runs one child per
 * target, at most `parallelism` at once: a call machine (call-machine.ts) for an instance, a
 * replica group machine (replica-group-machine.ts) for a group; each ends with its outcome as
 * output, which arrives with its done event. At the deadline whatever still runs is
 * recorded as DEADLINE_EXCEEDED and stopped, and the query goes on with what arrived; stopping
 * a target stops its calls, which aborts their signals and so the statements and requests
 * behind them. Merging is bounded by the caller's own deadline instead (a `cancel` when it
 * passes): the query's deadline is kept a little short of it so that a partial answer still
 * reaches the caller.
 */

import type { Series } from "@entente/promql";
import {
  EntenteError,
  type PartialInfo,
  type PartialPolicy,
  toEntenteError,
} from "@entente/protocol";
import { and, assign, type DoneActorEvent, enqueueActions, fromPromise, setup } from "xstate";
import { callMachine } from "./call-machine.ts";
import {
  failureOf,
  isFatal,
  lateFailure,
  type Outcome,
  partialInfo,
  refusal,
  type TargetFailure,
  type TargetResult,
} from "./outcome.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import { replicaGroupMachine } from "./replica-group-machine.ts";
import type { RetrySettings } from "./retry.ts";
import type { Target } from "./router.ts";

export { isFatal, type TargetFailure, type TargetResult } from "./outcome.ts";

export interface QueryInput {
  parallelism: number;
  /** Milliseconds until the query's deadline. */
  deadlineMs: number;
  /** The query's `partial`: whether an answer with failures may be given. */
  policy: PartialPolicy;
  retry: RetrySettings;
}

export interface Plan {
  targets: Target[];
  /** A complete answer the cache still holds for this query. */
  cached?: Merged;
}

/** The answer: points, partials for a federation above, or a PromQL plan's merged pushdowns. */
export type Merged =
  | { points: Point[] }
  | { partials: PartialAggregate[] }
  | { pushdowns: Series[][] };

export interface MergeInput {
  results: Array<{ target: Target; result: TargetResult }>;
}

/** The query's targets, one child each while fetching. */
export type TargetId = `target-${number}`;

export type QueryEvent =
  | { type: "cancel"; reason: EntenteError }
  /** A target ended (the only children fetching has). */
  | DoneActorEvent<Outcome, TargetId>;

export type QueryOutput =
  | { state: "answered"; merged: Merged; cached: boolean; partial?: PartialInfo }
  | { state: "failed" | "cancelled"; error: EntenteError; partial?: PartialInfo };

type Progress = "waiting" | "running" | "answered" | "failed" | "late";

export interface QueryContext extends QueryInput {
  planned: boolean;
  targets: Target[];
  progress: Progress[];
  running: number;
  next: number;
  results: Array<{ target: Target; result: TargetResult }>;
  failures: TargetFailure[];
  merged: Merged | undefined;
  cached: boolean;
  partial: PartialInfo | undefined;
  error: EntenteError | undefined;
  outcome: QueryOutput["state"] | undefined;
}

export function targetId(index: number): TargetId {
  return `target-${index}`;
}

function settled(progress: Progress): boolean {
  return progress !== "waiting" && progress !== "running";
}

function errorOf(outcome: Outcome): EntenteError | undefined {
  return outcome.ok ? undefined : outcome.error;
}

function partialOf(context: QueryContext): PartialInfo | undefined {
  return partialInfo(context.targets.length, context.results, context.failures);
}

function outOfTime(context: QueryContext): EntenteError {
  return new EntenteError(
    "DEADLINE_EXCEEDED",
    `the query ran out of its ${context.deadlineMs} ms while planning`,
  );
}

export const queryMachine = setup({
  types: {
    context: {} as QueryContext,
    input: {} as QueryInput,
    events: {} as QueryEvent,
    output: {} as QueryOutput,
  },
  actors: {
    plan: fromPromise<Plan>(async () => {
      throw new Error("plan is provided by the federator");
    }),
    call: callMachine,
    group: replicaGroupMachine,
    merge: fromPromise<Merged, MergeInput>(async () => {
      throw new Error("merge is provided by the federator");
    }),
  },
  guards: {
    cached: (_, plan: Plan) => plan.cached !== undefined,
    planned: ({ context }) => context.planned,
    fatal: (_, outcome: Outcome) => !outcome.ok && isFatal(outcome.error),
    allSettled: ({ context }) => context.progress.every(settled),
    refused: ({ context }) => refusal(context.policy, partialOf(context)) !== undefined,
    complete: ({ context }) => partialOf(context) === undefined,
  },
  delays: {
    deadline: ({ context }) => Math.max(0, context.deadlineMs),
  },
  actions: {
    /** Called with a complete answer, which may be kept for later queries. */
    remember: (_, _merged: Merged) => {
      throw new Error("remember is provided by the federator");
    },
    launch: enqueueActions(({ context, enqueue }) => {
      const room = Math.max(0, context.parallelism - context.running);
      const count = Math.min(room, context.targets.length - context.next);
      if (count === 0) return;
      const progress = [...context.progress];
      for (let index = context.next; index < context.next + count; index++) {
        progress[index] = "running";
        const target = context.targets[index] as Target;
        const { retry } = context;
        if (target.kind === "instance") {
          const input = { instance: target.name, index, samples: false, retry };
          enqueue.spawnChild("call", { id: targetId(index), input });
        } else {
          enqueue.spawnChild("group", {
            id: targetId(index),
            input: { group: target, index, retry },
          });
        }
      }
      enqueue.assign({ next: context.next + count, running: context.running + count, progress });
    }),
    timeOutStragglers: enqueueActions(({ context, enqueue }) => {
      const late: TargetFailure[] = [];
      const progress = context.progress.map((p, index): Progress => {
        if (settled(p)) return p;
        if (p === "running") enqueue.stopChild(targetId(index));
        late.push(lateFailure(context.targets[index] as Target, context.deadlineMs));
        return "late";
      });
      enqueue.assign({ progress, running: 0, failures: [...context.failures, ...late] });
    }),
    record: assign(({ context }, outcome: Outcome) => {
      const target = context.targets[outcome.index] as Target;
      return {
        progress: context.progress.with(outcome.index, outcome.ok ? "answered" : "failed"),
        running: context.running - 1,
        ...(outcome.ok
          ? { results: [...context.results, { target, result: outcome.result }] }
          : { failures: [...context.failures, failureOf(target, outcome.error)] }),
      };
    }),
    judge: assign({ partial: ({ context }) => partialOf(context) }),
    refuse: assign(({ context }) => {
      const partial = partialOf(context);
      return { partial, error: refusal(context.policy, partial) };
    }),
  },
}).createMachine({
  id: "query",
  context: ({ input }) => ({
    ...input,
    planned: false,
    targets: [],
    progress: [],
    running: 0,
    next: 0,
    results: [],
    failures: [],
    merged: undefined,
    cached: false,
    partial: undefined,
    error: undefined,
    outcome: undefined,
  }),
  initial: "gathering",
  on: {
    cancel: { target: ".cancelled", actions: assign({ error: ({ event }) => event.reason }) },
  },
  states: {
    gathering: {
      initial: "planning",
      after: {
        deadline: [
          { guard: "planned", actions: "timeOutStragglers" },
          { target: "failed", actions: assign({ error: ({ context }) => outOfTime(context) }) },
        ],
      },
      states: {
        planning: {
          invoke: {
            src: "plan",
            onDone: [
              {
                guard: { type: "cached", params: ({ event }) => event.output },
                target: "#query.answered",
                actions: assign({
                  merged: ({ event }) => event.output.cached ?? { points: [] },
                  cached: true,
                }),
              },
              {
                target: "fetching",
                actions: assign(({ event }) => ({
                  planned: true,
                  targets: event.output.targets,
                  progress: event.output.targets.map((): Progress => "waiting"),
                })),
              },
            ],
            onError: {
              target: "#query.failed",
              actions: assign({ error: ({ event }) => toEntenteError(event.error) }),
            },
          },
        },
        fetching: {
          entry: "launch",
          on: {
            "xstate.done.actor.*": [
              {
                guard: { type: "fatal", params: ({ event }) => event.output },
                target: "#query.failed",
                actions: assign({ error: ({ event }) => errorOf(event.output) }),
              },
              { actions: [{ type: "record", params: ({ event }) => event.output }, "launch"] },
            ],
          },
          always: [
            { guard: and(["allSettled", "refused"]), target: "#query.failed", actions: "refuse" },
            { guard: "allSettled", target: "#query.merging", actions: "judge" },
          ],
        },
      },
    },
    merging: {
      invoke: {
        src: "merge",
        input: ({ context }) => ({ results: context.results }),
        onDone: [
          {
            guard: "complete",
            target: "answered",
            actions: [
              assign({ merged: ({ event }) => event.output }),
              { type: "remember", params: ({ event }) => event.output },
            ],
          },
          { target: "answered", actions: assign({ merged: ({ event }) => event.output }) },
        ],
        onError: {
          target: "failed",
          actions: assign({ error: ({ event }) => toEntenteError(event.error) }),
        },
      },
    },
    answered: { type: "final", entry: assign({ outcome: "answered" }) },
    failed: { type: "final", entry: assign({ outcome: "failed" }) },
    cancelled: { type: "final", entry: assign({ outcome: "cancelled" }) },
  },
  output: ({ context }): QueryOutput => {
    const partial = context.partial ? { partial: context.partial } : {};
    if (context.outcome === "answered") {
      return {
        state: "answered",
        merged: context.merged ?? { points: [] },
        cached: context.cached,
        ...partial,
      };
    }
    return {
      state: context.outcome ?? "failed",
      error: context.error ?? toEntenteError(new Error("the query ended without an answer")),
      ...partial,
    };
  },
});

/**
 * One federated query's fan-out, as an XState actor: targets are fetched in parallel with at
 * most `parallelism` in flight; each result or failure is recorded as it arrives; at the
 * deadline whatever is still running is recorded as timed out and stopped (stopping a child
 * aborts its AbortSignal, which cancels the database query or NATS request behind it). A fatal
 * failure (a result too large to return) ends the query at once. The fetch itself is an
 * actor the service provides, so the machine has no I/O.
 */
import { assign, enqueueActions, fromPromise, setup } from "xstate";
import type { InnerFailure } from "./instances/types.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import type { Target } from "./router.ts";

export interface TargetResult {
  points?: Point[];
  partials?: PartialAggregate[];
  /** Failures inside a target that still answered (a federation below us, a replica). */
  failures?: InnerFailure[];
}

export interface TargetFailure {
  target: string;
  instance: string;
  code: string;
  message: string;
}

export interface ExecutorInput {
  targets: Target[];
  parallelism: number;
  /** Milliseconds until the whole query's deadline. */
  deadlineMs: number;
}

export interface ExecutorOutput {
  results: Array<{ target: Target; result: TargetResult }>;
  failures: TargetFailure[];
  /** Ends the whole query (e.g. TOO_LARGE). */
  fatal?: unknown;
}

interface ExecutorContext extends ExecutorOutput {
  targets: Target[];
  parallelism: number;
  deadlineMs: number;
  next: number;
  running: number;
  settled: boolean[];
}

export interface FetchTargetInput {
  target: Target;
}

/** Errors that end the whole query instead of one target. */
export function isFatal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "TOO_LARGE" || code === "BAD_REQUEST";
}

function indexOf(actorId: string): number {
  return Number(actorId.slice(1));
}

function failureOf(target: Target, err: unknown): TargetFailure {
  const e = err as { code?: unknown; message?: unknown; details?: { instance?: unknown } };
  const instance = typeof e?.details?.instance === "string" ? e.details.instance : target.name;
  return {
    target: target.name,
    instance,
    code: typeof e?.code === "string" ? e.code : "INTERNAL",
    message: typeof e?.message === "string" ? e.message : String(err),
  };
}

export const executorMachine = setup({
  types: {
    context: {} as ExecutorContext,
    input: {} as ExecutorInput,
    output: {} as ExecutorOutput,
  },
  actors: {
    fetchTarget: fromPromise<TargetResult, FetchTargetInput>(async () => {
      throw new Error("fetchTarget is provided by the service");
    }),
  },
  delays: {
    deadline: ({ context }) => Math.max(0, context.deadlineMs),
  },
  guards: {
    allSettled: ({ context }) => context.settled.every(Boolean),
    hasFatal: ({ context }) => context.fatal !== undefined,
  },
  actions: {
    launch: enqueueActions(({ context, enqueue }) => {
      const room = Math.max(0, context.parallelism - context.running);
      const count = Math.min(room, context.targets.length - context.next);
      for (let i = 0; i < count; i++) {
        const index = context.next + i;
        enqueue.spawnChild("fetchTarget", {
          id: `t${index}`,
          input: { target: context.targets[index] as Target },
        });
      }
      enqueue.assign({ next: context.next + count, running: context.running + count });
    }),
    timeOutStragglers: assign(({ context }) => ({
      failures: [
        ...context.failures,
        ...context.targets
          .filter((_, i) => !context.settled[i])
          .map((target) => ({
            target: target.name,
            instance: target.name,
            code: "DEADLINE_EXCEEDED",
            message: `${target.name} did not answer within the query's ${context.deadlineMs} ms`,
          })),
      ],
      settled: context.settled.map(() => true),
    })),
  },
}).createMachine({
  id: "federatedQuery",
  context: ({ input }) => ({
    targets: input.targets,
    parallelism: Math.max(1, input.parallelism),
    deadlineMs: input.deadlineMs,
    next: 0,
    running: 0,
    settled: input.targets.map(() => false),
    results: [],
    failures: [],
  }),
  initial: "fanningOut",
  states: {
    fanningOut: {
      entry: "launch",
      always: [
        { guard: "hasFatal", target: "done" },
        { guard: "allSettled", target: "done" },
      ],
      after: { deadline: { target: "done", actions: "timeOutStragglers" } },
      on: {
        "xstate.done.actor.*": {
          actions: [
            assign(({ context, event }) => {
              const index = indexOf((event as unknown as { actorId: string }).actorId);
              const settled = [...context.settled];
              settled[index] = true;
              return {
                settled,
                running: context.running - 1,
                results: [
                  ...context.results,
                  {
                    target: context.targets[index] as Target,
                    result: (event as unknown as { output: TargetResult }).output,
                  },
                ],
              };
            }),
            "launch",
          ],
        },
        "xstate.error.actor.*": {
          actions: [
            assign(({ context, event }) => {
              const index = indexOf((event as unknown as { actorId: string }).actorId);
              const error = (event as unknown as { error: unknown }).error;
              const settled = [...context.settled];
              settled[index] = true;
              const target = context.targets[index] as Target;
              return {
                settled,
                running: context.running - 1,
                ...(isFatal(error)
                  ? { fatal: error }
                  : { failures: [...context.failures, failureOf(target, error)] }),
              };
            }),
            "launch",
          ],
        },
      },
    },
    done: { type: "final" },
  },
  output: ({ context }) => ({
    results: context.results,
    failures: context.failures,
    ...(context.fatal === undefined ? {} : { fatal: context.fatal }),
  }),
});

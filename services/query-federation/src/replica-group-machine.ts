/**
 * A replica group's target (several instances holding the same data), as a machine; its calls
 * are call machines (call-machine.ts):
 *
 *   one:    failingOver ──a replica failed, more left──► failingOver (the next replica)
 *              └──► answered | failed                      (every replica failed, or fatal)
 *   merge:  gathering (every replica at once) ──► combining ──► answered
 *              └──► failed                                 (every replica failed, or fatal)
 *
 * `one` reads the replicas in the order planning gave them (those whose circuit is open last)
 * and fails over on error; `merge` reads every replica's raw samples and has them merged with
 * each (series, timestamp) once by the `combine` actor the federator provides. A fatal error (a
 * result too large to return) ends the group at once, and the query with it. Its output is the
 * target's outcome, which the query machine gets with the group's done event.
 */
import { type EntenteError, toEntenteError } from "@entente/protocol";
import { and, assign, type DoneActorEvent, enqueueActions, fromPromise, setup } from "xstate";
import { callMachine } from "./call-machine.ts";
import type { InnerFailure } from "./instances/types.ts";
import {
  everyReplicaFailed,
  isFatal,
  type Outcome,
  outcomeOf,
  type TargetResult,
} from "./outcome.ts";
import type { RetrySettings } from "./retry.ts";
import type { Target } from "./router.ts";

export type ReplicaGroup = Extract<Target, { kind: "replicas" }>;

export interface GroupInput {
  group: ReplicaGroup;
  /** The group's place among the query's targets, given back in the outcome. */
  index: number;
  retry: RetrySettings;
}

/** The calls a merged group makes at once, one per replica. */
export type ReplicaCallId = `replica-${number}`;

/** A replica's call ended (the only children a gathering group has). */
type ReplicaCallDone = DoneActorEvent<Outcome, ReplicaCallId>;

export interface GroupContext extends GroupInput {
  /** The replica being read (failing over). */
  next: number;
  /** Each replica's answer, by its place, so merging does not depend on who answered first. */
  answers: Array<TargetResult | undefined>;
  failures: InnerFailure[];
  result: TargetResult | undefined;
  error: EntenteError | undefined;
}

function withFailure(context: GroupContext, outcome: Outcome): InnerFailure[] {
  if (outcome.ok) return context.failures;
  const instance = context.group.instances[outcome.index] ?? context.group.name;
  return [
    ...context.failures,
    { instance, code: outcome.error.code, message: outcome.error.message },
  ];
}

/** Every replica of a `one` group failed: named by the last failure's code. */
function failedOver(context: GroupContext, outcome: Outcome) {
  const failures = withFailure(context, outcome);
  const last = outcome.ok ? undefined : outcome.error;
  return {
    failures,
    error: everyReplicaFailed(
      context.group.name,
      failures,
      last?.code ?? "UNAVAILABLE",
      last?.retryable ?? true,
    ),
  };
}

const callInput = (context: GroupContext, index: number, samples: boolean) => ({
  instance: context.group.instances[index] ?? context.group.name,
  index,
  samples,
  retry: context.retry,
});

export const replicaGroupMachine = setup({
  types: {
    context: {} as GroupContext,
    input: {} as GroupInput,
    events: {} as ReplicaCallDone,
    output: {} as Outcome,
  },
  actors: {
    call: callMachine,
    /** Merges the replicas' answers: raw samples (in time order each) or PromQL values, each once. */
    combine: fromPromise<TargetResult, { answers: TargetResult[] }>(async () => {
      throw new Error("combine is provided by the federator");
    }),
  },
  guards: {
    readOne: ({ context }) => context.group.read === "one",
    answered: (_, outcome: Outcome) => outcome.ok,
    fatal: (_, outcome: Outcome) => !outcome.ok && isFatal(outcome.error),
    moreReplicas: ({ context }) => context.next + 1 < context.group.instances.length,
    allIn: ({ context }) =>
      context.answers.filter(Boolean).length + context.failures.length >=
      context.group.instances.length,
    noneAnswered: ({ context }) => !context.answers.some(Boolean),
  },
  actions: {
    keep: assign((_, outcome: Outcome) =>
      outcome.ok ? { result: outcome.result } : { error: outcome.error },
    ),
  },
}).createMachine({
  id: "group",
  context: ({ input }) => ({
    ...input,
    next: 0,
    answers: [],
    failures: [],
    result: undefined,
    error: undefined,
  }),
  initial: "choosing",
  states: {
    choosing: {
      always: [{ guard: "readOne", target: "failingOver" }, { target: "gathering" }],
    },
    failingOver: {
      invoke: {
        id: "call",
        src: "call",
        input: ({ context }) => callInput(context, context.next, false),
        onDone: [
          {
            guard: { type: "answered", params: ({ event }) => event.output },
            target: "answered",
            actions: { type: "keep", params: ({ event }) => event.output },
          },
          {
            guard: { type: "fatal", params: ({ event }) => event.output },
            target: "failed",
            actions: { type: "keep", params: ({ event }) => event.output },
          },
          {
            guard: "moreReplicas",
            target: "failingOver",
            reenter: true,
            actions: assign(({ context, event }) => ({
              failures: withFailure(context, event.output),
              next: context.next + 1,
            })),
          },
          {
            target: "failed",
            actions: assign(({ context, event }) => failedOver(context, event.output)),
          },
        ],
      },
    },
    gathering: {
      entry: enqueueActions(({ context, enqueue }) => {
        context.group.instances.forEach((_, index) => {
          enqueue.spawnChild("call", {
            id: `replica-${index}`,
            input: callInput(context, index, true),
          });
        });
      }),
      on: {
        "xstate.done.actor.*": [
          {
            guard: { type: "answered", params: ({ event }) => event.output },
            actions: assign({
              answers: ({ context, event }) => {
                const answers = [...context.answers];
                if (event.output.ok) answers[event.output.index] = event.output.result;
                return answers;
              },
            }),
          },
          {
            guard: { type: "fatal", params: ({ event }) => event.output },
            target: "failed",
            actions: { type: "keep", params: ({ event }) => event.output },
          },
          {
            actions: assign({
              failures: ({ context, event }) => withFailure(context, event.output),
            }),
          },
        ],
      },
      always: [
        {
          guard: and(["allIn", "noneAnswered"]),
          target: "failed",
          actions: assign({
            error: ({ context }) =>
              everyReplicaFailed(
                context.group.name,
                context.failures,
                context.failures[0]?.code ?? "UNAVAILABLE",
              ),
          }),
        },
        { guard: "allIn", target: "combining" },
      ],
    },
    combining: {
      invoke: {
        src: "combine",
        input: ({ context }) => ({
          answers: context.answers.flatMap((answer) => (answer ? [answer] : [])),
        }),
        onDone: { target: "answered", actions: assign({ result: ({ event }) => event.output }) },
        onError: {
          target: "failed",
          actions: assign({ error: ({ event }) => toEntenteError(event.error) }),
        },
      },
    },
    answered: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }): Outcome =>
    outcomeOf(context, () =>
      everyReplicaFailed(context.group.name, context.failures, "UNAVAILABLE"),
    ),
});

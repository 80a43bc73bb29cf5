/**
 * One saga as an XState machine. It holds no I/O: saving its progress (`persist`) and running
 * one action or compensation (`runStep`) are actors the service provides, so the machine can be
 * driven in tests with stand-ins and a simulated clock.
 *
 *   resuming ─► forward:
 *               next ─► saving ─► acting ──ok──► next … ─all done─► finishing ─► completed
 *                         ▲         │ retryable, attempts left
 *                         └─ retrying ◄┘
 *                                   │ failed for good
 *               compensating: ◄─────┘ (from the step before the failed one, down to 0)
 *               next ─► saving ─► acting ──ok──► next … ─none left─► closing ─► compensated
 *                         ▲         │ retryable, attempts left
 *                         └─ retrying ◄┘
 *                                   │ failed for good
 *                                   └──► escalating ─► needs_operator
 *   resuming ─► compensating, or straight to a final state, as the saved record says
 *   any persist failure (the lease is someone else's now) ─► lost
 *
 * Progress is saved before each execution, so a worker that dies mid-step leaves a record that
 * says which step was under way; the next owner runs it again with the same idempotency key.
 */
import type {
  SagaDefinition,
  SagaEffect,
  SagaError,
  SagaState,
  SagaStepView,
} from "@entente/protocol";
import { assign, fromPromise, setup } from "xstate";

export interface RetryPolicy {
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

/** What a saga is and how far it got: the part of the persisted record the machine owns. */
export interface SagaData {
  id: string;
  name?: string;
  definition: SagaDefinition;
  state: SagaState;
  steps: SagaStepView[];
  /** Forward: the step to run next. Compensating: the step to compensate next (-1: none). */
  cursor: number;
  error?: SagaError;
  createdAt: number;
  updatedAt: number;
}

export type StepPhase = "action" | "compensation";

/** One execution of an action or a compensation. */
export interface StepRun {
  sagaId: string;
  index: number;
  phase: StepPhase;
  effect: SagaEffect;
  /** `<sagaId>.<stepIndex>.<phase>`: the same for every attempt, so receivers apply it once. */
  key: string;
  attempt: number;
}

export interface SagaMachineInput {
  saga: SagaData;
  policy: RetryPolicy;
  /** The clock of the timestamps recorded (the actor's clock in tests). */
  now: () => number;
}

type SagaContext = SagaMachineInput;

export function idempotencyKey(sagaId: string, index: number, phase: StepPhase): string {
  return `${sagaId}.${index}.${phase}`;
}

/** The pause before attempt `attempt + 1`: doubling from `backoffMs`, capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attempt - 1));
}

/** A failure as recorded: the protocol's error shape, whatever was thrown. */
export function sagaErrorOf(error: unknown, at: number): SagaError {
  const e = error as { code?: unknown; message?: unknown; retryable?: unknown } | undefined;
  return {
    code: typeof e?.code === "string" ? e.code : "INTERNAL",
    message:
      typeof e?.message === "string" && e.message !== "" ? e.message : String(error ?? "failed"),
    retryable: e?.retryable === true,
    at,
  };
}

const updateStep = (
  saga: SagaData,
  index: number,
  change: (step: SagaStepView) => SagaStepView,
): SagaStepView[] => saga.steps.map((step, i) => (i === index ? change(step) : step));

/** The step of `index` and its effect for `phase`. */
function runOf(saga: SagaData, phase: StepPhase): StepRun {
  const index = saga.cursor;
  const step = saga.definition.steps[index];
  const view = saga.steps[index];
  const effect = phase === "action" ? step?.action : step?.compensation;
  if (!step || !view || !effect) throw new Error(`saga ${saga.id} has no ${phase} at ${index}`);
  return {
    sagaId: saga.id,
    index,
    phase,
    effect,
    key: idempotencyKey(saga.id, index, phase),
    attempt: phase === "action" ? view.attempts : view.compensationAttempts,
  };
}

const errorEvent = (event: unknown): unknown => (event as { error?: unknown }).error;

export const sagaMachine = setup({
  types: {
    context: {} as SagaContext,
    input: {} as SagaMachineInput,
    output: {} as SagaData,
  },
  actors: {
    /** Saves the saga (with the lease renewed); rejects when this worker no longer holds it. */
    persist: fromPromise<void, { saga: SagaData }>(async () => {
      throw new Error("persist is provided by the service");
    }),
    /** Runs one action or compensation; resolves to its reply, rejects with its error. */
    runStep: fromPromise<unknown, StepRun>(async () => {
      throw new Error("runStep is provided by the service");
    }),
  },
  delays: {
    backoff: ({ context }) => {
      const step = context.saga.steps[context.saga.cursor];
      const attempt =
        context.saga.state === "compensating" ? step?.compensationAttempts : step?.attempts;
      return backoffDelay(context.policy, attempt ?? 1);
    },
  },
  guards: {
    isIn: ({ context }, params: { state: SagaState }) => context.saga.state === params.state,
    isCompensating: ({ context }) => context.saga.state === "compensating",
    allDone: ({ context }) => context.saga.cursor >= context.saga.steps.length,
    noneToCompensate: ({ context }) => context.saga.cursor < 0,
    mayRetryAction: ({ context, event }) =>
      sagaErrorOf(errorEvent(event), 0).retryable &&
      (context.saga.steps[context.saga.cursor]?.attempts ?? 0) < context.policy.maxAttempts,
    mayRetryCompensation: ({ context, event }) =>
      sagaErrorOf(errorEvent(event), 0).retryable &&
      (context.saga.steps[context.saga.cursor]?.compensationAttempts ?? 0) <
        context.policy.maxAttempts,
  },
  actions: {
    startAction: assign({
      saga: ({ context: { saga, now } }) => ({
        ...saga,
        state: "running" as const,
        updatedAt: now(),
        steps: updateStep(saga, saga.cursor, (s) => ({
          ...s,
          status: "running",
          attempts: s.attempts + 1,
          startedAt: s.startedAt ?? now(),
        })),
      }),
    }),
    actionDone: assign({
      saga: ({ context: { saga, now }, event }) => {
        const { error: _, ...rest } = saga.steps[saga.cursor] as SagaStepView;
        const done: SagaStepView = {
          ...rest,
          status: "done",
          finishedAt: now(),
          result: (event as { output?: unknown }).output,
        };
        return {
          ...saga,
          updatedAt: now(),
          cursor: saga.cursor + 1,
          steps: updateStep(saga, saga.cursor, () => done),
        };
      },
    }),
    actionRetrying: assign({
      saga: ({ context: { saga, now }, event }) => ({
        ...saga,
        state: "retrying" as const,
        updatedAt: now(),
        steps: updateStep(saga, saga.cursor, (s) => ({
          ...s,
          error: sagaErrorOf(errorEvent(event), now()),
        })),
      }),
    }),
    /** The step failed for good: the steps before it are compensated, from the last one. */
    actionFailed: assign({
      saga: ({ context: { saga, now }, event }) => {
        const error = sagaErrorOf(errorEvent(event), now());
        return {
          ...saga,
          state: "compensating" as const,
          error,
          updatedAt: now(),
          cursor: saga.cursor - 1,
          steps: updateStep(saga, saga.cursor, (s) => ({
            ...s,
            status: "failed",
            error,
            finishedAt: now(),
          })),
        };
      },
    }),
    /** Steps without a compensation are passed over, and said to be. */
    skipUncompensable: assign({
      saga: ({ context: { saga } }) => {
        let cursor = saga.cursor;
        let steps = saga.steps;
        while (cursor >= 0 && saga.definition.steps[cursor]?.compensation === undefined) {
          steps = steps.map((s, i) => (i === cursor ? { ...s, status: "not_compensated" } : s));
          cursor--;
        }
        return { ...saga, cursor, steps };
      },
    }),
    startCompensation: assign({
      saga: ({ context: { saga, now } }) => ({
        ...saga,
        updatedAt: now(),
        steps: updateStep(saga, saga.cursor, (s) => ({
          ...s,
          status: "compensating",
          compensationAttempts: s.compensationAttempts + 1,
        })),
      }),
    }),
    compensationDone: assign({
      saga: ({ context: { saga, now } }) => ({
        ...saga,
        updatedAt: now(),
        cursor: saga.cursor - 1,
        steps: updateStep(saga, saga.cursor, (s) => ({
          ...s,
          status: "compensated",
          finishedAt: now(),
        })),
      }),
    }),
    compensationRetrying: assign({
      saga: ({ context: { saga, now }, event }) => ({
        ...saga,
        updatedAt: now(),
        steps: updateStep(saga, saga.cursor, (s) => ({
          ...s,
          error: sagaErrorOf(errorEvent(event), now()),
        })),
      }),
    }),
    /** Left for an operator: the saga's error names the step and what went wrong. */
    compensationFailed: assign({
      saga: ({ context: { saga, now }, event }) => {
        const error = sagaErrorOf(errorEvent(event), now());
        const name = saga.definition.steps[saga.cursor]?.name ?? String(saga.cursor);
        return {
          ...saga,
          state: "needs_operator" as const,
          updatedAt: now(),
          error: {
            ...error,
            message: `compensation of step ${saga.cursor} (${name}) failed after ${saga.steps[saga.cursor]?.compensationAttempts} attempt(s): ${error.message}`,
          },
          steps: updateStep(saga, saga.cursor, (s) => ({
            ...s,
            status: "compensation_failed",
            error,
            finishedAt: now(),
          })),
        };
      },
    }),
    markCompleted: assign({
      saga: ({ context: { saga, now } }) => ({ ...saga, state: "completed", updatedAt: now() }),
    }),
    markCompensated: assign({
      saga: ({ context: { saga, now } }) => ({ ...saga, state: "compensated", updatedAt: now() }),
    }),
  },
}).createMachine({
  id: "saga",
  context: ({ input }) => ({ ...input }),
  initial: "resuming",
  output: ({ context }) => context.saga,
  states: {
    /** A new saga and one resumed from its record both start here. */
    resuming: {
      always: [
        { guard: { type: "isIn", params: { state: "completed" } }, target: "completed" },
        { guard: { type: "isIn", params: { state: "compensated" } }, target: "compensated" },
        { guard: { type: "isIn", params: { state: "needs_operator" } }, target: "needs_operator" },
        { guard: "isCompensating", target: "compensating" },
        { target: "forward" },
      ],
    },
    forward: {
      initial: "next",
      states: {
        next: {
          always: [{ guard: "allDone", target: "#saga.finishing" }, { target: "saving" }],
        },
        saving: {
          entry: "startAction",
          invoke: {
            src: "persist",
            input: ({ context }) => ({ saga: context.saga }),
            onDone: "acting",
            onError: "#saga.lost",
          },
        },
        acting: {
          invoke: {
            src: "runStep",
            input: ({ context }) => runOf(context.saga, "action"),
            onDone: { target: "next", actions: "actionDone" },
            onError: [
              { guard: "mayRetryAction", target: "retrying", actions: "actionRetrying" },
              { target: "#saga.compensating", actions: "actionFailed" },
            ],
          },
        },
        retrying: {
          invoke: {
            src: "persist",
            input: ({ context }) => ({ saga: context.saga }),
            onError: "#saga.lost",
          },
          after: { backoff: "saving" },
        },
      },
    },
    compensating: {
      initial: "next",
      states: {
        next: {
          entry: "skipUncompensable",
          always: [{ guard: "noneToCompensate", target: "#saga.closing" }, { target: "saving" }],
        },
        saving: {
          entry: "startCompensation",
          invoke: {
            src: "persist",
            input: ({ context }) => ({ saga: context.saga }),
            onDone: "acting",
            onError: "#saga.lost",
          },
        },
        acting: {
          invoke: {
            src: "runStep",
            input: ({ context }) => runOf(context.saga, "compensation"),
            onDone: { target: "next", actions: "compensationDone" },
            onError: [
              {
                guard: "mayRetryCompensation",
                target: "retrying",
                actions: "compensationRetrying",
              },
              { target: "#saga.escalating", actions: "compensationFailed" },
            ],
          },
        },
        retrying: {
          invoke: {
            src: "persist",
            input: ({ context }) => ({ saga: context.saga }),
            onError: "#saga.lost",
          },
          after: { backoff: "saving" },
        },
      },
    },
    finishing: {
      entry: "markCompleted",
      invoke: {
        src: "persist",
        input: ({ context }) => ({ saga: context.saga }),
        onDone: "completed",
        onError: "lost",
      },
    },
    closing: {
      entry: "markCompensated",
      invoke: {
        src: "persist",
        input: ({ context }) => ({ saga: context.saga }),
        onDone: "compensated",
        onError: "lost",
      },
    },
    escalating: {
      invoke: {
        src: "persist",
        input: ({ context }) => ({ saga: context.saga }),
        onDone: "needs_operator",
        onError: "lost",
      },
    },
    completed: { type: "final" },
    /** Every completed step that has a compensation was compensated. */
    compensated: { type: "final" },
    /** A compensation failed for good; the saga's error says which and why. */
    needs_operator: { type: "final" },
    /** Another worker holds the saga now (or the store is gone): this one stops touching it. */
    lost: { type: "final" },
  },
});

/**
 * One instance's call within a query, as a machine:
 *
 *   admitting ──allowed──► calling ──points──► receiving ──► answered
 *       │                     │ └───partials──────────────────► answered
 *       │                     │ failure, or no answer within the attempt's time
 *       │ circuit open        ▼
 *       ▼                 recording ──retry──► backingOff ──(backoff)──► admitting
 *    refused                  │ no retry
 *                             ▼
 *                          failed ◄── a fatal error while calling, any error while receiving
 *
 * It has no I/O: admission, the fetch, taking raw points in (labelling them with their
 * instance and counting them against the query's allowance) and recording a failure are actors
 * the federator provides; partial aggregates need nothing taken in. Its output is the call's
 * outcome, which its parent (the query, or a replica group) gets with the call's done event.
 * Leaving `calling` (the attempt's timeout) or being stopped (the query's deadline, a fatal
 * error elsewhere, the caller going away) stops the fetch, which aborts its signal and so the
 * statement or request behind it.
 *
 * The circuit breaker stays the pure reducer of breaker.ts, held by the federator, rather than
 * state of this machine: a circuit belongs to an instance, outlives every call and is shared
 * by the queries running at once, while this machine lives for one call. The machine consults
 * it through `admit` (may this attempt go, and with how much time) and `recordFailure` (the
 * circuit's state once the failure is counted, and the query's time left), whose answers are
 * data it decides on. An admission is a lease on the instance, handed back exactly once: with
 * a success (`settle`), with a failure (`recordFailure`), without a verdict on a fatal error
 * (`settle`), or by the federator when the query ends with the call still running.
 */
import { EntenteError, toEntenteError } from "@entente/protocol";
import { assign, fromPromise, setup } from "xstate";
import type { CircuitState } from "./breaker.ts";
import type { PartialsResult, PromqlPartsResult, RawResult } from "./instances/types.ts";
import { isFatal, type Outcome, outcomeOf, type TargetResult, withInstance } from "./outcome.ts";
import { nextBackoff, type RetrySettings } from "./retry.ts";

export interface CallInput {
  instance: string;
  /** The call's place among its parent's children (the query's targets, a group's replicas). */
  index: number;
  /** Read the instance's raw samples for its replica group to merge, whatever the query asks. */
  samples: boolean;
  retry: RetrySettings;
}

export type Admission =
  | { allowed: true; lease: number; timeoutMs: number }
  | { allowed: false; failures: number };

/** What the federator knows once a failure is counted against the instance. */
export interface Verdict {
  circuit: CircuitState;
  /** Of the query's budget. */
  remainingMs: number;
}

export type InstanceAnswer = RawResult | PartialsResult | PromqlPartsResult;

export interface FetchInput {
  instance: string;
  samples: boolean;
  attempt: number;
  timeoutMs: number;
}

export interface ReceiveInput {
  instance: string;
  samples: boolean;
  answer: RawResult;
}

export interface Settlement {
  lease: number;
  /** `answered` counts as a success; `released` gives the lease back without a verdict. */
  outcome: "answered" | "released";
}

export interface CallContext extends CallInput {
  attempt: number;
  lease: number;
  timeoutMs: number;
  waitMs: number;
  /** Raw points to take in. */
  answer: RawResult | undefined;
  result: TargetResult | undefined;
  error: EntenteError | undefined;
}

/** The pause before the next attempt, or undefined when the failure ends the call. */
function retryWait(context: CallContext, verdict: Verdict): number | undefined {
  const error = context.error;
  // A failure that opened the circuit ends the retries: it is reported, not the refusal.
  if (!error || verdict.circuit === "open") return undefined;
  return nextBackoff(context.attempt, error.retryable, verdict.remainingMs, context.retry);
}

/** Partial aggregates or PromQL values as the target's result: nothing to take in. */
function resultOf(answer: PartialsResult | PromqlPartsResult): TargetResult {
  const failures = answer.failures ?? [];
  const result: TargetResult =
    "partials" in answer ? { partials: answer.partials } : { values: answer.values };
  return failures.length > 0 ? { ...result, failures } : result;
}

function refused(instance: string, failures: number): EntenteError {
  return new EntenteError(
    "UNAVAILABLE",
    `instance ${instance}: circuit open after ${failures} consecutive failures; not called`,
    { details: { instance, circuit: "open" } },
  );
}

function timedOut(context: CallContext): EntenteError {
  return new EntenteError(
    "DEADLINE_EXCEEDED",
    `instance ${context.instance} did not answer within ${Math.round(context.timeoutMs)} ms`,
    { details: { instance: context.instance } },
  );
}

/**
 * A failed attempt's error. The instance's own client may notice the budget running out before
 * the attempt's timer does: that is reported as the attempt's timeout.
 */
function attemptError(context: CallContext, err: unknown): EntenteError {
  const error = toEntenteError(err);
  return error.code === "DEADLINE_EXCEEDED"
    ? timedOut(context)
    : withInstance(error, context.instance);
}

const provided = (what: string) => () => {
  throw new Error(`${what} is provided by the federator`);
};

export const callMachine = setup({
  types: {
    context: {} as CallContext,
    input: {} as CallInput,
    output: {} as Outcome,
  },
  actors: {
    admit: fromPromise<Admission, { instance: string }>(provided("admit")),
    fetch: fromPromise<InstanceAnswer, FetchInput>(provided("fetch")),
    receive: fromPromise<TargetResult, ReceiveInput>(provided("receive")),
    recordFailure: fromPromise<Verdict, { lease: number; error: EntenteError }>(
      provided("recordFailure"),
    ),
  },
  actions: {
    settle: (_, _settlement: Settlement) => provided("settle")(),
  },
  guards: {
    allowed: (_, admission: Admission) => admission.allowed,
    rawPoints: (_, answer: InstanceAnswer) => "points" in answer,
    fatal: (_, { error }: { error: unknown }) => isFatal(error),
    retry: (_, wait: number | undefined) => wait !== undefined,
  },
  delays: {
    attemptTimeout: ({ context }) => context.timeoutMs,
    backoff: ({ context }) => context.waitMs,
  },
}).createMachine({
  id: "call",
  context: ({ input }) => ({
    ...input,
    attempt: 1,
    lease: -1,
    timeoutMs: 0,
    waitMs: 0,
    answer: undefined,
    result: undefined,
    error: undefined,
  }),
  initial: "admitting",
  states: {
    admitting: {
      invoke: {
        src: "admit",
        input: ({ context }) => ({ instance: context.instance }),
        onDone: [
          {
            guard: { type: "allowed", params: ({ event }) => event.output },
            target: "calling",
            actions: assign(({ event }) =>
              event.output.allowed
                ? { lease: event.output.lease, timeoutMs: event.output.timeoutMs }
                : {},
            ),
          },
          {
            target: "refused",
            actions: assign({
              error: ({ context, event }) =>
                refused(context.instance, event.output.allowed ? 0 : event.output.failures),
            }),
          },
        ],
        onError: {
          target: "failed",
          actions: assign({
            error: ({ context, event }) => withInstance(event.error, context.instance),
          }),
        },
      },
    },
    calling: {
      invoke: {
        src: "fetch",
        input: ({ context }) => ({
          instance: context.instance,
          samples: context.samples,
          attempt: context.attempt,
          timeoutMs: context.timeoutMs,
        }),
        onDone: [
          {
            guard: { type: "rawPoints", params: ({ event }) => event.output },
            target: "receiving",
            actions: [
              assign({
                answer: ({ event }) => ("points" in event.output ? event.output : undefined),
              }),
              {
                type: "settle",
                params: ({ context }) => ({ lease: context.lease, outcome: "answered" }),
              },
            ],
          },
          {
            target: "answered",
            actions: [
              assign({
                result: ({ event }) =>
                  "points" in event.output ? undefined : resultOf(event.output),
              }),
              {
                type: "settle",
                params: ({ context }) => ({ lease: context.lease, outcome: "answered" }),
              },
            ],
          },
        ],
        onError: [
          {
            guard: { type: "fatal", params: ({ event }) => ({ error: event.error }) },
            target: "failed",
            actions: [
              assign({
                error: ({ context, event }) => withInstance(event.error, context.instance),
              }),
              {
                type: "settle",
                params: ({ context }) => ({ lease: context.lease, outcome: "released" }),
              },
            ],
          },
          {
            target: "recording",
            actions: assign({ error: ({ context, event }) => attemptError(context, event.error) }),
          },
        ],
      },
      after: {
        attemptTimeout: {
          target: "recording",
          actions: assign({ error: ({ context }) => timedOut(context) }),
        },
      },
    },
    receiving: {
      invoke: {
        src: "receive",
        input: ({ context }) => ({
          instance: context.instance,
          samples: context.samples,
          answer: context.answer ?? { points: [] },
        }),
        onDone: {
          target: "answered",
          actions: assign({ result: ({ event }) => event.output, answer: undefined }),
        },
        onError: {
          target: "failed",
          actions: assign({
            error: ({ context, event }) => withInstance(event.error, context.instance),
          }),
        },
      },
    },
    recording: {
      invoke: {
        src: "recordFailure",
        input: ({ context }) => ({
          lease: context.lease,
          error: context.error ?? timedOut(context),
        }),
        onDone: [
          {
            guard: {
              type: "retry",
              params: ({ context, event }) => retryWait(context, event.output),
            },
            target: "backingOff",
            actions: assign({
              waitMs: ({ context, event }) => retryWait(context, event.output) ?? 0,
            }),
          },
          { target: "failed" },
        ],
        onError: "failed",
      },
    },
    backingOff: {
      after: {
        backoff: {
          target: "admitting",
          actions: assign({ attempt: ({ context }) => context.attempt + 1 }),
        },
      },
    },
    answered: { type: "final" },
    refused: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }): Outcome =>
    outcomeOf(context, () => new EntenteError("INTERNAL", "the call ended without an answer")),
});

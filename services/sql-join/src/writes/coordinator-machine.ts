/**
 * Two-phase commit of one transaction across several sources, as an XState machine. It holds no
 * I/O: preparing, logging the decision, committing and rolling back are actors the service
 * provides, so every path can be driven in tests with stand-ins.
 *
 *   preparing ─ok─► deciding ─commit─► committing ─► finishing ─► committed
 *       │              │  └─abort (recovery decided first)──┐
 *       │ failed       │ log unreachable                    ▼
 *       │              └─► deciding_abort ─abort─► rolling_back ─► rolled_back
 *       │                     │  └─commit (the first write did land)─► committing
 *       └─────────────────────┼───────────────────────────────┘
 *                             └ log still unreachable ─► in_doubt
 *
 * The decision is written to the log before it is acted on, with create-if-absent: whichever of
 * this coordinator and a recovering worker writes first decides, and both follow that decision.
 * A prepared transaction without a logged decision is presumed aborted. Once commit is logged the
 * transaction is committed, whatever a participant then answers: one that fails to commit is
 * left prepared for recovery to finish. A decision carried out everywhere is forgotten.
 */
import { assign, fromPromise, setup } from "xstate";

export type Decision = "commit" | "abort";

export interface CoordinatorInput {
  /** The transaction id the participants are prepared under. */
  id: string;
}

export interface CoordinatorOutput {
  outcome: "committed" | "rolled back" | "in doubt";
  /** Why it did not commit: the failed prepare, or a decision already logged as abort. */
  error?: unknown;
  /** Participants a logged commit has not reached yet; recovery commits them. */
  unfinished: string[];
  /** A decision was logged (or found logged): it is forgotten once carried out. */
  decided: boolean;
}

interface CoordinatorContext {
  id: string;
  outcome: CoordinatorOutput["outcome"];
  error: unknown;
  unfinished: string[];
  decided: boolean;
}

const provided = (name: string): never => {
  throw new Error(`${name} is provided by the service`);
};

export const coordinatorMachine = setup({
  types: {
    input: {} as CoordinatorInput,
    context: {} as CoordinatorContext,
    output: {} as CoordinatorOutput,
  },
  actors: {
    /** Prepares every participant; fails if any cannot. */
    prepareAll: fromPromise<void, { id: string }>(async () => provided("prepareAll")),
    /** Logs `decision` unless one is logged already; returns the decision that stands. */
    decide: fromPromise<Decision, { id: string; decision: Decision }>(async () =>
      provided("decide"),
    ),
    /** Commits every prepared participant; returns the ones that could not be reached. */
    commitAll: fromPromise<string[], { id: string }>(async () => provided("commitAll")),
    /** Rolls back every participant, prepared or not. */
    rollbackAll: fromPromise<void, { id: string }>(async () => provided("rollbackAll")),
    /** Marks the logged decision carried out. */
    finish: fromPromise<void, { id: string }>(async () => provided("finish")),
  },
}).createMachine({
  id: "two-phase-commit",
  initial: "preparing",
  context: ({ input }) => ({
    id: input.id,
    outcome: "in doubt",
    error: undefined,
    unfinished: [],
    decided: false,
  }),
  states: {
    preparing: {
      invoke: {
        src: "prepareAll",
        input: ({ context }) => ({ id: context.id }),
        onDone: "deciding",
        onError: { target: "rolling_back", actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    deciding: {
      invoke: {
        src: "decide",
        input: ({ context }) => ({ id: context.id, decision: "commit" as const }),
        onDone: [
          {
            guard: ({ event }) => event.output === "commit",
            target: "committing",
            actions: assign({ decided: true }),
          },
          {
            target: "rolling_back",
            actions: assign({
              decided: true,
              error: () => new Error("a recovering worker decided abort first"),
            }),
          },
        ],
        // The write may have landed before the error: ask again, proposing abort this time.
        onError: "deciding_abort",
      },
    },
    deciding_abort: {
      invoke: {
        src: "decide",
        input: ({ context }) => ({ id: context.id, decision: "abort" as const }),
        onDone: [
          {
            guard: ({ event }) => event.output === "commit",
            target: "committing",
            actions: assign({ decided: true }),
          },
          {
            target: "rolling_back",
            actions: assign({
              decided: true,
              error: () => new Error("the decision log could not be written"),
            }),
          },
        ],
        onError: { target: "in_doubt", actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    committing: {
      invoke: {
        src: "commitAll",
        input: ({ context }) => ({ id: context.id }),
        onDone: [
          {
            guard: ({ event }) => event.output.length > 0,
            target: "committed",
            actions: assign({ unfinished: ({ event }) => event.output }),
          },
          { target: "finishing" },
        ],
        // Committed by the log all the same; recovery finishes every participant.
        onError: {
          target: "committed",
          actions: assign({ unfinished: () => ["unknown"], error: ({ event }) => event.error }),
        },
      },
    },
    finishing: {
      invoke: {
        src: "finish",
        input: ({ context }) => ({ id: context.id }),
        onDone: "committed",
        // Bookkeeping only: an unforgotten decision expires with the log's retention.
        onError: "committed",
      },
    },
    rolling_back: {
      invoke: {
        src: "rollbackAll",
        input: ({ context }) => ({ id: context.id }),
        onDone: "rolled_back",
        // Whatever stayed prepared has no commit logged: recovery rolls it back.
        onError: "rolled_back",
      },
    },
    committed: { type: "final", entry: assign({ outcome: "committed" }) },
    rolled_back: { type: "final", entry: assign({ outcome: "rolled back" }) },
    in_doubt: { type: "final", entry: assign({ outcome: "in doubt" }) },
  },
  output: ({ context }) => ({
    outcome: context.outcome,
    unfinished: context.unfinished,
    decided: context.decided,
    ...(context.error === undefined ? {} : { error: context.error }),
  }),
});

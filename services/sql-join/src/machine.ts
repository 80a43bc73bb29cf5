/**
 * One SQL request as an actor: plan, then either explain or run. The machine does no I/O; the
 * service provides `plan` and `run`.
 */
import { assign, fromPromise, setup } from "xstate";

export interface SqlQueryInput {
  sql: string;
  params: unknown[];
  explain: boolean;
  pushdown: boolean;
}

export interface SqlQueryOutput {
  reply?: unknown;
  error?: unknown;
}

interface Context {
  input: SqlQueryInput;
  planned?: { explain: boolean };
  reply?: unknown;
  error?: unknown;
}

export const sqlQueryMachine = setup({
  types: {
    input: {} as SqlQueryInput,
    context: {} as Context,
    output: {} as SqlQueryOutput,
  },
  actors: {
    plan: fromPromise<{ explain: boolean }, SqlQueryInput>(async () => {
      throw new Error("plan is provided by the service");
    }),
    explain: fromPromise<unknown, { input: SqlQueryInput; planned: { explain: boolean } }>(
      async () => {
        throw new Error("explain is provided by the service");
      },
    ),
    run: fromPromise<unknown, { input: SqlQueryInput; planned: { explain: boolean } }>(async () => {
      throw new Error("run is provided by the service");
    }),
  },
  guards: {
    wantsExplain: ({ context }) => context.input.explain || context.planned?.explain === true,
  },
}).createMachine({
  id: "sqlQuery",
  initial: "planning",
  context: ({ input }) => ({ input }),
  states: {
    planning: {
      invoke: {
        src: "plan",
        input: ({ context }) => context.input,
        onDone: { target: "planned", actions: assign({ planned: ({ event }) => event.output }) },
        onError: { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    planned: {
      always: [{ guard: "wantsExplain", target: "explaining" }, { target: "running" }],
    },
    explaining: {
      invoke: {
        src: "explain",
        input: ({ context }) => ({
          input: context.input,
          planned: context.planned ?? { explain: true },
        }),
        onDone: { target: "done", actions: assign({ reply: ({ event }) => event.output }) },
        onError: { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    running: {
      invoke: {
        src: "run",
        input: ({ context }) => ({
          input: context.input,
          planned: context.planned ?? { explain: false },
        }),
        onDone: { target: "done", actions: assign({ reply: ({ event }) => event.output }) },
        onError: { target: "failed", actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    done: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }) =>
    context.error !== undefined ? { error: context.error } : { reply: context.reply },
});

import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { assign, fromPromise, setup } from "xstate";
import { perRequestActor } from "../src/actors/per-request.ts";
import { settleWithoutActor } from "../src/actors/pure-run.ts";
import { Deadline } from "../src/deadline.ts";
import type { RequestContext } from "../src/service/types.ts";

/** A per-request actor that invokes provided work, like a federated query does. */
const lookup = setup({
  types: {
    input: {} as { name: string },
    context: {} as { name: string; greeting?: string },
    output: {} as { greeting: string },
  },
  actors: {
    fetchGreeting: fromPromise<string, { name: string }>(async () => {
      throw new Error("provided by the service");
    }),
  },
}).createMachine({
  context: ({ input }) => ({ name: input.name }),
  initial: "fetching",
  states: {
    fetching: {
      invoke: {
        src: "fetchGreeting",
        input: ({ context }) => ({ name: context.name }),
        onDone: { target: "done", actions: assign({ greeting: ({ event }) => event.output }) },
        onError: { target: "failed" },
      },
    },
    done: { type: "final" },
    failed: { type: "final" },
  },
  output: ({ context }) => {
    if (!context.greeting) throw new EntenteError("UNAVAILABLE", `no greeting for ${context.name}`);
    return { greeting: context.greeting };
  },
});

function requestContext(budgetMs: number): RequestContext {
  const deadline = Deadline.after(budgetMs);
  return {
    subject: "test",
    headers: undefined,
    deadline,
    signal: AbortSignal.timeout(budgetMs),
    trace: undefined as never,
    logger: undefined as never,
  };
}

describe("actor per request", () => {
  it("runs the machine with the request as input and answers with its output", async () => {
    const handler = perRequestActor(
      lookup.provide({
        actors: { fetchGreeting: fromPromise(async ({ input }) => `hello ${input.name}`) },
      }),
      { input: (request: { name: string }) => ({ name: request.name }) },
    );
    expect(await handler({ name: "ada" }, requestContext(5_000))).toEqual({
      greeting: "hello ada",
    });
  });

  it("stops the actor, and what it invoked, when the request is aborted", async () => {
    let invokedSignal: AbortSignal | undefined;
    const handler = perRequestActor(
      lookup.provide({
        actors: {
          fetchGreeting: fromPromise(({ signal }) => {
            invokedSignal = signal;
            return new Promise<string>(() => {});
          }),
        },
      }),
      { input: (request: { name: string }) => ({ name: request.name }) },
    );
    const context = requestContext(50);
    const answer = handler({ name: "slow" }, context);
    await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(invokedSignal?.aborted).toBe(true);
    void Promise.resolve(answer).catch(() => undefined);
  });
});

/** A machine that settles in its initial transition: what a small per-request pipeline looks like. */
const quote = setup({
  types: {
    input: {} as { sku: string; quantity: number },
    context: {} as { sku: string; total: number },
    output: {} as { sku: string; total: number },
  },
  guards: { bulk: ({ context }) => context.total >= 100 },
}).createMachine({
  context: ({ input }) => {
    if (input.quantity < 0) throw new EntenteError("BAD_REQUEST", "quantity must not be negative");
    return { sku: input.sku, total: input.quantity * 10 };
  },
  initial: "pricing",
  states: {
    pricing: {
      always: [
        {
          guard: "bulk",
          target: "done",
          actions: assign({ total: ({ context }) => context.total * 0.9 }),
        },
        { target: "done" },
      ],
    },
    done: { type: "final" },
  },
  output: ({ context }) => context,
});

describe("actor per request, settled without a live actor", () => {
  it("answers a machine that settles at once synchronously, guards and assigns applied", () => {
    const handler = perRequestActor(quote, {
      input: (request: { sku: string; quantity: number }) => request,
    });
    expect(handler({ sku: "a", quantity: 2 }, requestContext(5_000))).toEqual({
      sku: "a",
      total: 20,
    });
    expect(handler({ sku: "b", quantity: 20 }, requestContext(5_000))).toEqual({
      sku: "b",
      total: 180,
    });
  });

  it("fails with the machine's own error shape", () => {
    const handler = perRequestActor(quote, {
      input: (request: { sku: string; quantity: number }) => request,
    });
    expect(() => handler({ sku: "c", quantity: -1 }, requestContext(5_000))).toThrow(
      expect.objectContaining({ code: "BAD_REQUEST" }),
    );
  });

  it("answers a provided copy of such a machine without an actor too", () => {
    expect(settleWithoutActor(quote.provide({}), { sku: "d", quantity: 1 })).toEqual({
      ok: true,
      output: { sku: "d", total: 10 },
    });
  });

  it("gives a machine that executes an action a live actor, which runs it once", async () => {
    const notes: string[] = [];
    const noting = setup({
      types: { input: {} as { note: string }, output: {} as { note: string } },
    }).createMachine({
      initial: "done",
      states: {
        done: {
          type: "final",
          entry: ({ event }) =>
            notes.push((event as { input?: { note: string } }).input?.note ?? ""),
        },
      },
      output: () => ({ note: "noted" }),
    });
    const handler = perRequestActor(noting, { input: (request: { note: string }) => request });
    const first = handler({ note: "one" }, requestContext(5_000));
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toEqual({ note: "noted" });
    expect(await handler({ note: "two" }, requestContext(5_000))).toEqual({ note: "noted" });
    expect(notes).toEqual(["one", "two"]);
  });

  it("leaves a machine that invokes to a live actor", () => {
    expect(settleWithoutActor(lookup, { name: "ada" })).toBeUndefined();
  });
});

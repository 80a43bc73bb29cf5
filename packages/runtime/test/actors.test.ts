import { EntenteError, msgpackCodec } from "@entente/protocol";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assign, fromPromise, setup } from "xstate";
import { KeyedActors } from "../src/actors/keyed.ts";
import { perRequestActor } from "../src/actors/per-request.ts";
import { Deadline } from "../src/deadline.ts";
import type { RequestContext } from "../src/service/types.ts";

/** A long-lived counter: the kind of entity whose state must survive its worker. */
const counter = setup({
  types: {
    context: {} as { count: number; history: string[] },
    events: {} as { type: "add"; by: number; note: string } | { type: "close" },
    input: {} as { start: number },
  },
}).createMachine({
  id: "counter",
  context: ({ input }) => ({ count: input.start, history: [] }),
  initial: "open",
  states: {
    open: {
      on: {
        add: {
          actions: assign({
            count: ({ context, event }) => context.count + event.by,
            history: ({ context, event }) => [...context.history, event.note],
          }),
        },
        close: "closed",
      },
    },
    closed: { type: "final" },
  },
});

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
    void answer.catch(() => undefined);
  });
});

describe("actors by key, persisted in JetStream KV", () => {
  let server: NatsServer;
  let first: NatsConnection;
  let second: NatsConnection;
  let bucketA: KV;
  let bucketB: KV;

  beforeAll(async () => {
    server = await startNatsServer();
    first = await connect({ servers: server.url });
    second = await connect({ servers: server.url });
    bucketA = await new Kvm(first).create("actors-test", { history: 5 });
    bucketB = await new Kvm(second).open("actors-test");
  });

  afterAll(async () => {
    await first?.close();
    await second?.close();
    await server?.stop();
  });

  it("restores an actor on another worker where the first left off", async () => {
    const workerA = new KeyedActors({ logic: counter, kv: bucketA, input: () => ({ start: 100 }) });
    await workerA.send("orders.eu-1", { type: "add", by: 5, note: "a1" });
    await workerA.send("orders.eu-1", { type: "add", by: 7, note: "a2" });
    workerA.stopAll();

    const workerB = new KeyedActors({ logic: counter, kv: bucketB, input: () => ({ start: 0 }) });
    const snapshot = await workerB.send("orders.eu-1", { type: "add", by: 1, note: "b1" });
    expect(snapshot.context).toEqual({ count: 113, history: ["a1", "a2", "b1"] });

    const closed = await workerB.send("orders.eu-1", { type: "close" });
    expect(closed.status).toBe("done");
    const stored = msgpackCodec.decode((await bucketA.get("orders.eu-1"))!.value) as {
      value: string;
    };
    expect(stored.value).toBe("closed");
  });

  it("loses no event when two workers update one actor at once", async () => {
    const workerA = new KeyedActors({ logic: counter, kv: bucketA, input: () => ({ start: 0 }) });
    const workerB = new KeyedActors({ logic: counter, kv: bucketB, input: () => ({ start: 0 }) });
    const sends = [];
    for (let i = 0; i < 20; i++) {
      const worker = i % 2 === 0 ? workerA : workerB;
      sends.push(worker.send("race", { type: "add", by: 1, note: `e${i}` }));
    }
    await Promise.all(sends);
    const final = await new KeyedActors({ logic: counter, kv: bucketA }).snapshot("race");
    expect(final?.context.count).toBe(20);
    expect(new Set(final?.context.history)).toEqual(new Set(sends.map((_, i) => `e${i}`)));
  });

  it("refuses keys KV cannot hold", async () => {
    const actors = new KeyedActors({ logic: counter, kv: bucketA });
    await expect(actors.send("bad key*", { type: "close" })).rejects.toThrow(/not valid/);
  });

  it("the bucket lives in JetStream", async () => {
    const jsm = await jetstreamManager(first);
    expect((await jsm.streams.info("KV_actors-test")).config.name).toBe("KV_actors-test");
  });
});

/**
 * The query's machines — a query, its targets, their calls — on a simulated clock, with
 * stand-ins for every effect (stand-ins.ts): retries and their backoff, attempt timeouts, open
 * circuits, fatal errors, the deadline with stragglers, cancellation. Time moves only when a
 * test moves it, so each delay is checked to the millisecond without waiting for it.
 */
import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { instance, point, settle, unavailable, World } from "./stand-ins.ts";

describe("a call", () => {
  it("retries a retryable failure after its backoff, then answers", async () => {
    const world = new World();
    const call = world.startCall({ instance: "a" });
    await settle();
    world.fetchesOf("a")[0]?.fail(unavailable());
    await settle();
    expect(call.getSnapshot().value).toBe("backingOff");
    await world.advance(99);
    expect(world.fetchesOf("a")).toHaveLength(1);
    await world.advance(1);
    expect(world.fetchesOf("a").map((f) => f.input.attempt)).toEqual([1, 2]);
    world.fetchesOf("a")[1]?.answer([point(1)]);
    await settle();
    expect(call.getSnapshot().output).toEqual({
      index: 0,
      ok: true,
      result: { points: [point(1)] },
    });
    expect(world.recorded.map((r) => r.error.code)).toEqual(["UNAVAILABLE"]);
    expect(world.settlements.map((s) => s.outcome)).toEqual(["answered"]);
  });

  it("times out an attempt that does not answer: the fetch is stopped, the timeout counted, the call retried", async () => {
    const world = new World();
    world.attemptMs = 500;
    const call = world.startCall({ instance: "a" });
    await settle();
    const first = world.fetchesOf("a")[0];
    await world.advance(499);
    expect(call.getSnapshot().value).toBe("calling");
    expect(first?.signal.aborted).toBe(false);
    await world.advance(1);
    expect(first?.signal.aborted).toBe(true);
    expect(world.recorded).toEqual([
      {
        instance: "a",
        error: expect.objectContaining({
          code: "DEADLINE_EXCEEDED",
          message: "instance a did not answer within 500 ms",
        }),
      },
    ]);
    expect(call.getSnapshot().value).toBe("backingOff");
    await world.advance(100);
    expect(world.fetchesOf("a")).toHaveLength(2);
  });

  it("is refused by an open circuit without calling the instance", async () => {
    const world = new World();
    world.open.set("a", 5);
    const call = world.startCall({ instance: "a" });
    await settle();
    expect(call.getSnapshot().value).toBe("refused");
    expect(world.fetches).toEqual([]);
    const output = call.getSnapshot().output;
    expect(output?.ok).toBe(false);
    expect(output && !output.ok && output.error.message).toBe(
      "instance a: circuit open after 5 consecutive failures; not called",
    );
  });

  it("ends with the failure that opened the circuit, not the refusal, and does not retry", async () => {
    const world = new World();
    world.opensOnFailure.add("a");
    const call = world.startCall({ instance: "a" });
    await settle();
    world.fetchesOf("a")[0]?.fail(unavailable());
    await settle();
    expect(call.getSnapshot().value).toBe("failed");
    const output = call.getSnapshot().output;
    expect(output && !output.ok && output.error).toMatchObject({
      code: "UNAVAILABLE",
      message: "connect ECONNREFUSED 127.0.0.1:1",
      details: { instance: "a" },
    });
    expect(world.fetchesOf("a")).toHaveLength(1);
  });

  it("gives up when what is left of the query cannot hold another attempt", async () => {
    const world = new World();
    world.deadlineAt = 150;
    const call = world.startCall({ instance: "a" });
    await settle();
    world.fetchesOf("a")[0]?.fail(unavailable());
    await settle();
    // A backoff of 100 ms with 150 ms left would leave the retry too little to finish.
    expect(call.getSnapshot().value).toBe("failed");
  });

  it("does not retry what a retry cannot fix", async () => {
    const world = new World();
    const call = world.startCall({ instance: "a" });
    await settle();
    world.fetchesOf("a")[0]?.fail(new EntenteError("BAD_RESPONSE", "instance a: not a point"));
    await settle();
    expect(call.getSnapshot().value).toBe("failed");
    expect(world.recorded).toHaveLength(1);
  });

  it("ends at once on a fatal error, giving the lease back without a verdict", async () => {
    const world = new World();
    const call = world.startCall({ instance: "a" });
    await settle();
    world.fetchesOf("a")[0]?.fail(new EntenteError("TOO_LARGE", "more than 100 points"));
    await settle();
    expect(call.getSnapshot().value).toBe("failed");
    expect(world.recorded).toEqual([]);
    expect(world.settlements.map((s) => s.outcome)).toEqual(["released"]);
  });
});

describe("a replica group", () => {
  const retry = { attempts: 1, backoffMs: 50, maxBackoffMs: 1_000 };

  it("read `one` fails over to the next replica, and names each replica when all fail", async () => {
    const world = new World();
    const target = createActor(world.group, {
      clock: world.clock,
      input: {
        group: { kind: "replicas", name: "g", instances: ["r1", "r2"], read: "one" },
        index: 3,
        retry,
      },
    }).start();
    await settle();
    expect(world.fetches.map((f) => f.input.instance)).toEqual(["r1"]);
    world.fetchesOf("r1")[0]?.fail(unavailable("r1 is down"));
    await settle();
    expect(world.fetches.map((f) => f.input.instance)).toEqual(["r1", "r2"]);
    world.fetchesOf("r2")[0]?.fail(unavailable("r2 is down"));
    await settle();
    const output = target.getSnapshot().output;
    expect(output && !output.ok && output.error).toMatchObject({
      code: "UNAVAILABLE",
      message: "every replica of g failed: r1: r1 is down; r2: r2 is down",
      details: { instance: "g" },
    });
  });

  it("read `merge` combines every replica's samples in replica order, whichever answers first", async () => {
    const world = new World();
    const target = createActor(world.group, {
      clock: world.clock,
      input: {
        group: { kind: "replicas", name: "g", instances: ["r1", "r2"], read: "merge" },
        index: 0,
        retry,
      },
    }).start();
    await settle();
    expect(world.fetches.map((f) => [f.input.instance, f.input.samples])).toEqual([
      ["r1", true],
      ["r2", true],
    ]);
    world.fetchesOf("r2")[0]?.answer([point(2, "r2")]);
    await settle();
    expect(target.getSnapshot().value).toBe("gathering");
    world.fetchesOf("r1")[0]?.answer([point(1, "r1")]);
    await settle();
    expect(target.getSnapshot().output).toEqual({
      index: 0,
      ok: true,
      result: { points: [point(1, "r1"), point(2, "r2")] },
    });
  });
});

describe("a query", () => {
  it("at its deadline records the stragglers as timed out, stops them, and merges what arrived", async () => {
    const world = new World();
    world.deadlineAt = 2_000;
    world.attemptMs = 5_000;
    const query = world.startQuery([instance("a"), instance("b"), instance("c")], {
      deadlineMs: 2_000,
    });
    await settle();
    world.fetchesOf("a")[0]?.answer([point(1)]);
    await world.advance(1_999);
    expect(query.getSnapshot().value).toEqual({ gathering: "fetching" });
    await world.advance(1);
    expect(world.fetchesOf("b")[0]?.signal.aborted).toBe(true);
    expect(world.fetchesOf("c")[0]?.signal.aborted).toBe(true);
    expect(query.getSnapshot().status).toBe("done");
    expect(world.merges).toHaveLength(1);
    expect(query.getSnapshot().output).toEqual({
      state: "answered",
      merged: { points: [point(1)] },
      cached: false,
      partial: {
        succeeded: 1,
        total: 3,
        errors: ["b", "c"].map((name) => ({
          instance: name,
          code: "DEADLINE_EXCEEDED",
          message: `${name} did not answer within the query's 2000 ms`,
        })),
      },
    });
    // A partial answer is not kept for later queries.
    expect(world.remembered).toEqual([]);
  });

  it("retries a target's failed call and answers completely", async () => {
    const world = new World();
    const query = world.startQuery([instance("a"), instance("b")]);
    await settle();
    world.fetchesOf("a")[0]?.answer([point(1)]);
    world.fetchesOf("b")[0]?.fail(unavailable());
    await settle();
    await world.advance(49);
    expect(world.fetchesOf("b")).toHaveLength(1);
    await world.advance(1);
    world.fetchesOf("b")[1]?.answer([point(2)]);
    await settle();
    expect(query.getSnapshot().output).toEqual({
      state: "answered",
      merged: { points: [point(1), point(2)] },
      cached: false,
    });
    expect(world.remembered).toEqual([{ points: [point(1), point(2)] }]);
  });

  it("skips a target whose circuit is open: the answer is partial and names it", async () => {
    const world = new World();
    world.open.set("b", 3);
    const query = world.startQuery([instance("a"), instance("b")]);
    await settle();
    world.fetchesOf("a")[0]?.answer([point(1)]);
    await settle();
    expect(world.fetchesOf("b")).toEqual([]);
    const output = query.getSnapshot().output;
    expect(output?.partial?.errors).toEqual([
      {
        instance: "b",
        code: "UNAVAILABLE",
        message: "instance b: circuit open after 3 consecutive failures; not called",
      },
    ]);
  });

  it("ends at once on a fatal error, stopping the other targets, without merging", async () => {
    const world = new World();
    const query = world.startQuery([instance("a"), instance("b")]);
    await settle();
    world.fetchesOf("b")[0]?.fail(new EntenteError("TOO_LARGE", "more than 100 points"));
    await settle();
    expect(query.getSnapshot().value).toBe("failed");
    expect(world.fetchesOf("a")[0]?.signal.aborted).toBe(true);
    expect(world.merges).toEqual([]);
    expect(query.getSnapshot().output).toMatchObject({
      state: "failed",
      error: { code: "TOO_LARGE" },
    });
  });

  it("is cancelled when its caller goes away: every call stops, and the caller's reason is the outcome", async () => {
    const world = new World();
    const query = world.startQuery([instance("a"), instance("b")]);
    await settle();
    const reason = new EntenteError("CANCELLED", "client went away");
    query.send({ type: "cancel", reason });
    expect(query.getSnapshot().value).toBe("cancelled");
    expect(world.fetches.map((f) => f.signal.aborted)).toEqual([true, true]);
    expect(query.getSnapshot().output).toEqual({ state: "cancelled", error: reason });
  });

  it("refuses a partial answer under partial: deny, without merging", async () => {
    const world = new World();
    world.open.set("b", 3);
    const query = world.startQuery([instance("a"), instance("b")], { policy: "deny" });
    await settle();
    world.fetchesOf("a")[0]?.answer([point(1)]);
    await settle();
    expect(world.merges).toEqual([]);
    expect(query.getSnapshot().output).toMatchObject({
      state: "failed",
      error: { code: "UNAVAILABLE", message: expect.stringMatching(/partial: deny.*1 of 2/) },
      partial: { succeeded: 1, total: 2 },
    });
  });

  it("runs at most `parallelism` targets at once", async () => {
    const world = new World();
    world.startQuery([instance("a"), instance("b"), instance("c")], { parallelism: 2 });
    await settle();
    expect(world.fetches.map((f) => f.input.instance)).toEqual(["a", "b"]);
    world.fetchesOf("b")[0]?.answer([]);
    await settle();
    expect(world.fetches.map((f) => f.input.instance)).toEqual(["a", "b", "c"]);
  });

  it("answers from the cache without fetching", async () => {
    const world = new World();
    world.plan = { targets: [instance("a")], cached: { points: [point(7)] } };
    const query = createActor(world.query, {
      clock: world.clock,
      input: {
        parallelism: 1,
        deadlineMs: 1_000,
        policy: "allow",
        retry: { attempts: 1, backoffMs: 1, maxBackoffMs: 1 },
      },
    }).start();
    await settle();
    expect(world.fetches).toEqual([]);
    expect(query.getSnapshot().output).toEqual({
      state: "answered",
      merged: { points: [point(7)] },
      cached: true,
    });
  });

  it("fails when planning fails (an unknown instance)", async () => {
    const world = new World();
    world.planError = new EntenteError("NOT_FOUND", 'unknown instance "x"');
    const query = world.startQuery([]);
    await settle();
    expect(query.getSnapshot().output).toEqual({ state: "failed", error: world.planError });
  });
});

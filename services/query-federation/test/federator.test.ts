/**
 * The federator around its machines: one deadline (the caller's, a little kept back), the
 * caller going away, and the instances' circuits told exactly once per call — including the
 * calls a query's end stops. Instances here are stand-ins in memory; the suites with real
 * databases and NATS (faults, replicas, instances) cover the same paths end to end.
 */
import { EntenteError } from "@entente/protocol";
import { Deadline } from "@entente/runtime";
import { describe, expect, it } from "vitest";
import {
  executorDeadline,
  Federator,
  type MetricInstance,
  normalizeQuery,
  type Point,
} from "../src/index.ts";
import { InstanceHealth } from "../src/instance-health.ts";

const range = { start: "0", end: "1000000000000" };
const point: Point = { metric: "m", tags: { host: "h" }, timestamp: 1n, value: 1 };

/** An instance that answers at once, or fails, or waits for its call's signal. */
function standIn(name: string, behave: () => "answer" | "fail" | "wait") {
  const calls: AbortSignal[] = [];
  const fetch = (options: { signal: AbortSignal }) => {
    calls.push(options.signal);
    const now = behave();
    if (now === "answer") return Promise.resolve({ points: [point] });
    if (now === "fail") return Promise.reject(new EntenteError("UNAVAILABLE", `${name} is down`));
    return new Promise<never>((_, reject) => {
      options.signal.addEventListener("abort", () => reject(options.signal.reason), {
        once: true,
      });
    });
  };
  const instance: MetricInstance & { calls: AbortSignal[] } = {
    name,
    kind: "duckdb",
    calls,
    fetchRaw: (_q, options) => fetch(options),
    fetchPartials: (_q, options) => fetch(options).then(() => ({ partials: [] })),
    close: async () => {},
  };
  return instance;
}

describe("the query's deadline", () => {
  it("is the caller's, a little kept back so that a partial answer still reaches the caller", () => {
    const now = 1_000_000;
    expect(executorDeadline(Deadline.after(10_000, now), now).at).toBe(now + 9_750);
    expect(executorDeadline(Deadline.after(1_000, now), now).at).toBe(now + 900);
    expect(executorDeadline(Deadline.after(0, now), now).expired(now)).toBe(true);
  });

  it("bounds the instances' calls: what still runs at it is stopped and reported", async () => {
    const hanging = standIn("hanging", () => "wait");
    const federator = new Federator({
      instances: [standIn("quick", () => "answer"), hanging],
      settings: { instanceTimeoutMs: 60_000, defaultTimeoutMs: 60_000 },
    });
    const answer = await federator.query(normalizeQuery({ metric: "m", ...range }), {
      deadline: Deadline.after(200),
    });
    expect(answer.points).toHaveLength(1);
    // Its attempt had what was left of the query: its own timeout and the query's deadline
    // come together, and either may tell.
    expect(answer.partial?.errors).toEqual([
      {
        instance: "hanging",
        code: "DEADLINE_EXCEEDED",
        message: expect.stringMatching(/^(instance )?hanging did not answer within/),
      },
    ]);
    expect(hanging.calls[0]?.aborted).toBe(true);
  });

  it("without a caller's, is the query's own timeoutMs", async () => {
    const hanging = standIn("hanging", () => "wait");
    const federator = new Federator({
      instances: [hanging],
      settings: { instanceTimeoutMs: 60_000, defaultTimeoutMs: 60_000 },
    });
    const failed = await federator
      .query(normalizeQuery({ metric: "m", ...range, timeoutMs: 100 }))
      .catch((err: unknown) => err);
    expect(failed).toMatchObject({ code: "UNAVAILABLE", message: /all 1 instances failed/ });
    expect(hanging.calls[0]?.aborted).toBe(true);
  });
});

describe("the caller going away", () => {
  it("ends the query with the caller's reason and stops the instances' calls", async () => {
    const hanging = standIn("hanging", () => "wait");
    const federator = new Federator({ instances: [hanging] });
    const caller = new AbortController();
    const query = federator.query(normalizeQuery({ metric: "m", ...range }), {
      signal: caller.signal,
    });
    while (hanging.calls.length === 0) await new Promise((r) => setImmediate(r));
    caller.abort(new EntenteError("CANCELLED", "client went away"));
    await expect(query).rejects.toMatchObject({ code: "CANCELLED", message: "client went away" });
    expect(hanging.calls[0]?.aborted).toBe(true);
    expect(federator.failedQueries).toBe(1);
  });

  it("before the query starts, ends it at once", async () => {
    const quick = standIn("quick", () => "answer");
    const federator = new Federator({ instances: [quick] });
    const caller = new AbortController();
    caller.abort(new EntenteError("DEADLINE_EXCEEDED", "entente.query: deadline exceeded"));
    await expect(
      federator.query(normalizeQuery({ metric: "m", ...range }), { signal: caller.signal }),
    ).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
  });
});

describe("the circuits", () => {
  const breaker = { failureThreshold: 1, openMs: 1_000 };

  it("let a half-open circuit's probe go again when the query that held it stopped it", async () => {
    let now = 0;
    let behaviour: "fail" | "wait" | "answer" = "fail";
    const flaky = standIn("flaky", () => behaviour);
    const federator = new Federator({
      instances: [flaky],
      settings: { breaker, retry: { attempts: 1, backoffMs: 1, maxBackoffMs: 1 } },
      now: () => now,
    });
    const ask = (timeoutMs?: number) =>
      federator
        .query(normalizeQuery({ metric: "m", ...range, ...(timeoutMs ? { timeoutMs } : {}) }))
        .catch((err: unknown) => err);
    await ask();
    expect(federator.circuitOf("flaky")).toBe("open");
    now = 2_000;
    behaviour = "wait";
    // The probe hangs; the query's deadline stops it: no verdict on the instance. (The attempt
    // has the query's time left, as long, but its timer is armed after the query's.)
    await ask(50);
    expect(flaky.calls).toHaveLength(2);
    expect(federator.circuitOf("flaky")).toBe("half-open");
    behaviour = "answer";
    const answer = await ask();
    expect(flaky.calls).toHaveLength(3);
    expect(answer).toMatchObject({ points: [point] });
    expect(federator.circuitOf("flaky")).toBe("closed");
    const stats = federator.instanceStats().flaky;
    expect(stats).toMatchObject({ queries: 3, errors: 2, circuit: "closed" });
  });

  it("give a probe back only from the call that holds it", () => {
    let now = 0;
    const health = new InstanceHealth(["a"], breaker, () => now);
    const before = health.admit("a");
    const failed = health.admit("a");
    if (!before.allowed || !failed.allowed) throw new Error("a closed circuit admits");
    health.failed(failed.lease, new EntenteError("UNAVAILABLE", "down"));
    now = 2_000;
    const probe = health.admit("a");
    expect(probe.allowed).toBe(true);
    expect(health.admit("a").allowed).toBe(false);
    // A call admitted before the circuit opened ends without a verdict: the probe stays taken.
    health.abandoned(before.lease, "the query ended");
    expect(health.admit("a").allowed).toBe(false);
    if (probe.allowed) health.released(probe.lease);
    expect(health.admit("a").allowed).toBe(true);
  });
});

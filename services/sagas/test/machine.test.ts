/**
 * The saga machine with stand-ins for its effects, on a simulated clock: which actions and
 * compensations run, in which order, how often, and what is saved before each.
 */
import { EntenteError, type SagaDefinition } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import { type SagaData, type StepRun, sagaMachine } from "../src/machine.ts";
import { newSaga } from "../src/records.ts";

const effect = (what: string) => ({ kind: "request" as const, subject: `test.${what}` });

function definition(steps: number, uncompensated: number[] = []): SagaDefinition {
  return {
    steps: Array.from({ length: steps }, (_, i) => ({
      name: `s${i}`,
      action: effect(`do.${i}`),
      ...(uncompensated.includes(i) ? {} : { compensation: effect(`undo.${i}`) }),
    })),
  };
}

/** What a step stand-in does with one execution: answer, or throw. */
type Script = (run: StepRun) => unknown;

const ok: Script = (run) => ({ ran: run.key });
const fail = (code: string) => new EntenteError(code, `${code} here`);

/** Lets the promise stand-ins settle and the actor take what they sent. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function world(
  saga: SagaData,
  script: Script,
  options: { maxAttempts?: number; persistFailsAt?: number } = {},
) {
  const clock = new SimulatedClock();
  const runs: string[] = [];
  const saved: Array<{ state: string; cursor: number; statuses: string[] }> = [];
  const machine = sagaMachine.provide({
    actors: {
      persist: fromPromise<void, { saga: SagaData }>(async ({ input }) => {
        if (options.persistFailsAt === saved.length) throw new Error("wrong last sequence");
        saved.push({
          state: input.saga.state,
          cursor: input.saga.cursor,
          statuses: input.saga.steps.map((s) => s.status),
        });
      }),
      runStep: fromPromise<unknown, StepRun>(async ({ input }) => {
        runs.push(input.key);
        return script(input);
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      saga,
      policy: { maxAttempts: options.maxAttempts ?? 3, backoffMs: 100, maxBackoffMs: 1_000 },
      now: () => clock.now(),
    },
  });
  return {
    actor,
    runs,
    saved,
    clock,
    async start() {
      actor.start();
      for (let i = 0; i < 50; i++) await settle();
    },
    async advance(ms: number) {
      clock.increment(ms);
      for (let i = 0; i < 50; i++) await settle();
    },
    get value() {
      return actor.getSnapshot().value;
    },
    get saga() {
      return actor.getSnapshot().context.saga;
    },
  };
}

describe("the saga machine", () => {
  it("runs every action in order, saving before each, and completes", async () => {
    const w = world(newSaga("a", definition(3)), ok);
    await w.start();
    expect(w.value).toBe("completed");
    expect(w.runs).toEqual(["a.0.action", "a.1.action", "a.2.action"]);
    // Saved before each step (that step running), then once completed.
    expect(w.saved.map((s) => s.statuses)).toEqual([
      ["running", "pending", "pending"],
      ["done", "running", "pending"],
      ["done", "done", "running"],
      ["done", "done", "done"],
    ]);
    expect(w.saved.at(-1)?.state).toBe("completed");
    expect(w.saga.steps[1]?.result).toEqual({ ran: "a.1.action" });
    expect(w.actor.getSnapshot().output?.state).toBe("completed");
  });

  for (const k of [0, 1, 2, 3]) {
    it(`compensates exactly the steps before step ${k} in reverse when it fails for good`, async () => {
      const w = world(newSaga("f", definition(4)), (run) => {
        if (run.index === k && run.phase === "action") throw fail("BAD_REQUEST");
        return ok(run);
      });
      await w.start();
      expect(w.value).toBe("compensated");
      const actions = Array.from({ length: k + 1 }, (_, i) => `f.${i}.action`);
      const compensations = Array.from({ length: k }, (_, i) => `f.${k - 1 - i}.compensation`);
      expect(w.runs).toEqual([...actions, ...compensations]);
      expect(w.saga.steps.map((s) => s.status)).toEqual(
        Array.from({ length: 4 }, (_, i) =>
          i < k ? "compensated" : i === k ? "failed" : "pending",
        ),
      );
      expect(w.saga.error?.code).toBe("BAD_REQUEST");
      expect(w.saga.steps[k]?.attempts).toBe(1); // not retried: a retry cannot help
    });
  }

  it("retries a step that may succeed on retry, backing off on the clock, then goes on", async () => {
    let failures = 2;
    const w = world(newSaga("r", definition(2)), (run) => {
      if (run.index === 1 && failures-- > 0) throw fail("UNAVAILABLE");
      return ok(run);
    });
    await w.start();
    expect(w.value).toEqual({ forward: "retrying" });
    expect(w.saga.state).toBe("retrying");
    expect(w.saved.at(-1)?.state).toBe("retrying");
    await w.advance(99);
    expect(w.runs).toEqual(["r.0.action", "r.1.action"]);
    await w.advance(1); // the first pause: 100
    expect(w.runs.length).toBe(3);
    await w.advance(199);
    expect(w.runs.length).toBe(3);
    await w.advance(1); // then 200
    expect(w.value).toBe("completed");
    expect(w.runs).toEqual(["r.0.action", "r.1.action", "r.1.action", "r.1.action"]);
    expect(w.saga.steps[1]?.attempts).toBe(3);
    expect(w.saga.steps[1]?.error).toBeUndefined();
  });

  it("compensates once the attempts are used up", async () => {
    const w = world(
      newSaga("y", definition(2)),
      (run) => {
        if (run.index === 1 && run.phase === "action")
          throw new EntenteError("DEADLINE_EXCEEDED", "too slow");
        return ok(run);
      },
      { maxAttempts: 3 },
    );
    await w.start();
    await w.advance(100);
    await w.advance(200);
    expect(w.value).toBe("compensated");
    expect(w.runs).toEqual([
      "y.0.action",
      "y.1.action",
      "y.1.action",
      "y.1.action",
      "y.0.compensation",
    ]);
    expect(w.saga.steps[1]?.attempts).toBe(3);
  });

  it("does not retry a failure that is not an EntenteError saying a retry may help", async () => {
    const w = world(newSaga("x", definition(2)), (run) => {
      if (run.index === 1 && run.phase === "action") throw new Error("duplicate key value");
      return ok(run);
    });
    await w.start();
    expect(w.value).toBe("compensated");
    expect(w.runs).toEqual(["x.0.action", "x.1.action", "x.0.compensation"]);
    expect(w.saga.error).toMatchObject({ code: "INTERNAL", message: "duplicate key value" });
  });

  it("leaves a saga whose compensation fails for good to an operator, saying why", async () => {
    const w = world(newSaga("c", definition(3)), (run) => {
      if (run.index === 2 && run.phase === "action") throw fail("BAD_REQUEST");
      if (run.index === 1 && run.phase === "compensation") throw fail("NOT_FOUND");
      return ok(run);
    });
    await w.start();
    expect(w.value).toBe("needs_operator");
    expect(w.saga.state).toBe("needs_operator");
    expect(w.saved.at(-1)?.state).toBe("needs_operator");
    expect(w.runs).toEqual(["c.0.action", "c.1.action", "c.2.action", "c.1.compensation"]);
    expect(w.saga.steps.map((s) => s.status)).toEqual(["done", "compensation_failed", "failed"]);
    expect(w.saga.error?.message).toMatch(/compensation of step 1 \(s1\) failed .*NOT_FOUND here/);
  });

  it("retries a failing compensation, then leaves it to an operator", async () => {
    const w = world(
      newSaga("d", definition(2)),
      (run) => {
        if (run.index === 1 && run.phase === "action") throw fail("BAD_REQUEST");
        if (run.phase === "compensation") throw fail("UNAVAILABLE");
        return ok(run);
      },
      { maxAttempts: 2 },
    );
    await w.start();
    expect(w.value).toEqual({ compensating: "retrying" });
    await w.advance(100);
    expect(w.value).toBe("needs_operator");
    expect(w.runs).toEqual(["d.0.action", "d.1.action", "d.0.compensation", "d.0.compensation"]);
    expect(w.saga.steps[0]?.compensationAttempts).toBe(2);
  });

  it("passes over completed steps that have no compensation", async () => {
    const w = world(newSaga("n", definition(3, [1])), (run) => {
      if (run.index === 2 && run.phase === "action") throw fail("BAD_REQUEST");
      return ok(run);
    });
    await w.start();
    expect(w.value).toBe("compensated");
    expect(w.runs).toEqual(["n.0.action", "n.1.action", "n.2.action", "n.0.compensation"]);
    expect(w.saga.steps.map((s) => s.status)).toEqual(["compensated", "not_compensated", "failed"]);
  });

  it("resumes from a record: the step under way runs again with the same key", async () => {
    const saga = newSaga("m", definition(3));
    saga.cursor = 1;
    saga.steps[0] = { ...saga.steps[0], status: "done", attempts: 1 } as SagaData["steps"][0];
    saga.steps[1] = { ...saga.steps[1], status: "running", attempts: 1 } as SagaData["steps"][0];
    const w = world(saga, ok);
    await w.start();
    expect(w.value).toBe("completed");
    expect(w.runs).toEqual(["m.1.action", "m.2.action"]);
  });

  it("resumes a saga that was compensating where it was", async () => {
    const saga = newSaga("p", definition(3));
    saga.state = "compensating";
    saga.cursor = 0;
    saga.steps = saga.steps.map((s, i) => ({
      ...s,
      status: i === 0 ? "compensating" : i === 1 ? "compensated" : "failed",
      attempts: 1,
    }));
    const w = world(saga, ok);
    await w.start();
    expect(w.value).toBe("compensated");
    expect(w.runs).toEqual(["p.0.compensation"]);
  });

  it("stops acting once a save fails: the saga is another worker's now", async () => {
    const w = world(newSaga("l", definition(3)), ok, { persistFailsAt: 1 });
    await w.start();
    expect(w.value).toBe("lost");
    expect(w.runs).toEqual(["l.0.action"]);
  });
});

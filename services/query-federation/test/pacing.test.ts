/**
 * The executor's work over many points keeps time: merging a large answer yields to the event
 * loop in slices, so another query is answered meanwhile, and it ends when the caller's
 * request does. Instances are in-memory stand-ins that answer without work, so every
 * millisecond of the heavy query is the worker's own CPU work, and the small query needs a
 * turn of the event loop to be answered.
 */
import { EntenteError } from "@entente/protocol";
import { DEFAULT_PACE, Pacer } from "@entente/runtime/pace";
import { describe, expect, it } from "vitest";
import {
  type Aggregation,
  Federator,
  type MetricInstance,
  normalizeQuery,
  type Point,
  partialsFromPoints,
} from "../src/index.ts";
import { BASE, SECOND } from "./generate.ts";

const PER_INSTANCE = 300_000;

function pointsOf(instance: string, count: number): Point[] {
  const series = Array.from({ length: 50 }, (_, s) => ({ host: `${instance}-${s}` }));
  return Array.from({ length: count }, (_, i) => ({
    metric: "m",
    tags: series[i % series.length] as Record<string, string>,
    timestamp: BASE + BigInt(i) * SECOND,
    value: i % 100,
  }));
}

/** The aggregation of the heavy query: a window per point. */
const PER_SECOND: Aggregation = { fn: "avg", windowNs: SECOND, by: ["host"] };

/**
 * An instance whose points and partials are in memory: it answers without any work, at once
 * or, like one across a network, after a turn of the event loop.
 */
function memoryInstance(name: string, count: number, afterATurn = false): MetricInstance {
  const points = pointsOf(name, count);
  const partials = partialsFromPoints(points, PER_SECOND);
  const answer = <T>(value: T): Promise<T> =>
    afterATurn
      ? new Promise((resolve) => setImmediate(() => resolve(value)))
      : Promise.resolve(value);
  return {
    name,
    kind: "duckdb",
    fetchRaw: () => answer({ points }),
    fetchPartials: () => answer({ partials }),
    close: async () => {},
  };
}

const range = { start: String(BASE), end: String(BASE + 2n * BigInt(PER_INSTANCE) * SECOND) };

/** One federator for every test: building the instances' points is most of the work. */
let shared: Federator | undefined;
function federator(): Federator {
  shared ??= new Federator({
    instances: [
      memoryInstance("a", PER_INSTANCE),
      memoryInstance("b", PER_INSTANCE),
      memoryInstance("small", 1, true),
    ],
  });
  return shared;
}

describe("the executor's loops", () => {
  for (const [what, heavyQuery] of [
    ["raw points", { metric: "m", ...range, tags: { __instance__: ["a", "b"] } }],
    [
      "an aggregation with many windows",
      {
        metric: "m",
        ...range,
        tags: { __instance__: ["a", "b"] },
        aggregation: { function: PER_SECOND.fn, window: "1s", by: PER_SECOND.by },
      },
    ],
  ] as const) {
    it(`answer another query while merging ${what}`, async () => {
      const f = federator();
      const settled: string[] = [];
      const heavy = f.query(normalizeQuery(heavyQuery)).then((answer) => {
        settled.push("heavy");
        return answer;
      });
      const small = f
        .query(normalizeQuery({ metric: "m", ...range, tags: { __instance__: "small" } }))
        .then((answer) => {
          settled.push("small");
          return answer;
        });
      expect((await small).points).toHaveLength(1);
      expect((await heavy).points).toHaveLength(2 * PER_INSTANCE);
      expect(settled).toEqual(["small", "heavy"]);
    }, 60_000);

    it(`end merging ${what} when the caller's request ends`, async () => {
      const f = federator();
      const caller = new AbortController();
      const deadline = new EntenteError("DEADLINE_EXCEEDED", "entente.query: deadline exceeded");
      setTimeout(() => caller.abort(deadline), 20);
      const outcome = await f.query(normalizeQuery(heavyQuery), { signal: caller.signal }).then(
        () => "answered",
        (err: unknown) => err,
      );
      expect(outcome).toBeInstanceOf(EntenteError);
      expect((outcome as EntenteError).code).toBe("DEADLINE_EXCEEDED");
    }, 60_000);
  }
});

describe("Pacer", () => {
  it("reads the clock every stride, asks for a pause once a slice is used up", () => {
    let now = 0;
    const pacer = new Pacer(
      new AbortController().signal,
      undefined,
      { sliceMs: 10, stride: 3 },
      () => now,
    );
    expect([pacer.due(), pacer.due(), pacer.due()]).toEqual([false, false, false]);
    now = 10;
    expect([pacer.due(), pacer.due(), pacer.due()]).toEqual([false, false, true]);
  });

  it("ends the work past its deadline or once aborted, with the abort's reason", async () => {
    let now = 0;
    const late = new Pacer(new AbortController().signal, 5, DEFAULT_PACE, () => now);
    late.check();
    now = 5;
    expect(() => late.check()).toThrow(/ran out of time/);
    await expect(late.pause()).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });

    const controller = new AbortController();
    const aborted = new Pacer(controller.signal);
    controller.abort(new EntenteError("CANCELLED", "the caller went away"));
    await expect(aborted.pause()).rejects.toMatchObject({ message: "the caller went away" });
  });
});

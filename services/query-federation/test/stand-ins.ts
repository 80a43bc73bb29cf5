/**
 * Stand-ins for everything the query's machines ask of the outside world — admission through
 * an instance's circuit, the fetch, taking an answer in, recording a failure, planning, merging
 * replicas and the answer — driven by hand on a simulated clock. No database, no NATS, no real
 * time: a test decides when each fetch answers or fails, and moves the clock.
 */
import { EntenteError } from "@entente/protocol";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import type { CircuitState } from "../src/breaker.ts";
import {
  type Admission,
  type CallInput,
  callMachine,
  type FetchInput,
  type InstanceAnswer,
  type ReceiveInput,
  type Settlement,
  type Verdict,
} from "../src/call-machine.ts";
import {
  type Merged,
  type MergeInput,
  type Plan,
  type QueryInput,
  queryMachine,
} from "../src/executor.ts";
import type { TargetResult } from "../src/outcome.ts";
import type { Point } from "../src/points.ts";
import { replicaGroupMachine } from "../src/replica-group-machine.ts";
import type { Target } from "../src/router.ts";

export function point(value: number, instance = ""): Point {
  return { metric: "m", tags: instance ? { host: instance } : {}, timestamp: BigInt(value), value };
}

export const instance = (name: string): Target => ({ kind: "instance", name });

/** A fetch under way: the test answers it, fails it, or leaves it to be stopped. */
export interface Fetch {
  input: FetchInput;
  signal: AbortSignal;
  answer(points: Point[]): void;
  fail(error: EntenteError): void;
}

/** Lets the promise stand-ins settle and the actors take what they sent (no timer runs). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class World {
  readonly clock = new SimulatedClock();
  readonly fetches: Fetch[] = [];
  readonly settlements: Array<Settlement & { instance: string }> = [];
  readonly recorded: Array<{ instance: string; error: EntenteError }> = [];
  readonly merges: MergeInput[] = [];
  readonly remembered: Merged[] = [];
  /** Instances whose circuit refuses calls, with the failures that opened it. */
  readonly open = new Map<string, number>();
  /** Instances whose circuit a failure opens. */
  readonly opensOnFailure = new Set<string>();
  /** Each attempt's time, as admission hands it out. */
  attemptMs = 1_000;
  /** The query's deadline on the simulated clock, for the verdicts' time left. */
  deadlineAt = 10_000;
  plan: Plan = { targets: [] };
  planError: EntenteError | undefined;
  private readonly leases = new Map<number, string>();
  private nextLease = 1;

  readonly call = callMachine.provide({
    actors: {
      admit: fromPromise<Admission, { instance: string }>(async ({ input }) => {
        const failures = this.open.get(input.instance);
        if (failures !== undefined) return { allowed: false, failures };
        const lease = this.nextLease++;
        this.leases.set(lease, input.instance);
        return { allowed: true, lease, timeoutMs: this.attemptMs };
      }),
      fetch: fromPromise<InstanceAnswer, FetchInput>(
        ({ input, signal }) =>
          new Promise((resolve, reject) => {
            this.fetches.push({
              input,
              signal,
              answer: (points) => resolve({ points }),
              fail: reject,
            });
          }),
      ),
      receive: fromPromise<TargetResult, ReceiveInput>(async ({ input }) => ({
        points: input.answer.points,
      })),
      recordFailure: fromPromise<Verdict, { lease: number; error: EntenteError }>(
        async ({ input }) => {
          const name = this.leases.get(input.lease) ?? "?";
          this.recorded.push({ instance: name, error: input.error });
          const circuit: CircuitState = this.opensOnFailure.has(name) ? "open" : "closed";
          return { circuit, remainingMs: this.deadlineAt - this.clock.now() };
        },
      ),
    },
    actions: {
      settle: (_, settlement: Settlement) =>
        this.settlements.push({
          ...settlement,
          instance: this.leases.get(settlement.lease) ?? "?",
        }),
    },
  });

  readonly group = replicaGroupMachine.provide({
    actors: {
      call: this.call,
      // Replicas merged by concatenation: enough to see which answered, in which order.
      combine: fromPromise<TargetResult, { answers: TargetResult[] }>(async ({ input }) => ({
        points: input.answers.flatMap((answer) => answer.points ?? []),
      })),
    },
  });

  readonly query = queryMachine.provide({
    actors: {
      plan: fromPromise<Plan>(async () => {
        if (this.planError) throw this.planError;
        return this.plan;
      }),
      call: this.call,
      group: this.group,
      merge: fromPromise<Merged, MergeInput>(async ({ input }) => {
        this.merges.push(input);
        return { points: input.results.flatMap(({ result }) => result.points ?? []) };
      }),
    },
    actions: { remember: (_, merged: Merged) => this.remembered.push(merged) },
  });

  /** The fetches of `name`, in the order they were made. */
  fetchesOf(name: string): Fetch[] {
    return this.fetches.filter((f) => f.input.instance === name);
  }

  startCall(input: Partial<CallInput> & { instance: string }) {
    return createActor(this.call, {
      clock: this.clock,
      input: {
        index: 0,
        samples: false,
        retry: { attempts: 3, backoffMs: 100, maxBackoffMs: 1_000 },
        ...input,
      },
    }).start();
  }

  startQuery(targets: Target[], input: Partial<QueryInput> = {}) {
    this.plan = { targets };
    return createActor(this.query, {
      clock: this.clock,
      input: {
        parallelism: 16,
        deadlineMs: this.deadlineAt,
        policy: "allow",
        retry: { attempts: 2, backoffMs: 50, maxBackoffMs: 1_000 },
        ...input,
      },
    }).start();
  }

  /** Moves the simulated clock, then lets what the timers started settle. */
  async advance(ms: number): Promise<void> {
    this.clock.increment(ms);
    await settle();
  }
}

export const unavailable = (message = "connect ECONNREFUSED 127.0.0.1:1") =>
  new EntenteError("UNAVAILABLE", message);

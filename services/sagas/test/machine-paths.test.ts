/**
 * The saga machine's reachable states, enumerated with @xstate/graph for a saga of three steps
 * (the middle one without a compensation) and two attempts per execution. As in the link
 * machine's path tests, the traversal runs no actor and sets no timer, so the events that end a
 * state by themselves are offered explicitly while the state that would receive them is active:
 * each invoked actor's done and error (a step failing in a way a retry may help, and in a way
 * it cannot), and each delay's expiry.
 */
import { EntenteError } from "@entente/protocol";
import { getAdjacencyMap, getStateNodes, type SerializedSnapshot } from "@xstate/graph";
import { describe, expect, it } from "vitest";
import { type AnyEventObject, fromPromise, type SnapshotFrom } from "xstate";
import { type SagaMachineInput, sagaMachine } from "../src/machine.ts";
import { newSaga } from "../src/records.ts";

const effect = { kind: "request" as const, subject: "test.x" };
const saga = newSaga("g", {
  steps: [
    { name: "a", action: effect, compensation: effect },
    { name: "b", action: effect },
    { name: "c", action: effect, compensation: effect },
  ],
});
const INPUT: SagaMachineInput = {
  saga,
  policy: { maxAttempts: 2, backoffMs: 10, maxBackoffMs: 100 },
  now: () => 0,
};

const machine = sagaMachine.provide({
  actors: {
    persist: fromPromise(async () => {}),
    runStep: fromPromise(async () => ({ ok: true }) as unknown),
  },
});

type Snapshot = SnapshotFrom<typeof machine>;
const isIn = (s: Snapshot, path: string) => s.matches(path as never);

const stateNodes = getStateNodes(machine.root).map((node) => ({
  node,
  path: node.path.join("."),
  internal: [
    ...node.invoke.flatMap((def): AnyEventObject[] => [
      { type: `xstate.done.actor.${def.id}`, output: { ok: true } },
      ...(def.src === "runStep"
        ? [
            { type: `xstate.error.actor.${def.id}`, error: new EntenteError("UNAVAILABLE", "x") },
            { type: `xstate.error.actor.${def.id}`, error: new EntenteError("BAD_REQUEST", "y") },
          ]
        : [{ type: `xstate.error.actor.${def.id}`, error: new Error("wrong last sequence") }]),
    ]),
    ...node.after.map((t): AnyEventObject => ({ type: t.eventType })),
  ],
}));

function eventsAt(s: Snapshot): AnyEventObject[] {
  if (s.status !== "active") return [];
  return stateNodes.filter(({ path }) => path !== "" && isIn(s, path)).flatMap((n) => n.internal);
}

/** A state as far as behaviour goes: where it is, and where each step is. */
function serializeState(s: Snapshot): string {
  const { saga: data } = s.context;
  return JSON.stringify({
    status: s.status,
    value: s.value,
    cursor: data.cursor,
    state: data.state,
    steps: data.steps.map((step) => [step.status, step.attempts, step.compensationAttempts]),
  });
}

const adjacency = getAdjacencyMap(machine, {
  input: INPUT,
  events: eventsAt as never,
  serializeState: serializeState as never,
});
type Entry = (typeof adjacency)[SerializedSnapshot];
const states = Object.values(adjacency).map((entry) => entry.state as Snapshot);
const edgesFrom = (entry: Entry) =>
  Object.values(entry.transitions) as Array<{ event: AnyEventObject; state: Snapshot }>;

/** The leaf state names of a snapshot's value: `forward.acting`, `completed`, … */
const leaf = (s: Snapshot) =>
  typeof s.value === "string"
    ? s.value
    : Object.entries(s.value)
        .map(([k, v]) => `${k}.${String(v)}`)
        .join();

describe("the saga machine's reachable states", () => {
  it("reaches every state it names, and never errors", () => {
    expect([...new Set(states.map(leaf))].sort()).toEqual(
      [
        "forward.saving",
        "forward.acting",
        "forward.retrying",
        "compensating.saving",
        "compensating.acting",
        "compensating.retrying",
        "finishing",
        "closing",
        "escalating",
        "completed",
        "compensated",
        "needs_operator",
        "lost",
      ].sort(),
    );
    expect(states.filter((s) => s.status === "error").map(serializeState)).toEqual([]);
    expect(states.length).toBeGreaterThan(40);
  });

  it("can end from every reachable state", () => {
    const canEnd = new Set(
      Object.entries(adjacency)
        .filter(([, entry]) => entry.state.status === "done")
        .map(([key]) => key),
    );
    for (let grew = true; grew; ) {
      grew = false;
      for (const [key, entry] of Object.entries(adjacency)) {
        if (canEnd.has(key)) continue;
        if (edgesFrom(entry).some((t) => canEnd.has(serializeState(t.state)))) {
          canEnd.add(key);
          grew = true;
        }
      }
    }
    expect(Object.keys(adjacency).filter((key) => !canEnd.has(key))).toEqual([]);
  });

  it("never runs an execution more often than the attempts allow", () => {
    for (const s of states) {
      for (const step of s.context.saga.steps) {
        expect(step.attempts).toBeLessThanOrEqual(2);
        expect(step.compensationAttempts).toBeLessThanOrEqual(2);
      }
    }
  });

  it("ends compensated only with every step before the failed one undone, none after it run", () => {
    for (const s of states.filter((s) => s.value === "compensated")) {
      const statuses = s.context.saga.steps.map((step) => step.status);
      const failed = statuses.indexOf("failed");
      expect(failed, JSON.stringify(statuses)).toBeGreaterThanOrEqual(0);
      statuses.forEach((status, i) => {
        const expected =
          i > failed
            ? "pending"
            : i === failed
              ? "failed"
              : i === 1
                ? "not_compensated"
                : "compensated";
        expect(status, JSON.stringify(statuses)).toBe(expected);
      });
    }
  });

  it("ends completed only with every step done, and needing an operator only after a failure", () => {
    for (const s of states.filter((s) => s.value === "completed")) {
      expect(s.context.saga.steps.every((step) => step.status === "done")).toBe(true);
    }
    for (const s of states.filter((s) => s.value === "needs_operator")) {
      const statuses = s.context.saga.steps.map((step) => step.status);
      expect(statuses).toContain("failed");
      expect(statuses.filter((x) => x === "compensation_failed")).toHaveLength(1);
      expect(s.context.saga.error?.message).toMatch(/^compensation of step \d/);
    }
  });

  it("takes every transition on an event the machine defines: each done, error and delay", () => {
    const taken = new Set(
      Object.values(adjacency).flatMap((entry) =>
        edgesFrom(entry).flatMap((t) =>
          machine.getTransitionData(entry.state as Snapshot, t.event as never),
        ),
      ),
    );
    const untaken = stateNodes.flatMap(({ node }) =>
      [...node.transitions.values()]
        .flat()
        .filter((definition) => !taken.has(definition))
        .map((d) => `${node.id} --${d.eventType}--> ${d.target?.map((t) => t.id).join(",")}`),
    );
    expect(untaken).toEqual([]);
  });
});

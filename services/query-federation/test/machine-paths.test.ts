/**
 * Every path through the query's machines, enumerated with @xstate/graph: each machine reaches
 * exactly its expected final states, every state it can rest in lies on some path, and every
 * transition it defines is taken.
 *
 * @xstate/graph (v3) walks a machine through its pure `transition()` with a mock actor scope
 * that runs no action: invoked and spawned actors are created but never started, and the
 * timers of `after` transitions are never armed. So the events that end a state on its own —
 * an invoked actor's done or error, a child's done, a delay — are offered here as explicit
 * events, each only while the state that invoked the actor, spawned the child or armed the
 * timer is active (when XState could deliver it), and with each kind of output the machine
 * branches on. A delay is one event whatever its length; machines.test.ts covers the lengths.
 */
import { EntenteError } from "@entente/protocol";
import {
  adjacencyMapToArray,
  getAdjacencyMap,
  getShortestPaths,
  getStateNodes,
  type TraversalOptions,
} from "@xstate/graph";
import { describe, expect, it } from "vitest";
import type { AnyEventObject, AnyMachineSnapshot, AnyStateMachine, SnapshotFrom } from "xstate";
import { callMachine } from "../src/call-machine.ts";
import { queryMachine } from "../src/executor.ts";
import { replicaGroupMachine } from "../src/replica-group-machine.ts";
import type { Target } from "../src/router.ts";

const unavailable = new EntenteError("UNAVAILABLE", "down");
const badResponse = new EntenteError("BAD_RESPONSE", "not a point");
const tooLarge = new EntenteError("TOO_LARGE", "too many points");
const retry = { attempts: 2, backoffMs: 50, maxBackoffMs: 1_000 };

/**
 * The events that end the active states on their own: for each invoked actor, a done event
 * with each output in `outputs[src]` and an error with each of `errors[src]`; each delay.
 */
function ownEvents(
  machine: AnyStateMachine,
  outputs: Record<string, unknown[]>,
  errors: Record<string, unknown[]> = {},
) {
  const nodes = getStateNodes(machine.root).map((node) => ({
    path: node.path.join("."),
    events: [
      ...node.invoke.flatMap((def): AnyEventObject[] => {
        const src = String(def.src);
        return [
          ...(outputs[src] ?? []).map((output) => ({
            type: `xstate.done.actor.${def.id}`,
            actorId: def.id,
            output,
          })),
          ...(errors[src] ?? []).map((error) => ({
            type: `xstate.error.actor.${def.id}`,
            actorId: def.id,
            error,
          })),
        ];
      }),
      // One event per delay, however many guarded transitions it has.
      ...[...new Set(node.after.map((t) => t.eventType))].map((type): AnyEventObject => ({ type })),
    ],
  }));
  return (snapshot: AnyMachineSnapshot) =>
    snapshot.status === "active"
      ? nodes.filter((n) => snapshot.matches(n.path)).flatMap((n) => n.events)
      : [];
}

/** The states a machine can rest in: all but those it only passes through (`always` alone). */
function restingStates(machine: AnyStateMachine): string[] {
  return getStateNodes(machine.root)
    .filter(
      (node) =>
        node.type !== "compound" &&
        !(node.always && node.invoke.length === 0 && node.transitions.size === 0),
    )
    .map((node) => node.path.join("."));
}

type Traversal = TraversalOptions<AnyMachineSnapshot, AnyEventObject, unknown>;

/** What the paths reach: every state visited on the way, and the final states they end in. */
function explore(machine: AnyStateMachine, options: Traversal) {
  const paths = getShortestPaths(machine, options);
  const snapshots = paths.flatMap((path) => path.steps.map((step) => step.state));
  const visited = (path: string) => snapshots.some((s) => s.matches(path));
  const finals = new Set(
    snapshots.filter((s) => s.status === "done").map((s) => JSON.stringify(s.value)),
  );
  const edges = adjacencyMapToArray(getAdjacencyMap(machine, options)).map((edge) => ({
    from: edge.state,
    event: edge.event,
    to: edge.nextState,
  }));
  return { paths, visited, finals: [...finals].map((v) => JSON.parse(v)).sort(), edges };
}

type Edge = ReturnType<typeof explore>["edges"][number];

/**
 * The transitions with a target that no edge of the graph takes, each named by its source
 * state, event and target. An event descriptor may end in a wildcard (a child's done event).
 * An eventless (`always`) transition counts as taken when its target is reached at all: the
 * machine passes through its source in the same step (the first snapshot is already past it).
 */
function untaken(machine: AnyStateMachine, edges: Edge[]): string[] {
  const active = (s: Edge["from"], path: string) => path === "" || s.matches(path);
  const matches = (descriptor: string, type: string) =>
    descriptor.endsWith(".*") ? type.startsWith(descriptor.slice(0, -1)) : descriptor === type;
  const missing: string[] = [];
  for (const node of [machine.root, ...getStateNodes(machine.root)]) {
    const source = node.path.join(".");
    const definitions = [
      ...[...node.transitions].flatMap(([event, ts]) => ts.map((t) => ({ event, t }))),
      ...(node.always ?? []).map((t) => ({ event: undefined, t })),
    ];
    for (const { event, t } of definitions) {
      for (const target of t.target ?? []) {
        const to = target.path.join(".");
        const taken = edges.some((edge) =>
          event === undefined
            ? active(edge.from, to) || active(edge.to, to)
            : matches(event, edge.event.type) && active(edge.from, source) && active(edge.to, to),
        );
        if (!taken) missing.push(`${source || "(root)"} --${event ?? "always"}--> ${to}`);
      }
    }
  }
  return missing;
}

describe("the call machine's paths", () => {
  const offer = ownEvents(
    callMachine,
    {
      admit: [
        { allowed: true, lease: 1, timeoutMs: 100 },
        { allowed: false, failures: 5 },
      ],
      fetch: [{ points: [] }, { partials: [] }],
      receive: [{ points: [] }],
      recordFailure: [
        { circuit: "closed", remainingMs: 10_000 },
        { circuit: "open", remainingMs: 10_000 },
        { circuit: "closed", remainingMs: 0 },
      ],
    },
    {
      admit: [new Error("admission failed")],
      fetch: [unavailable, badResponse, tooLarge],
      receive: [tooLarge],
      recordFailure: [new Error("recording failed")],
    },
  );
  const explored = explore(callMachine, {
    input: { instance: "a", index: 0, samples: false, retry },
    events: offer,
    // The machine branches on its state, the attempt and whether the failure is retryable.
    serializeState: (s) =>
      JSON.stringify([s.status, s.value, s.context.attempt, s.context.error?.retryable]),
  });

  it("reaches exactly its final states: answered, refused, failed", () => {
    expect(explored.finals).toEqual(["answered", "failed", "refused"]);
  });

  it("visits every state it can rest in", () => {
    for (const state of restingStates(callMachine))
      expect(explored.visited(state), state).toBe(true);
  });

  it("takes every transition it defines", () => {
    expect(untaken(callMachine, explored.edges)).toEqual([]);
  });

  it("answers after a retry, and never makes more attempts than allowed", () => {
    const attempts = explored.paths.map((path) => path.state.context.attempt);
    expect(Math.max(...attempts)).toBe(retry.attempts);
    expect(
      explored.paths.some(
        (path) => path.state.value === "answered" && path.state.context.attempt === 2,
      ),
    ).toBe(true);
  });
});

describe("the replica group machine's paths", () => {
  const outcomes = (index: number) => [
    { index, ok: true, result: { points: [] } },
    { index, ok: false, error: unavailable },
    { index, ok: false, error: tooLarge },
  ];
  const own = ownEvents(
    replicaGroupMachine,
    { combine: [{ points: [] }] },
    { combine: [tooLarge] },
  );
  type Snapshot = SnapshotFrom<typeof replicaGroupMachine>;
  /** The calls' done events: the one invoked call's, or each gathered replica's not yet in. */
  const events = (s: Snapshot): AnyEventObject[] => {
    if (s.status !== "active") return [];
    const calls: AnyEventObject[] = [];
    if (s.matches("failingOver")) {
      for (const output of outcomes(s.context.next)) {
        calls.push({ type: "xstate.done.actor.call", actorId: "call", output });
      }
    }
    if (s.matches("gathering")) {
      const failed = new Set(s.context.failures.map((f) => f.instance));
      s.context.group.instances.forEach((name, index) => {
        if (s.context.answers[index] || failed.has(name)) return;
        for (const output of outcomes(index)) {
          const id = `replica-${index}`;
          calls.push({ type: `xstate.done.actor.${id}`, actorId: id, output });
        }
      });
    }
    return [...calls, ...own(s)];
  };
  const serializeState = (s: Snapshot) =>
    JSON.stringify([
      s.status,
      s.value,
      s.context.next,
      s.context.answers.map(Boolean),
      s.context.failures.length,
    ]);
  const explored = (["one", "merge"] as const).map((read) =>
    explore(replicaGroupMachine, {
      input: {
        group: { kind: "replicas", name: "g", instances: ["r1", "r2"], read },
        index: 0,
        retry,
      },
      events,
      serializeState,
    }),
  );

  it("reaches exactly its final states, answered and failed, read either way", () => {
    for (const { finals } of explored) expect(finals).toEqual(["answered", "failed"]);
  });

  it("visits every state it can rest in over both ways of reading", () => {
    for (const state of restingStates(replicaGroupMachine)) {
      expect(
        explored.some(({ visited }) => visited(state)),
        state,
      ).toBe(true);
    }
  });

  it("takes every transition it defines over both ways of reading", () => {
    const missing = explored.map(({ edges }) => new Set(untaken(replicaGroupMachine, edges)));
    const everywhere = [...(missing[0] ?? [])].filter((m) => missing.every((set) => set.has(m)));
    expect(everywhere).toEqual([]);
  });

  it("fails over from the first replica to the second, and no further", () => {
    const failover = explored[0]?.paths.map((p) => p.state.context.next) ?? [];
    expect(failover).toContain(1);
    expect(Math.max(...failover)).toBe(1);
  });
});

describe("the query machine's paths", () => {
  const targets: Target[] = [
    { kind: "instance", name: "a" },
    { kind: "replicas", name: "g", instances: ["r1", "r2"], read: "one" },
  ];
  const own = ownEvents(
    queryMachine,
    {
      plan: [{ targets }, { targets, cached: [] }],
      merge: [{ points: [] }],
    },
    {
      plan: [new EntenteError("NOT_FOUND", "unknown instance")],
      merge: [tooLarge],
    },
  );
  type Snapshot = SnapshotFrom<typeof queryMachine>;
  /** The caller's cancel at any time; each running target's end, as an answer or a failure. */
  const events = (s: Snapshot): AnyEventObject[] => {
    if (s.status !== "active") return [];
    const ends: AnyEventObject[] = [];
    s.context.progress.forEach((progress, index) => {
      if (progress !== "running") return;
      const id = `target-${index}`;
      for (const output of [
        { index, ok: true, result: { points: [] } },
        { index, ok: false, error: unavailable },
        { index, ok: false, error: tooLarge },
      ]) {
        ends.push({ type: `xstate.done.actor.${id}`, actorId: id, output });
      }
    });
    return [
      { type: "cancel", reason: new EntenteError("CANCELLED", "client went away") },
      ...ends,
      ...own(s),
    ];
  };
  const serializeState = (s: Snapshot) =>
    JSON.stringify([
      s.status,
      s.value,
      s.context.progress,
      s.context.results.length,
      s.context.failures.length,
    ]);
  const explorations = (["allow", "deny"] as const).map((policy) =>
    explore(queryMachine, {
      // One target at a time, so that a target also waits for its turn.
      input: { parallelism: 1, deadlineMs: 1_000, policy, retry },
      events,
      serializeState,
    }),
  );

  it("reaches exactly its final states: answered, failed, cancelled", () => {
    for (const { finals } of explorations) {
      expect(finals).toEqual(["answered", "cancelled", "failed"]);
    }
  });

  it("visits every state it can rest in", () => {
    for (const state of restingStates(queryMachine)) {
      expect(
        explorations.every(({ visited }) => visited(state)),
        state,
      ).toBe(true);
    }
  });

  it("takes every transition it defines", () => {
    const missing = explorations.map(({ edges }) => new Set(untaken(queryMachine, edges)));
    const everywhere = [...(missing[0] ?? [])].filter((m) => missing.every((set) => set.has(m)));
    expect(everywhere).toEqual([]);
  });

  it("merges after the deadline with the stragglers timed out", () => {
    const [allow] = explorations;
    const late = allow?.paths.filter(
      (path) => path.state.value === "merging" && path.state.context.progress.includes("late"),
    );
    expect(late?.length).toBeGreaterThan(0);
  });

  it("under partial: deny never merges an answer with a failure in it", () => {
    const deny = explorations[1];
    const merged = deny?.paths.filter(
      (path) => path.state.value === "merging" || path.state.value === "answered",
    );
    for (const path of merged ?? []) {
      if (path.state.context.cached) continue;
      expect(path.state.context.failures).toEqual([]);
    }
  });
});

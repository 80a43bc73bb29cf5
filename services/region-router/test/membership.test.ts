/**
 * The membership machine on a simulated clock, with the announce and leave replaced by
 * stand-ins the test settles by hand; then its reachable paths, enumerated with @xstate/graph.
 */
import {
  type AnnounceAccepted,
  EntenteError,
  type RegionAnnounce,
  type RegionLeave,
  regionRefusal,
} from "@entente/protocol";
import { getAdjacencyMap, getShortestPaths, getStateNodes } from "@xstate/graph";
import { describe, expect, it } from "vitest";
import { type AnyEventObject, createActor, fromPromise, SimulatedClock } from "xstate";
import {
  DEFAULT_MEMBERSHIP,
  isServing,
  type MembershipEvent,
  type MembershipInput,
  type MembershipSnapshot,
  membershipMachine,
  phaseOf,
  type RegionSelf,
  retryDelay,
} from "../src/model/membership.ts";
import { applyAnnounce, createRegistry, markDead, type Registry } from "../src/model/registry.ts";

const T0 = 1_700_000_000_000;
const ROOT_SELF: RegionSelf = { id: 1, name: "root", url: "nats://root:4222" };
const SELF: RegionSelf = { id: 7, name: "eu-west", url: "nats://eu-west:4222", parent: 1 };

/** The root's registry holding the root, and this region when `withSelf`. */
function registryOf(withSelf: boolean, revisionAtLeast = 0): Registry {
  let r = createRegistry(ROOT_SELF, T0);
  if (withSelf) {
    const verdict = applyAnnounce(r, { ...SELF, parent: 1, seq: 1 }, T0);
    if (!verdict.accepted) throw new Error("the test registry refused its region");
    r = verdict.registry;
  }
  return { ...r, revision: Math.max(r.revision, revisionAtLeast) };
}

interface Pending<T> {
  input: T;
  at: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** A running membership with hand-settled announces and leaves on a simulated clock. */
function start(input: Partial<MembershipInput> = {}) {
  const clock = new SimulatedClock();
  const announces: Pending<RegionAnnounce>[] = [];
  const leaves: Pending<RegionLeave>[] = [];
  const byHand = <TOut, TIn>(into: Pending<TIn>[]) =>
    fromPromise<TOut, TIn>(
      ({ input: given }) =>
        new Promise<TOut>((resolve, reject) => {
          into.push({
            input: given,
            at: clock.now(),
            resolve: resolve as (v: unknown) => void,
            reject,
          });
        }),
    );
  const actor = createActor(
    membershipMachine.provide({
      actors: {
        announce: byHand<AnnounceAccepted, RegionAnnounce>(announces),
        leave: byHand<void, RegionLeave>(leaves),
      },
    }),
    { clock, input: { self: SELF, isRoot: false, ...input } },
  );
  const phases: string[] = [];
  actor.subscribe((s) => {
    const phase = phaseOf(s);
    if (phases.at(-1) !== phase) phases.push(phase);
  });
  actor.start();
  const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  const last = <T>(list: Pending<T>[]) => {
    const pending = list.at(-1);
    if (pending === undefined) throw new Error("nothing pending");
    return pending;
  };
  return {
    actor,
    clock,
    announces,
    leaves,
    phases,
    phase: () => phaseOf(actor.getSnapshot()),
    async accept(revision = 2) {
      last(announces).resolve({ accepted: true, revision });
      await settle();
    },
    async fail(error: unknown = new EntenteError("NO_RESPONDERS", "no responders")) {
      last(announces).reject(error);
      await settle();
    },
    registry(registry: Registry) {
      actor.send({ type: "REGISTRY", registry });
    },
    async advance(ms: number) {
      clock.increment(ms);
      await settle();
    },
  };
}

describe("the backoff", () => {
  it("doubles from retryMs up to maxRetryMs", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelay(DEFAULT_MEMBERSHIP, n))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(retryDelay({ retryMs: 250, maxRetryMs: 1_000 }, 3)).toBe(1_000);
  });
});

describe("announcing", () => {
  it("announces at once, with a new seq each time, and retries failures with a doubling wait", async () => {
    const m = start();
    for (let i = 0; i < 7; i++) {
      await m.fail();
      expect(m.phase()).toBe("backingOff");
      const wait = retryDelay(DEFAULT_MEMBERSHIP, i + 1);
      await m.advance(wait - 1);
      expect(m.announces).toHaveLength(i + 1); // not a millisecond early
      await m.advance(1);
      expect(m.announces).toHaveLength(i + 2);
    }
    expect(m.announces.map((a) => a.at)).toEqual([
      0, 1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000,
    ]);
    expect(m.announces.map((a) => a.input.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(m.announces[0]!.input).toEqual({
      id: 7,
      name: "eu-west",
      url: "nats://eu-west:4222",
      parent: 1,
      seq: 1,
    });
    expect(m.actor.getSnapshot().context.reason).toBe("no responders");
    // Accepted: the count starts over, so the next failure waits retryMs again.
    await m.accept();
    expect(m.actor.getSnapshot().context.failures).toBe(0);
  });

  it("counts an announce without an answer as failed", async () => {
    const m = start({ announceTimeoutMs: 2_000 });
    await m.advance(1_999);
    expect(m.phase()).toBe("announcing");
    await m.advance(1);
    expect(m.phase()).toBe("backingOff");
    expect(m.actor.getSnapshot().context.reason).toBe("no answer to the announce in 2000 ms");
    await m.advance(1_000);
    expect(m.announces.map((a) => a.at)).toEqual([0, 3_000]);
    // A late answer to the abandoned announce changes nothing.
    m.announces[0]!.resolve({ accepted: true, revision: 2 });
    await m.advance(0);
    expect(m.phase()).toBe("announcing");
  });

  it("waits maxRetryMs after a final refusal, and retries sooner when the parent is unknown", async () => {
    const m = start();
    await m.fail(
      regionRefusal("announce", [{ field: "id", message: "region 7 is already registered" }]),
    );
    expect(m.phase()).toBe("refused");
    expect(m.actor.getSnapshot().context.reason).toContain("region 7 is already registered");
    await m.advance(29_999);
    expect(m.announces).toHaveLength(1);
    await m.advance(1);
    expect(m.announces).toHaveLength(2);
    await m.fail(regionRefusal("announce", [{ field: "parent", message: "unknown" }], true));
    expect(m.phase()).toBe("backingOff");
    await m.advance(1_000);
    expect(m.announces).toHaveLength(3);
  });
});

describe("serving", () => {
  it("serves only once its own registry lists it", async () => {
    const m = start();
    m.registry(registryOf(false, 2));
    expect(m.phase()).toBe("announcing");
    await m.accept(3);
    expect(m.phase()).toBe("awaitingRegistry");
    m.registry(registryOf(false, 3));
    expect(m.phase()).toBe("awaitingRegistry");
    // Its id, but another URL: another region's entry, not its own.
    const other = registryOf(true, 4);
    const regions = new Map(other.regions);
    regions.set(7, { ...regions.get(7)!, url: "nats://impostor:4222" });
    m.registry({ ...other, regions });
    expect(m.phase()).toBe("awaitingRegistry");
    expect(isServing(m.actor.getSnapshot())).toBe(false);
    m.registry(registryOf(true, 5));
    expect(m.phase()).toBe("serving");
    expect(isServing(m.actor.getSnapshot())).toBe(true);
    expect(m.phases).toEqual(["announcing", "awaitingRegistry", "serving"]);
  });

  it("serves at once when the snapshot listing it came before the answer", async () => {
    const m = start();
    m.registry(registryOf(true, 3));
    expect(m.phase()).toBe("announcing"); // listed, but its announce is not answered yet
    await m.accept(3);
    expect(m.phase()).toBe("serving");
  });

  it("announces again when no snapshot lists it in time", async () => {
    const m = start({ registryWaitMs: 10_000 });
    await m.accept();
    await m.advance(9_999);
    expect(m.phase()).toBe("awaitingRegistry");
    await m.advance(1);
    expect(m.phase()).toBe("announcing");
    expect(m.announces.map((a) => a.at)).toEqual([0, 10_000]);
  });

  it("announces again when a snapshot drops it or marks it dead, and serves when listed again", async () => {
    const m = start();
    await m.accept();
    m.registry(registryOf(true, 3));
    expect(m.phase()).toBe("serving");
    m.registry(markDead(registryOf(true, 3), [7], T0 + 1)); // revision 4
    expect(m.phase()).toBe("announcing");
    expect(m.announces.map((a) => a.input.seq)).toEqual([1, 2]);
    await m.accept(5);
    expect(m.phase()).toBe("awaitingRegistry");
    m.registry(registryOf(true, 5));
    expect(m.phase()).toBe("serving");
    m.registry(registryOf(false, 6));
    expect(m.phase()).toBe("announcing");
    expect(m.phases).toEqual([
      "announcing",
      "awaitingRegistry",
      "serving",
      "announcing",
      "awaitingRegistry",
      "serving",
      "announcing",
    ]);
  });

  it("ignores a stale snapshot that no longer lists it", async () => {
    const m = start();
    await m.accept();
    m.registry(registryOf(true, 5));
    m.registry(registryOf(false, 4));
    m.registry(registryOf(false, 5));
    expect(m.phase()).toBe("serving");
    expect(m.actor.getSnapshot().context.revision).toBe(5);
  });

  it("keeps serving while the parent is away, and announces again when it is back", async () => {
    const m = start();
    await m.accept();
    m.registry(registryOf(true, 3));
    m.actor.send({ type: "PARENT_LOST" });
    expect(m.actor.getSnapshot().matches({ serving: "parentLost" })).toBe(true);
    expect(isServing(m.actor.getSnapshot())).toBe(true);
    await m.advance(60_000);
    expect(m.announces).toHaveLength(1);
    m.actor.send({ type: "PARENT_BACK" });
    expect(m.announces).toHaveLength(2);
    expect(m.announces[1]!.input.seq).toBe(2);
    // The refresh fails: it backs off, still serving.
    await m.fail();
    expect(m.actor.getSnapshot().matches({ serving: "refreshBackoff" })).toBe(true);
    await m.advance(1_000);
    expect(m.announces).toHaveLength(3);
    await m.accept(4);
    expect(m.actor.getSnapshot().matches({ serving: "steady" })).toBe(true);
    expect(m.phases).toEqual(["announcing", "awaitingRegistry", "serving"]);
  });
});

describe("the root", () => {
  it("never announces: it serves once its own registry holds it", async () => {
    const m = start({ self: ROOT_SELF, isRoot: true });
    expect(m.phase()).toBe("awaitingRegistry");
    await m.advance(DEFAULT_MEMBERSHIP.registryWaitMs * 3);
    expect(m.phase()).toBe("awaitingRegistry");
    m.registry(registryOf(false, 1));
    expect(m.phase()).toBe("serving");
    m.actor.send({ type: "PARENT_LOST" });
    m.actor.send({ type: "PARENT_BACK" });
    expect(m.actor.getSnapshot().matches({ serving: "steady" })).toBe(true);
    expect(m.announces).toEqual([]);
  });
});

describe("leaving", () => {
  it("tells the root and stops, or stops without it after leaveTimeoutMs", async () => {
    const m = start();
    await m.accept();
    m.registry(registryOf(true, 3));
    m.actor.send({ type: "LEAVE" });
    m.actor.send({ type: "LEAVE" });
    expect(m.leaves.map((l) => l.input)).toEqual([{ id: 7 }]);
    m.leaves[0]!.resolve(undefined);
    await m.advance(0);
    expect(m.phase()).toBe("left");
    expect(m.actor.getSnapshot().status).toBe("done");

    const n = start();
    n.actor.send({ type: "LEAVE" });
    await n.advance(4_999);
    expect(n.phase()).toBe("leaving");
    await n.advance(1);
    expect(n.phase()).toBe("left");
  });
});

describe("the membership machine's reachable paths", () => {
  const machine = membershipMachine.provide({
    actors: {
      announce: fromPromise(async () => ({ accepted: true as const, revision: 2 })),
      leave: fromPromise(async () => {}),
    },
  });
  type Snapshot = MembershipSnapshot;
  const isIn = (s: Snapshot, path: string) => s.matches(path as never);

  /** The events that end a state by itself: its invoked actor's outcomes and its delays. */
  const stateNodes = getStateNodes(machine.root).map((node) => ({
    path: node.path.join("."),
    internal: [
      ...node.invoke.flatMap((def): AnyEventObject[] => [
        { type: `xstate.done.actor.${def.id}`, output: { accepted: true, revision: 2 } },
        { type: `xstate.error.actor.${def.id}`, error: new Error("no responders") },
        {
          type: `xstate.error.actor.${def.id}`,
          error: regionRefusal("announce", [{ field: "id", message: "taken" }]),
        },
      ]),
      ...node.after.map((t): AnyEventObject => ({ type: t.eventType })),
    ],
  }));

  /** Snapshots newer than the last one seen, listing this region or not, and a stale one. */
  function eventsAt(s: Snapshot): MembershipEvent[] {
    if (s.status !== "active") return [];
    const next = (s.context.revision ?? 0) + 1;
    const listing = registryOf(true, next);
    const regions = new Map(listing.regions);
    regions.delete(s.context.self.id);
    const events: AnyEventObject[] = [
      { type: "REGISTRY", registry: listing },
      { type: "REGISTRY", registry: { ...listing, regions } },
      { type: "PARENT_LOST" },
      { type: "PARENT_BACK" },
      { type: "LEAVE" },
    ];
    for (const { path, internal } of stateNodes) if (isIn(s, path)) events.push(...internal);
    return events as MembershipEvent[];
  }

  /** A registry's Map would serialize as `{}`: its events are told apart by the ids they list. */
  const serializeEvent = (e: MembershipEvent) =>
    JSON.stringify(e.type === "REGISTRY" ? { ...e, registry: [...e.registry.regions.keys()] } : e);

  /** Revisions and counters grow for ever; the state and whether it is listed do not. */
  const serializeState = (s: Snapshot) =>
    JSON.stringify({ status: s.status, value: s.value, listed: s.context.listed });

  type Edge = { event: MembershipEvent; state: Snapshot };
  /** The reachable states, each with the events offered there and where each leads. */
  const graphOf = (input: MembershipInput) =>
    Object.values(
      getAdjacencyMap(machine, { input, events: eventsAt, serializeState, serializeEvent }),
    ).map((entry) => ({ state: entry.state, edges: Object.values(entry.transitions) as Edge[] }));

  for (const [who, input] of [
    ["a region", { self: SELF, isRoot: false }],
    ["the root", { self: ROOT_SELF, isRoot: true }],
  ] as const) {
    const traversal = { input, events: eventsAt, serializeState, serializeEvent };
    const graph = graphOf(input);
    const states = graph.map((entry) => entry.state);

    it(`${who}: serves only while its registry lists it, and never errors`, () => {
      expect(states.filter((s) => s.status === "error")).toEqual([]);
      const wrong = states.filter((s) => isServing(s) && !s.context.listed).map(serializeState);
      expect(wrong).toEqual([]);
      expect(states.some(isServing)).toBe(true);
    });

    it(`${who}: can leave from every reachable state`, () => {
      const toLeft = getShortestPaths(machine, {
        ...traversal,
        toState: (s) => s.status === "done",
      });
      expect(toLeft.length).toBeGreaterThan(0);
      for (const { state, edges } of graph) {
        if (state.status !== "active") continue;
        const afterLeave = edges.find((edge) => edge.event.type === "LEAVE")!.state;
        expect(phaseOf(afterLeave)).toBe("leaving");
      }
    });
  }

  it("takes every transition the machine defines, as a region or as the root", () => {
    const taken = new Set(
      [
        { self: SELF, isRoot: false },
        { self: ROOT_SELF, isRoot: true },
      ].flatMap((input) =>
        graphOf(input).flatMap(({ state, edges }) =>
          edges.flatMap((edge) => machine.getTransitionData(state, edge.event)),
        ),
      ),
    );
    const untaken = [machine.root, ...getStateNodes(machine.root)].flatMap((node) =>
      [...node.transitions.values()]
        .flat()
        .filter((definition) => !taken.has(definition))
        .map((d) => `${node.id} --${d.eventType}--> ${d.target?.map((t) => t.id).join(",")}`),
    );
    expect(untaken).toEqual([]);
  });

  it("a region reaches every phase, and the root never announces", () => {
    const phasesOf = (input: MembershipInput) =>
      new Set(graphOf(input).map(({ state }) => phaseOf(state)));
    expect([...phasesOf({ self: SELF, isRoot: false })].sort()).toEqual(
      [
        "announcing",
        "awaitingRegistry",
        "backingOff",
        "leaving",
        "left",
        "refused",
        "serving",
      ].sort(),
    );
    expect([...phasesOf({ self: ROOT_SELF, isRoot: true })].sort()).toEqual(
      ["awaitingRegistry", "leaving", "left", "serving"].sort(),
    );
  });

  it("a region serves two steps after starting at best: listed, then its announce accepted", () => {
    const paths = getShortestPaths(machine, {
      input: { self: SELF, isRoot: false },
      events: eventsAt,
      serializeState,
      serializeEvent,
      toState: (s) => isServing(s),
    });
    const shortest = paths.sort((a, b) => a.weight - b.weight)[0]!;
    expect(shortest.steps.slice(1).map((step) => step.event.type)).toEqual([
      "REGISTRY",
      "xstate.done.actor.0.membership.announcing",
    ]);
  });
});

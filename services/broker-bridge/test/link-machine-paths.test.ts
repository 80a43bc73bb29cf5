/**
 * The link machine's reachable paths, enumerated with @xstate/graph, and replayed against a
 * running actor on a simulated clock.
 *
 * How @xstate/graph (v3) traverses a machine: it calls the machine's pure `transition()` with a
 * mock actor scope that executes no action. Nothing the machine would do by itself happens
 * during traversal: invoked actors are created but never started, and the timers of `after`
 * transitions are never set. So the events that end a state by themselves — the invoked actors'
 * `xstate.done.actor.*` / `xstate.error.actor.*` and the delays' `xstate.after.*` — are fed to
 * the traversal as explicit events, like the session's and the service's. The library's default
 * event source offers them too, but only as bare `{ type }` objects (no output, no error, no
 * reason, no TICK sample), and an `events` option replaces that source entirely; so the list is
 * built here from the machine's own state nodes, each done/error/after event offered only while
 * the state that invoked the actor or set the timer is active, which is when XState can deliver
 * it (both are cancelled on exit). A delay is one event whatever its length: the traversal
 * covers which transitions delays take, the replays how long they are.
 *
 * The invoked actors are replaced with stand-ins through `.provide()`: traversal never starts
 * them, and the replays drive them by hand, settling each where the path says so.
 */
import { LINK_STATUSES, type LinkStatusName } from "@entente/protocol";
import {
  getAdjacencyMap,
  getPathsFromEvents,
  getShortestPaths,
  getSimplePaths,
  getStateNodes,
  type SerializedSnapshot,
  type StatePath,
  serializeEvent,
} from "@xstate/graph";
import { describe, expect, it } from "vitest";
import {
  type AnyEventObject,
  createActor,
  fromCallback,
  fromPromise,
  fromTransition,
  SimulatedClock,
  type SnapshotFrom,
} from "xstate";
import { reconnectDelay } from "../src/backoff.ts";
import {
  type LinkEvent,
  type LinkMachineInput,
  linkMachine,
  statusOf,
} from "../src/link-machine.ts";

const INPUT: LinkMachineInput = {
  link: "l",
  reconnectDelayMs: 100,
  maxReconnectDelayMs: 400,
  stallAfterMs: 1000,
  tickMs: 100,
};
/** What the openSession stand-in resolves to. */
const SESSION = { session: "stand-in" };

const machine = linkMachine.provide({
  actors: {
    openSession: fromPromise(async () => SESSION as unknown),
    runSession: fromCallback(() => {}),
    closeSession: fromPromise(async () => {}),
  },
});

type Snapshot = SnapshotFrom<typeof machine>;
type Path = StatePath<Snapshot, LinkEvent>;

const isIn = (s: Snapshot, path: string) => s.matches(path as never);

/**
 * Every state node with the events that end it by themselves: each invoked actor's done and
 * error (runSession, a callback actor, never completes: its done event changes nothing, but it
 * can fail), each delay's expiry. The machine's event type names only the events sent to it, so
 * these are cast where they join the traversal.
 */
const stateNodes = getStateNodes(machine.root).map((node) => ({
  node,
  path: node.path.join("."),
  internal: [
    ...node.invoke.flatMap((def): AnyEventObject[] => [
      {
        type: `xstate.done.actor.${def.id}`,
        output: def.src === "openSession" ? SESSION : undefined,
      },
      { type: `xstate.error.actor.${def.id}`, error: new Error(`${String(def.src)} failed`) },
    ]),
    ...node.after.map((t): AnyEventObject => ({ type: t.eventType })),
  ],
}));

/**
 * Samples of a running session, relative to its last progress so that the stall guard meets
 * each of its cases: nothing waiting; waiting, for less than `stallAfterMs`; waiting for
 * `stallAfterMs` without progress; as long, with progress.
 */
const TICKS = ["idle", "waiting", "stuck", "moving"] as const;
type TickKind = (typeof TICKS)[number];

function tick(s: Snapshot, kind: TickKind): LinkEvent {
  const { progress, stallAfterMs } = s.context;
  const at = Math.max(0, progress.at);
  const { forwarded } = progress;
  switch (kind) {
    case "idle":
      return { type: "TICK", lag: 0, forwarded, now: at };
    case "waiting":
      return { type: "TICK", lag: 5, forwarded, now: at + stallAfterMs - 1 };
    case "stuck":
      return { type: "TICK", lag: 5, forwarded, now: at + stallAfterMs };
    case "moving":
      return { type: "TICK", lag: 5, forwarded: forwarded + 1, now: at + stallAfterMs };
  }
}

/**
 * The events the machine can receive in `s`: STOP from the service at any time; the session's
 * events while a session runs (runSession lives only in `active`); the done, error and delay
 * events of the active state nodes. A finished actor receives nothing.
 */
function eventsAt(s: Snapshot): LinkEvent[] {
  if (s.status !== "active") return [];
  const events: AnyEventObject[] = [{ type: "STOP" }];
  if (isIn(s, "active")) {
    events.push(
      { type: "UPSTREAM_DOWN", reason: "upstream gone" },
      { type: "UPSTREAM_UP" },
      { type: "DOWNSTREAM_DOWN", reason: "downstream gone" },
      { type: "DOWNSTREAM_UP" },
      { type: "SESSION_FAILED", reason: "channel closed" },
      ...TICKS.map((kind) => tick(s, kind)),
    );
  }
  for (const { path, internal } of stateNodes) if (isIn(s, path)) events.push(...internal);
  return events as LinkEvent[];
}

/**
 * A snapshot as far as the machine's behaviour goes: its state, and while a session runs, what
 * the guards read: whether the session has been sampled (the stall guard compares with the
 * previous sample) and which sides are down. The rest of the context is data the machine
 * carries but never branches on — `failures` sets only the length of a delay; `restarts`,
 * `reason`, `lag` and `session` are reported — and what the guards read is reset on entering
 * `active`. The graph's states are these classes; a path's snapshots are one representative each.
 */
function serializeState(s: Snapshot): string {
  const active = isIn(s, "active");
  const { progress, upstreamDown, downstreamDown } = s.context;
  return JSON.stringify({
    status: s.status,
    value: s.value,
    sampled: active ? progress.at >= 0 : undefined,
    down: active ? [upstreamDown !== undefined, downstreamDown !== undefined] : undefined,
  });
}

const traversal = { input: INPUT, events: eventsAt, serializeState };

const adjacency = getAdjacencyMap(machine, traversal);
type Entry = (typeof adjacency)[SerializedSnapshot];
/** The transitions out of one class: the events offered there and where each leads. */
const edgesFrom = (entry: Entry) =>
  Object.values(entry.transitions) as Array<{ event: LinkEvent; state: Snapshot }>;
/** One snapshot per class, the one the traversal computed the class's transitions from. */
const representative = (s: Snapshot) => adjacency[serializeState(s) as SerializedSnapshot]!.state;
const initial = getShortestPaths(machine, traversal).find((path) => path.weight === 0)!.state;

const statusesOf = (path: Path): LinkStatusName[] =>
  path.steps
    .map((step) => statusOf(step.state.value))
    .filter((status, i, all) => i === 0 || all[i - 1] !== status);

const describePath = (path: Path) =>
  path.steps
    .slice(1)
    .map((step) => step.event.type)
    .join(" → ");

/**
 * The events for `script`, walking the graph from the initial state: each item is an event type
 * or its beginning (one done, error or delay event is offered at a time), or a TICK kind.
 */
function scripted(script: Array<string | TickKind>): LinkEvent[] {
  let s = initial;
  return script.map((item) => {
    const offered = eventsAt(representative(s));
    const event = (TICKS as readonly string[]).includes(item)
      ? tick(representative(s), item as TickKind)
      : offered.find((e) => e.type.startsWith(item));
    if (!event) throw new Error(`${item} is not offered in ${serializeState(s)}`);
    s =
      adjacency[serializeState(s) as SerializedSnapshot]!.transitions[serializeEvent(event)]!.state;
    return event;
  });
}

describe("the link machine's reachable paths", () => {
  const states = Object.values(adjacency).map((entry) => entry.state);
  const shortest: Path[] = getShortestPaths(machine, traversal);

  it("is a finite graph in which every event is handled or ignored, never fatal", () => {
    expect(states.length).toBeGreaterThan(LINK_STATUSES.length);
    expect(shortest).toHaveLength(states.length);
    // An error event no state handles would leave the actor in error, deaf to STOP.
    expect(states.filter((s) => s.status === "error").map(serializeState)).toEqual([]);
  });

  it("offers, in every reachable state, each event the active state nodes react to", () => {
    for (const s of states) {
      if (s.status !== "active") continue;
      const offered = new Set(eventsAt(s).map((e) => e.type));
      const handled = [machine.root, ...stateNodes.map(({ node }) => node)]
        .filter((node) => node === machine.root || isIn(s, node.path.join(".")))
        .flatMap((node) => node.ownEvents);
      expect(handled.filter((type) => !offered.has(type))).toEqual([]);
    }
  });

  it("reaches every link status, and only those", () => {
    const reached = new Set(states.map((s) => statusOf(s.value)));
    expect([...reached].sort()).toEqual([...LINK_STATUSES].sort());
    for (const status of LINK_STATUSES) {
      expect(shortest.some((path) => statusOf(path.state.value) === status)).toBe(true);
    }
  });

  it("reaches the final state, and can reach it from every reachable state", () => {
    const final = states.filter((s) => s.status === "done");
    expect(final.map((s) => s.value)).toEqual(["stopped"]);
    // Backwards from the final state over the graph's edges.
    const canFinish = new Set(final.map(serializeState));
    for (let grew = true; grew; ) {
      grew = false;
      for (const [key, entry] of Object.entries(adjacency)) {
        if (canFinish.has(key)) continue;
        const next = edgesFrom(entry).map((t) => serializeState(t.state));
        if (next.some((k) => canFinish.has(k))) {
          canFinish.add(key);
          grew = true;
        }
      }
    }
    expect(Object.keys(adjacency).filter((key) => !canFinish.has(key))).toEqual([]);
    const toStopped = getShortestPaths(machine, {
      ...traversal,
      toState: (s) => s.status === "done",
    });
    expect(toStopped.map(statusesOf)).toEqual([["starting", "shutting_down", "stopped"]]);
  });

  it("takes every transition the machine defines, guarded or not, with or without a target", () => {
    const taken = new Set(
      Object.values(adjacency).flatMap((entry) =>
        edgesFrom(entry).flatMap((t) => machine.getTransitionData(entry.state, t.event)),
      ),
    );
    const untaken = [machine.root, ...stateNodes.map(({ node }) => node)].flatMap((node) =>
      [...node.transitions.values()]
        .flat()
        .filter((definition) => !taken.has(definition))
        .map(
          (d) =>
            `${node.id} --${d.eventType}--> ${d.target?.map((t) => t.id).join(",") ?? "(stays)"}`,
        ),
    );
    expect(untaken).toEqual([]);
  });

  it("names a path to each status: the statuses a watcher of the link would see", () => {
    const firstTo = (status: LinkStatusName) =>
      shortest
        .filter((path) => statusOf(path.state.value) === status)
        .sort((a, b) => a.weight - b.weight)[0]!;
    expect(Object.fromEntries(LINK_STATUSES.map((s) => [s, statusesOf(firstTo(s))]))).toEqual({
      starting: ["starting"],
      connecting: ["starting", "connecting"],
      connected: ["starting", "connecting", "connected"],
      connect_failed: ["starting", "connecting", "connect_failed"],
      disconnected: ["starting", "connecting", "connected", "disconnected"],
      upstream_down: ["starting", "connecting", "connected", "upstream_down"],
      downstream_down: ["starting", "connecting", "connected", "downstream_down"],
      stalled: ["starting", "connecting", "connected", "stalled"],
      shutting_down: ["starting", "shutting_down"],
      stopped: ["starting", "shutting_down", "stopped"],
    });
    // A stall needs a first sample, then one stallAfterMs later without progress.
    expect(describePath(firstTo("stalled"))).toBe(
      "xstate.after.0.link.starting → xstate.done.actor.0.link.connecting → TICK → TICK",
    );
  });

  it("reports a side down for as long as it is down, whatever the other side does", () => {
    // The machine alongside what its events say of the two sides: both up when a session
    // starts, then as the last UPSTREAM_* and DOWNSTREAM_* said. Traversed together, so every
    // reachable combination is checked, not only those on some path.
    type Sides = { upstream: boolean; downstream: boolean };
    const observed = fromTransition(
      (o: { link: Snapshot; sides: Sides }, event: LinkEvent, scope) => {
        const link = machine.transition(o.link, event, scope as never);
        const sides = isIn(o.link, "active")
          ? { ...o.sides }
          : { upstream: true, downstream: true };
        if (event.type === "UPSTREAM_DOWN" || event.type === "UPSTREAM_UP")
          sides.upstream = event.type === "UPSTREAM_UP";
        if (event.type === "DOWNSTREAM_DOWN" || event.type === "DOWNSTREAM_UP")
          sides.downstream = event.type === "DOWNSTREAM_UP";
        return { link, sides };
      },
      { link: initial, sides: { upstream: true, downstream: true } },
    );
    const pairs = getShortestPaths(observed, {
      events: (o) => eventsAt(o.context.link),
      serializeState: (o) => `${serializeState(o.context.link)} ${JSON.stringify(o.context.sides)}`,
    });
    const wrong = pairs
      .map((path) => ({ path, link: path.state.context.link, sides: path.state.context.sides }))
      .filter(({ link, sides }) => {
        if (!isIn(link, "active")) return false;
        const status = statusOf(link.value);
        const bothUp = sides.upstream && sides.downstream;
        return (
          (status === "connected") !== bothUp ||
          (status === "upstream_down" && sides.upstream) ||
          (status === "downstream_down" && sides.downstream)
        );
      })
      .map(
        ({ path, link, sides }) =>
          `${statusOf(link.value)} with ${JSON.stringify(sides)} after ${path.steps
            .slice(1)
            .map((s) => s.event.type)
            .join(" → ")}`,
      );
    expect(wrong).toEqual([]);
  });
});

/**
 * A running actor on a simulated clock with hand-driven stand-ins: each invoked promise actor
 * waits until the replay settles it, the session's events go through runSession's `sendBack`,
 * as the service's session sends them, and runSession fails when told to.
 */
function startReplay() {
  const clock = new SimulatedClock();
  const pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: unknown) => void }
  >();
  let sendBack: ((event: LinkEvent) => void) | undefined;
  const settledByHand = <TOutput, TInput>() =>
    fromPromise<TOutput, TInput>(
      ({ self }) =>
        new Promise<TOutput>((resolve, reject) => {
          pending.set(self.id, { resolve: resolve as (v: unknown) => void, reject });
        }),
    );
  const delays: number[] = [];
  const actor = createActor(
    linkMachine.provide({
      actors: {
        openSession: settledByHand<unknown, { link: string }>(),
        closeSession: settledByHand<void, { session: unknown }>(),
        runSession: fromCallback(({ sendBack: send, receive }) => {
          sendBack = send as (event: LinkEvent) => void;
          receive((event) => {
            throw (event as AnyEventObject & { error: unknown }).error;
          });
          return () => {
            sendBack = undefined;
          };
        }),
      },
    }),
    { clock, input: INPUT },
  );
  const seen: LinkStatusName[] = [];
  actor.subscribe({
    next: (s) => {
      const status = statusOf(s.value);
      if (seen.at(-1) !== status) seen.push(status);
    },
    error: () => {}, // compared with the graph, which has no error states
  });
  actor.start();

  const settle = async () => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };

  /** Delivers one event of a path the way the running system produces it. */
  async function deliver(event: AnyEventObject, before: Snapshot): Promise<void> {
    const { type } = event;
    const child = /^xstate\.(done|error)\.actor\.(.+)$/.exec(type);
    if (child) {
      const [, outcome, id] = child as unknown as [string, "done" | "error", string];
      const promise = pending.get(id);
      if (promise) {
        pending.delete(id);
        if (outcome === "done") promise.resolve(event.output);
        else promise.reject(event.error);
      } else {
        const ref = actor.getSnapshot().children[id as never] as { send(e: unknown): void };
        expect(ref, `${type}: the actor is running`).toBeDefined();
        expect(outcome, `${type}: a callback actor fails, never completes`).toBe("error");
        ref.send({ type: "fail", error: event.error });
      }
      await settle();
      return;
    }
    const after = /^xstate\.after\.([^.]+)\./.exec(type);
    if (after) {
      // The real delay: the machine's own backoff, from the context it had when it set it.
      const { context } = actor.getSnapshot();
      const ms = after[1] === "reconnectDelay" ? reconnectDelay(context, context.failures) : 0;
      delays.push(ms);
      if (ms > 0) {
        clock.increment(ms - 1);
        expect(serializeState(actor.getSnapshot()), `${type} not before ${ms} ms`).toBe(
          serializeState(before),
        );
      }
      clock.increment(ms > 0 ? 1 : 0);
      return;
    }
    if (type === "STOP") {
      actor.send({ type: "STOP" });
      return;
    }
    expect(sendBack, `${type}: a session is running`).toBeDefined();
    // A TICK is relative to the last progress: the same kind of sample, for this actor's.
    const kind = TICKS.find(
      (k) => JSON.stringify(tick(representative(before), k)) === JSON.stringify(event),
    );
    sendBack!(kind ? tick(actor.getSnapshot(), kind) : (event as LinkEvent));
  }

  return { actor, seen, delays, deliver, settle };
}

/**
 * Replays `path` on a running actor, checking after each step that the actor is in the same
 * class of state as the graph says (see serializeState).
 */
async function replay(path: Path) {
  const run = startReplay();
  await run.settle();
  for (const [i, step] of path.steps.entries()) {
    if (i > 0) await run.deliver(step.event, path.steps[i - 1]!.state);
    expect(
      serializeState(run.actor.getSnapshot()),
      `step ${i} (${step.event.type}) of ${describePath(path)}`,
    ).toBe(serializeState(step.state));
  }
  const end = run.actor.getSnapshot();
  if (end.status === "active") run.actor.stop();
  return { seen: run.seen, delays: run.delays, end };
}

describe("the link machine's paths replayed on a simulated clock", () => {
  it("agrees with the graph on every shortest path, state by state and status by status", async () => {
    for (const path of getShortestPaths(machine, traversal)) {
      expect((await replay(path)).seen).toEqual(statusesOf(path));
    }
  });

  it("agrees on fifty of the simple paths to the final state, spread over all of them", async () => {
    const paths = getSimplePaths(machine, { ...traversal, toState: (s) => s.status === "done" });
    expect(paths.length).toBeGreaterThan(LINK_STATUSES.length);
    for (const path of paths.filter((_, i) => i % Math.ceil(paths.length / 50) === 0)) {
      expect((await replay(path)).seen).toEqual(statusesOf(path));
    }
  });

  it("agrees on a long path: backing off, a stall, sides down and up, a failed session, a stop", async () => {
    const events = scripted([
      "xstate.after", // starting → connecting
      "xstate.error", // refused
      "xstate.after", // 100 ms
      "xstate.error",
      "xstate.after", // 200 ms
      "xstate.error",
      "xstate.after", // 400 ms, the cap
      "xstate.done", // connected
      "idle",
      "stuck", // stalled: the session is closed and opened again, at once
      "xstate.done",
      "xstate.done", // connected
      "UPSTREAM_DOWN",
      "DOWNSTREAM_DOWN",
      "DOWNSTREAM_UP",
      "UPSTREAM_UP",
      "moving",
      "SESSION_FAILED", // after a sampled session the backoff starts over
      "xstate.done", // closed
      "xstate.after", // 100 ms
      "xstate.done",
      "STOP",
      "xstate.done",
    ]);
    // getPathsFromEvents (3.0.4) starts from the machine's initial state without the input
    // unless it is given the start.
    const [path] = getPathsFromEvents(machine, events, { ...traversal, fromState: initial });
    const statuses: LinkStatusName[] = [
      "starting",
      "connecting",
      "connect_failed",
      "connecting",
      "connect_failed",
      "connecting",
      "connect_failed",
      "connecting",
      "connected",
      "stalled",
      "connecting",
      "connected",
      "upstream_down",
      "downstream_down",
      "upstream_down",
      "connected",
      "disconnected",
      "connecting",
      "connected",
      "shutting_down",
      "stopped",
    ];
    expect(statusesOf(path!)).toEqual(statuses);
    const run = await replay(path!);
    expect(run.seen).toEqual(statuses);
    expect(run.delays).toEqual([0, 100, 200, 400, 100]);
    expect(run.end.status).toBe("done");
    expect(run.end.context).toMatchObject({ restarts: 1, failures: 1, session: undefined });
  });
});

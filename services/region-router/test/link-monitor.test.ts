/**
 * The link monitor on a simulated clock: scenarios first, then its reachable paths enumerated
 * with @xstate/graph and replayed on a running actor.
 *
 * @xstate/graph traverses with the machine's pure `transition()` and sets no timers, so each
 * delay's expiry (`xstate.after.*`) is offered to the traversal as an event while the state that
 * set it is active; the replays turn it back into the delay it stands for.
 */
import {
  getAdjacencyMap,
  getShortestPaths,
  getSimplePaths,
  getStateNodes,
  type SerializedSnapshot,
  type StatePath,
} from "@xstate/graph";
import { describe, expect, it } from "vitest";
import { type AnyEventObject, createActor, SimulatedClock, type SnapshotFrom } from "xstate";
import {
  availabilityOf,
  DEFAULT_LINK_MONITOR,
  type LinkAvailability,
  type LinkMonitorEvent,
  type LinkMonitorInput,
  linkMonitorMachine,
  linkMonitorSettings,
} from "../src/model/link-monitor.ts";

const LINK = 7;
const { probeIdleMs: IDLE, probeTimeoutMs: TIMEOUT } = DEFAULT_LINK_MONITOR;

/** A running monitor on a simulated clock, recording what it asks of the service and when. */
function startMonitor(input: Partial<LinkMonitorInput> = {}) {
  const clock = new SimulatedClock();
  const probes: Array<{ link: number; probe: number; at: number }> = [];
  const downs: Array<{ link: number; at: number }> = [];
  const ups: Array<{ link: number; at: number }> = [];
  const actor = createActor(
    linkMonitorMachine.provide({
      actions: {
        sendProbe: (_, params) => probes.push({ ...params, at: clock.now() }),
        linkDown: (_, params) => downs.push({ ...params, at: clock.now() }),
        linkUp: (_, params) => ups.push({ ...params, at: clock.now() }),
      },
    }),
    { clock, input: { link: LINK, ...input } },
  );
  actor.start();
  /**
   * Moves the clock to `at`, a millisecond at a time: `SimulatedClock.increment` sets the new
   * time before it fires the timers that fall due, so a timer set by one of them would start at
   * the end of a long jump instead of when it was set.
   */
  const advanceTo = (at: number) => {
    while (clock.now() < at) clock.increment(1);
  };
  const traffic = () => actor.send({ type: "TRAFFIC", now: clock.now() });
  const answer = (probe = actor.getSnapshot().context.probe, rttMs = 25) =>
    actor.send({ type: "PROBE_ANSWERED", probe, rttMs });
  const availability = () => availabilityOf(actor.getSnapshot().value);
  const probeTimes = () => probes.map((p) => p.at);
  return { actor, clock, probes, downs, ups, advanceTo, traffic, answer, availability, probeTimes };
}

describe("the link monitor on a simulated clock", () => {
  it("starts up and sends no probe while real traffic keeps flowing", () => {
    const m = startMonitor();
    expect(m.availability()).toBe("up");
    for (let at = 0; at <= 60_000; at += IDLE - 1) {
      m.advanceTo(at);
      m.traffic();
    }
    const last = 12 * (IDLE - 1);
    expect(m.actor.getSnapshot().context.lastTrafficAt).toBe(last);
    m.advanceTo(last + IDLE - 1);
    expect(m.probes).toEqual([]);
    expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
  });

  it("probes once a link carried no traffic for probeIdleMs since the last", () => {
    const m = startMonitor();
    m.advanceTo(3_000);
    m.traffic();
    m.advanceTo(3_000 + IDLE - 1);
    expect(m.probes).toEqual([]);
    m.advanceTo(3_000 + IDLE);
    expect(m.probes).toEqual([{ link: LINK, probe: 1, at: 8_000 }]);
    expect(m.actor.getSnapshot().value).toEqual({ up: "idle" });
    expect(m.availability()).toBe("up");
  });

  it("waits another idle period after an answered probe, and records its round trip", () => {
    const m = startMonitor();
    m.advanceTo(IDLE + 300);
    m.answer(1, 42);
    expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
    expect(m.actor.getSnapshot().context.lastProbeRttMs).toBe(42);
    // The answer beat the timeout: no suspicion when the timeout would have expired.
    m.advanceTo(IDLE + TIMEOUT + 1);
    expect(m.availability()).toBe("up");
    m.advanceTo(IDLE + 300 + IDLE);
    expect(m.probeTimes()).toEqual([5_000, 10_300]);
  });

  it("is suspect after one unanswered probe, and probes again at once", () => {
    const m = startMonitor();
    m.advanceTo(IDLE + TIMEOUT - 1);
    expect(m.availability()).toBe("up");
    m.advanceTo(IDLE + TIMEOUT);
    expect(m.availability()).toBe("suspect");
    expect(m.actor.getSnapshot().context.misses).toBe(1);
    expect(m.probeTimes()).toEqual([5_000, 7_000]);
  });

  it("takes the link down after three misses in a row, telling the service once", () => {
    const m = startMonitor();
    m.advanceTo(IDLE + 3 * TIMEOUT - 1);
    expect(m.availability()).toBe("suspect");
    expect(m.downs).toEqual([]);
    m.advanceTo(IDLE + 3 * TIMEOUT);
    expect(m.availability()).toBe("down");
    expect(m.downs).toEqual([{ link: LINK, at: 11_000 }]);
    expect(m.probeTimes()).toEqual([5_000, 7_000, 9_000]);
    expect(m.probes.map((p) => p.probe)).toEqual([1, 2, 3]);
  });

  it("keeps probing every probeIdleMs while down, without telling the service again", () => {
    const m = startMonitor();
    m.advanceTo(11_000);
    m.advanceTo(40_000);
    // Down at 11 s; then a probe each idle period, each timing out after probeTimeoutMs.
    expect(m.probeTimes()).toEqual([5_000, 7_000, 9_000, 16_000, 23_000, 30_000, 37_000]);
    expect(m.availability()).toBe("down");
    expect(m.downs).toHaveLength(1);
    expect(m.ups).toEqual([]);
  });

  it("comes back up on the first answer while down, and tells the service", () => {
    const m = startMonitor();
    m.advanceTo(16_500); // down, probe 4 outstanding
    expect(m.actor.getSnapshot().value).toEqual({ down: "probing" });
    m.answer(4, 30);
    expect(m.availability()).toBe("up");
    expect(m.ups).toEqual([{ link: LINK, at: 16_500 }]);
    expect(m.actor.getSnapshot().context.misses).toBe(0);
    // Up again: the next probe after an idle period, and three fresh misses before down.
    m.advanceTo(16_500 + IDLE + 3 * TIMEOUT - 1);
    expect(m.availability()).toBe("suspect");
    m.advanceTo(16_500 + IDLE + 3 * TIMEOUT);
    expect(m.availability()).toBe("down");
    expect(m.downs.map((d) => d.at)).toEqual([11_000, 27_500]);
  });

  it("comes back up on real traffic while down, between probes too", () => {
    const m = startMonitor();
    m.advanceTo(12_000);
    expect(m.actor.getSnapshot().value).toEqual({ down: "waiting" });
    m.traffic();
    expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
    expect(m.ups).toEqual([{ link: LINK, at: 12_000 }]);
    m.advanceTo(12_000 + IDLE - 1);
    expect(m.probeTimes()).toEqual([5_000, 7_000, 9_000]);
  });

  it("drops the suspicion on real traffic: the misses start over", () => {
    const m = startMonitor();
    m.advanceTo(9_500); // two misses, probe 3 outstanding
    expect(m.actor.getSnapshot().context.misses).toBe(2);
    m.traffic();
    expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
    expect(m.actor.getSnapshot().context.misses).toBe(0);
    // Probe 3's timeout was cancelled: no third miss at 11 s.
    m.advanceTo(11_000);
    expect(m.availability()).toBe("up");
    expect(m.downs).toEqual([]);
    m.advanceTo(9_500 + IDLE + 2 * TIMEOUT);
    expect(m.availability()).toBe("suspect");
    m.advanceTo(9_500 + IDLE + 3 * TIMEOUT);
    expect(m.availability()).toBe("down");
  });

  it("drops the suspicion on a late answer to an earlier probe", () => {
    const m = startMonitor();
    m.advanceTo(7_500); // probe 1 missed, probe 2 outstanding
    m.answer(1, 2_400);
    expect(m.availability()).toBe("up");
    expect(m.actor.getSnapshot().context.misses).toBe(0);
  });

  it("counts a miss the service reports, once per probe", () => {
    const m = startMonitor();
    m.advanceTo(5_100);
    m.actor.send({ type: "PROBE_MISSED", probe: 1 });
    expect(m.availability()).toBe("suspect");
    expect(m.probeTimes()).toEqual([5_000, 5_100]);
    // Stale: probe 1 was counted; probe 2 is the one outstanding.
    m.actor.send({ type: "PROBE_MISSED", probe: 1 });
    expect(m.actor.getSnapshot().context.misses).toBe(1);
    m.actor.send({ type: "PROBE_MISSED", probe: 2 });
    expect(m.actor.getSnapshot().context.misses).toBe(2);
    // Stale again, one miss short of down: still not counted.
    m.actor.send({ type: "PROBE_MISSED", probe: 2 });
    expect(m.availability()).toBe("suspect");
    m.actor.send({ type: "PROBE_MISSED", probe: 3 });
    expect(m.availability()).toBe("down");
    expect(m.downs).toEqual([{ link: LINK, at: 5_100 }]);
    // While down, too, a reported miss ends the probe: the next one comes an idle period later.
    m.advanceTo(5_100 + IDLE);
    m.actor.send({ type: "PROBE_MISSED", probe: 4 });
    expect(m.actor.getSnapshot().value).toEqual({ down: "waiting" });
    m.advanceTo(5_100 + 2 * IDLE);
    // Probe 3 went out at once after the second miss; none on going down.
    expect(m.probeTimes()).toEqual([5_000, 5_100, 5_100, 10_100, 15_100]);
  });

  it("ignores a stale miss even when one miss takes the link down", () => {
    const m = startMonitor({ missedProbesForDown: 1 });
    m.advanceTo(IDLE + 100);
    m.answer(1);
    m.advanceTo(IDLE + 100 + IDLE); // probe 2 outstanding
    m.actor.send({ type: "PROBE_MISSED", probe: 1 });
    expect(m.actor.getSnapshot().value).toEqual({ up: "idle" });
    m.actor.send({ type: "PROBE_MISSED", probe: 2 });
    expect(m.availability()).toBe("down");
  });

  it("ignores a miss reported while no probe is outstanding", () => {
    const m = startMonitor();
    m.actor.send({ type: "PROBE_MISSED", probe: 0 });
    m.actor.send({ type: "PROBE_MISSED", probe: 1 });
    expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
    expect(m.actor.getSnapshot().context.misses).toBe(0);
  });

  it("follows its settings", () => {
    const m = startMonitor({ probeIdleMs: 1_000, probeTimeoutMs: 100, missedProbesForDown: 1 });
    m.advanceTo(1_099);
    expect(m.availability()).toBe("up");
    m.advanceTo(1_100);
    expect(m.availability()).toBe("down");
    m.advanceTo(2_100);
    expect(m.probeTimes()).toEqual([1_000, 2_100]);
  });

  it("refuses settings that cannot work", () => {
    expect(linkMonitorSettings({})).toEqual(DEFAULT_LINK_MONITOR);
    expect(() => linkMonitorSettings({ probeIdleMs: 0 })).toThrow(/probeIdleMs/);
    expect(() => linkMonitorSettings({ probeTimeoutMs: Number.NaN })).toThrow(/probeTimeoutMs/);
    expect(() => linkMonitorSettings({ missedProbesForDown: 1.5 })).toThrow(/missedProbesForDown/);
  });
});

// ─── paths ──────────────────────────────────────────────────────────────────────────────────────

const INPUT: LinkMonitorInput = { link: LINK };
const machine = linkMonitorMachine;
type Snapshot = SnapshotFrom<typeof machine>;
type Path = StatePath<Snapshot, LinkMonitorEvent>;

const isIn = (s: Snapshot, path: string) => s.matches(path as never);

/** Every state node with its delays' expiry events. */
const stateNodes = getStateNodes(machine.root).map((node) => ({
  node,
  path: node.path.join("."),
  delays: node.after.map((t): AnyEventObject => ({ type: t.eventType })),
}));

/**
 * What can happen in `s`: real traffic and a probe answer at any time (an answer may be late),
 * a miss reported for the outstanding probe or for the one before it (stale), and the expiry of
 * each delay the active states set.
 */
function eventsAt(s: Snapshot): LinkMonitorEvent[] {
  const { probe } = s.context;
  const events: AnyEventObject[] = [
    { type: "TRAFFIC", now: 0 },
    { type: "PROBE_ANSWERED", probe, rttMs: 10 },
    { type: "PROBE_MISSED", probe },
  ];
  if (probe > 0) events.push({ type: "PROBE_MISSED", probe: probe - 1 });
  for (const { path, delays } of stateNodes) if (isIn(s, path)) events.push(...delays);
  return events as LinkMonitorEvent[];
}

/** The state and the misses in a row: what the monitor's behaviour depends on. */
const serializeState = (s: Snapshot) =>
  JSON.stringify({ status: s.status, value: s.value, misses: s.context.misses });

const traversal = { input: INPUT, events: eventsAt, serializeState };
const adjacency = getAdjacencyMap(machine, traversal);
/** With one miss for down, the only way up.idle goes straight down. */
const adjacencyDownAtFirstMiss = getAdjacencyMap(machine, {
  ...traversal,
  input: { ...INPUT, missedProbesForDown: 1 },
});
type Entry = (typeof adjacency)[SerializedSnapshot];
const edgesFrom = (entry: Entry) =>
  Object.values(entry.transitions) as Array<{ event: LinkMonitorEvent; state: Snapshot }>;
const states = Object.values(adjacency).map((entry) => entry.state);

const describePath = (path: Path) =>
  path.steps
    .slice(1)
    .map((step) => step.event.type.replace(/^xstate\.after\.([^.]+)\..*$/, "$1"))
    .join(" → ");

const availabilitiesOf = (path: Path): LinkAvailability[] =>
  path.steps
    .map((step) => availabilityOf(step.state.value))
    .filter((a, i, all) => i === 0 || all[i - 1] !== a);

describe("the link monitor's reachable paths", () => {
  it("reaches every state node, and no error", () => {
    const leaves = stateNodes.filter(({ node }) => node.type === "atomic").map((n) => n.path);
    const reached = leaves.filter((path) => states.some((s) => isIn(s, path)));
    expect(reached).toEqual(leaves);
    expect(states.filter((s) => s.status !== "active")).toEqual([]);
  });

  it("takes every transition it defines (with one or three misses for down)", () => {
    const taken = new Set(
      [...Object.values(adjacency), ...Object.values(adjacencyDownAtFirstMiss)].flatMap((entry) =>
        edgesFrom(entry).flatMap((t) => machine.getTransitionData(entry.state, t.event)),
      ),
    );
    const untaken = [machine.root, ...stateNodes.map(({ node }) => node)].flatMap((node) =>
      [...node.transitions.values()]
        .flat()
        .filter((definition) => !taken.has(definition))
        .map((d) => `${node.id} --${d.eventType}-->`),
    );
    expect(untaken).toEqual([]);
  });

  it("counts misses only while suspect, and is down exactly at missedProbesForDown", () => {
    const { missedProbesForDown } = DEFAULT_LINK_MONITOR;
    const classes = states.map((s) => `${availabilityOf(s.value)} ${s.context.misses}`);
    expect(new Set(classes)).toEqual(
      new Set(["up 0", "suspect 1", "suspect 2", `down ${missedProbesForDown}`]),
    );
  });

  it("goes down only by a miss, and comes up only by proof of life", () => {
    for (const entry of Object.values(adjacency)) {
      const from = availabilityOf(entry.state.value);
      for (const { event, state } of edgesFrom(entry)) {
        const to = availabilityOf(state.value);
        if (to === "down" && from !== "down") {
          expect(event.type === "PROBE_MISSED" || event.type.includes("probeTimeout")).toBe(true);
        }
        if (to === "up" && from !== "up") {
          expect(["TRAFFIC", "PROBE_ANSWERED"]).toContain(event.type);
        }
        // Proof of life always ends in up, carrying, with no misses.
        if (event.type === "TRAFFIC" || event.type === "PROBE_ANSWERED") {
          expect(state.value).toEqual({ up: "carrying" });
          expect(state.context.misses).toBe(0);
        }
      }
    }
  });

  it("names the quickest way down: an idle period, then three timeouts", () => {
    // Misses as the service would see them with nothing reported: timeouts only.
    const toDown = getShortestPaths(machine, {
      ...traversal,
      events: (s) => eventsAt(s).filter((e) => e.type !== "PROBE_MISSED"),
      toState: (s) => availabilityOf(s.value) === "down",
    });
    expect(toDown.map(describePath)).toEqual([
      "probeIdle → probeTimeout → probeTimeout → probeTimeout",
    ]);
  });
});

/** Replays `path` on a running monitor, delays as clock time, checking each step's state. */
function replay(path: Path) {
  const m = startMonitor();
  const downsExpected = path.steps.filter(
    (step, i) =>
      i > 0 &&
      availabilityOf(step.state.value) === "down" &&
      availabilityOf(path.steps[i - 1]!.state.value) !== "down",
  ).length;
  for (const [i, step] of path.steps.entries()) {
    if (i > 0) {
      const before = serializeState(m.actor.getSnapshot());
      const { type } = step.event;
      const delay = /^xstate\.after\.([^.]+)\./.exec(type)?.[1];
      if (delay) {
        const { context } = m.actor.getSnapshot();
        const ms = delay === "probeIdle" ? context.probeIdleMs : context.probeTimeoutMs;
        m.clock.increment(ms - 1);
        expect(serializeState(m.actor.getSnapshot()), `${delay} not before ${ms} ms`).toBe(before);
        m.clock.increment(1);
      } else if (type === "TRAFFIC") {
        m.traffic();
      } else {
        // Probe numbers as the graph offered them: relative to the outstanding one.
        const offset = step.event.probe - path.steps[i - 1]!.state.context.probe;
        const probe = m.actor.getSnapshot().context.probe + offset;
        m.actor.send(
          type === "PROBE_ANSWERED" ? { type, probe, rttMs: 10 } : { type: "PROBE_MISSED", probe },
        );
      }
    }
    expect(serializeState(m.actor.getSnapshot()), `step ${i} of ${describePath(path)}`).toBe(
      serializeState(step.state),
    );
  }
  expect(m.downs, `linkDown on ${describePath(path)}`).toHaveLength(downsExpected);
  return m;
}

describe("the link monitor's paths replayed on a simulated clock", () => {
  it("agrees with the graph on every shortest path", () => {
    const paths = getShortestPaths(machine, traversal);
    expect(paths).toHaveLength(states.length);
    for (const path of paths) replay(path).actor.stop();
  });

  it("agrees on every simple path down, and comes back up from its end on proof of life", () => {
    const toDown = getSimplePaths(machine, {
      ...traversal,
      toState: (s) => availabilityOf(s.value) === "down",
    });
    // Each of the three misses either a timeout or a miss the service reported: 2³ ways.
    expect(toDown).toHaveLength(8);
    for (const [i, path] of toDown.entries()) {
      expect(availabilitiesOf(path)).toEqual(["up", "suspect", "down"]);
      const m = replay(path);
      expect(m.downs).toHaveLength(1);
      expect(m.ups).toEqual([]);
      if (i % 2 === 0) m.traffic();
      else m.answer();
      expect(m.actor.getSnapshot().value).toEqual({ up: "carrying" });
      expect(m.ups).toEqual([{ link: LINK, at: m.clock.now() }]);
      m.actor.stop();
    }
  });
});

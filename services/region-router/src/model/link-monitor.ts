/**
 * One link's availability as an XState machine. It holds no I/O: sending a probe and acting on
 * the link going down or up are actions the service provides; the service reports real traffic
 * and probe answers as events, and the machine keeps its own time (probe idle time, probe
 * timeout) with delayed transitions, so it runs the same on a simulated clock.
 *
 *   up       carrying ──(probeIdleMs without traffic)──► idle   (entry: sendProbe)
 *              ▲                                          │
 *              └──────── TRAFFIC / PROBE_ANSWERED ────────┤
 *                                                         │ a miss: no answer within
 *                                                         │ probeTimeoutMs, or PROBE_MISSED
 *   suspect ◄─────────────────────────────────────────────┘
 *   (entry: sendProbe, at once; a miss re-enters suspect)
 *     │ the missedProbesForDown-th miss in a row
 *     ▼
 *   down     (entry: linkDown)  waiting ──(probeIdleMs)──► probing   (entry: sendProbe)
 *                                  ▲                          │ a miss
 *                                  └──────────────────────────┘
 *
 *   TRAFFIC or PROBE_ANSWERED in any state is proof of life: to up (carrying), the misses
 *   start over; from down, linkUp.
 *
 * Probes go out only on a link that carried no real traffic for probeIdleMs: real requests and
 * replies are the better evidence and cost nothing extra. Each probe has a number; a miss the
 * service reports for an older probe than the one outstanding is stale (that probe's timeout
 * already counted) and is ignored, so no miss is counted twice. Any answer proves the link
 * works, however old the probe it answers.
 */
import { and, assign, setup } from "xstate";

export interface LinkMonitorSettings {
  /** Time without real traffic before a probe; also the probe interval while down. */
  probeIdleMs: number;
  /** How long a probe may go unanswered before it counts as missed. */
  probeTimeoutMs: number;
  /** Missed probes in a row that take the link down. */
  missedProbesForDown: number;
}

/**
 * 5 s of silence before a probe keeps probe traffic to one small request per idle link every
 * few seconds; a 2 s timeout is ten times a long intercontinental round trip, so a slow link is
 * not taken for a dead one; three misses in a row rule out a single lost message. A link that
 * dies while idle is declared down 5 + 3 × 2 = 11 s after its last traffic.
 */
export const DEFAULT_LINK_MONITOR: LinkMonitorSettings = {
  probeIdleMs: 5_000,
  probeTimeoutMs: 2_000,
  missedProbesForDown: 3,
};

export interface LinkMonitorInput extends Partial<LinkMonitorSettings> {
  /** The far region's id. */
  link: number;
}

export type LinkMonitorEvent =
  /** A real request or reply crossed the link at `now` (ms). */
  | { type: "TRAFFIC"; now: number }
  /** Probe number `probe` was answered after `rttMs`. */
  | { type: "PROBE_ANSWERED"; probe: number; rttMs: number }
  /** Probe number `probe` failed before its timeout (for example, nobody to answer it). */
  | { type: "PROBE_MISSED"; probe: number };

export interface LinkMonitorContext extends LinkMonitorSettings {
  link: number;
  /** The number of the latest probe sent; 0 before the first. */
  probe: number;
  /** Probes missed in a row since the last proof of life. */
  misses: number;
  /** When real traffic last crossed the link, as the service reported it. */
  lastTrafficAt: number | undefined;
  /** The round trip of the latest answered probe. */
  lastProbeRttMs: number | undefined;
}

export type LinkAvailability = "up" | "suspect" | "down";

/** The settings an input asks for, defaults filled in; throws on settings that cannot work. */
export function linkMonitorSettings(input: Partial<LinkMonitorSettings>): LinkMonitorSettings {
  const settings: LinkMonitorSettings = {
    probeIdleMs: input.probeIdleMs ?? DEFAULT_LINK_MONITOR.probeIdleMs,
    probeTimeoutMs: input.probeTimeoutMs ?? DEFAULT_LINK_MONITOR.probeTimeoutMs,
    missedProbesForDown: input.missedProbesForDown ?? DEFAULT_LINK_MONITOR.missedProbesForDown,
  };
  for (const [name, value] of Object.entries(settings)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`link monitor: ${name} must be a positive number, not ${value}`);
    }
  }
  if (!Number.isInteger(settings.missedProbesForDown)) {
    throw new RangeError(
      `link monitor: missedProbesForDown must be a whole number, not ${settings.missedProbesForDown}`,
    );
  }
  return settings;
}

export const linkMonitorMachine = setup({
  types: {
    context: {} as LinkMonitorContext,
    events: {} as LinkMonitorEvent,
    input: {} as LinkMonitorInput,
  },
  actions: {
    /** Sends probe number `probe` over the link; its answer comes back as PROBE_ANSWERED. */
    sendProbe: (_, _params: { link: number; probe: number }) => {},
    /** The link is down: the service makes its cost infinite and re-advertises it. */
    linkDown: (_, _params: { link: number }) => {},
    /** The link is back: the service restores its measured cost and re-advertises it. */
    linkUp: (_, _params: { link: number }) => {},
    nextProbe: assign({ probe: ({ context }) => context.probe + 1 }),
    countMiss: assign({ misses: ({ context }) => context.misses + 1 }),
    recordTraffic: assign(({ event }) =>
      event.type === "TRAFFIC" ? { lastTrafficAt: event.now, misses: 0 } : {},
    ),
    recordAnswer: assign(({ event }) =>
      event.type === "PROBE_ANSWERED" ? { lastProbeRttMs: event.rttMs, misses: 0 } : {},
    ),
  },
  delays: {
    probeIdle: ({ context }) => context.probeIdleMs,
    probeTimeout: ({ context }) => context.probeTimeoutMs,
  },
  guards: {
    /** The miss about to be counted is the one that takes the link down. */
    lastMissBeforeDown: ({ context }) => context.misses + 1 >= context.missedProbesForDown,
    /** The event is about the probe now outstanding, not an older one already timed out. */
    isOutstandingProbe: ({ context, event }) =>
      event.type === "PROBE_MISSED" && event.probe === context.probe,
  },
}).createMachine({
  id: "linkMonitor",
  context: ({ input }) => ({
    ...linkMonitorSettings(input),
    link: input.link,
    probe: 0,
    misses: 0,
    lastTrafficAt: undefined,
    lastProbeRttMs: undefined,
  }),
  initial: "up",
  states: {
    up: {
      initial: "carrying",
      on: {
        // Re-entering `carrying` restarts the idle timer and abandons an outstanding probe.
        TRAFFIC: { target: ".carrying", reenter: true, actions: "recordTraffic" },
        PROBE_ANSWERED: { target: ".carrying", reenter: true, actions: "recordAnswer" },
      },
      states: {
        carrying: { after: { probeIdle: "idle" } },
        idle: {
          entry: [
            "nextProbe",
            {
              type: "sendProbe",
              params: ({ context }) => ({ link: context.link, probe: context.probe }),
            },
          ],
          after: {
            probeTimeout: [
              { guard: "lastMissBeforeDown", target: "#linkMonitor.down", actions: "countMiss" },
              { target: "#linkMonitor.suspect", actions: "countMiss" },
            ],
          },
          on: {
            PROBE_MISSED: [
              {
                guard: and(["isOutstandingProbe", "lastMissBeforeDown"]),
                target: "#linkMonitor.down",
                actions: "countMiss",
              },
              { guard: "isOutstandingProbe", target: "#linkMonitor.suspect", actions: "countMiss" },
            ],
          },
        },
      },
    },
    suspect: {
      // One probe missed: ask again at once rather than after another idle period.
      entry: [
        "nextProbe",
        {
          type: "sendProbe",
          params: ({ context }) => ({ link: context.link, probe: context.probe }),
        },
      ],
      after: {
        probeTimeout: [
          { guard: "lastMissBeforeDown", target: "down", actions: "countMiss" },
          { target: "suspect", reenter: true, actions: "countMiss" },
        ],
      },
      on: {
        TRAFFIC: { target: "up", actions: "recordTraffic" },
        PROBE_ANSWERED: { target: "up", actions: "recordAnswer" },
        PROBE_MISSED: [
          {
            guard: and(["isOutstandingProbe", "lastMissBeforeDown"]),
            target: "down",
            actions: "countMiss",
          },
          { guard: "isOutstandingProbe", target: "suspect", reenter: true, actions: "countMiss" },
        ],
      },
    },
    down: {
      entry: { type: "linkDown", params: ({ context }) => ({ link: context.link }) },
      initial: "waiting",
      on: {
        TRAFFIC: {
          target: "up",
          actions: [
            "recordTraffic",
            { type: "linkUp", params: ({ context }) => ({ link: context.link }) },
          ],
        },
        PROBE_ANSWERED: {
          target: "up",
          actions: [
            "recordAnswer",
            { type: "linkUp", params: ({ context }) => ({ link: context.link }) },
          ],
        },
      },
      states: {
        waiting: { after: { probeIdle: "probing" } },
        probing: {
          entry: [
            "nextProbe",
            {
              type: "sendProbe",
              params: ({ context }) => ({ link: context.link, probe: context.probe }),
            },
          ],
          after: { probeTimeout: "waiting" },
          on: { PROBE_MISSED: { guard: "isOutstandingProbe", target: "waiting" } },
        },
      },
    },
  },
});

/** Up, suspect or down, from a snapshot's value. */
export function availabilityOf(value: unknown): LinkAvailability {
  const top = typeof value === "string" ? value : Object.keys(value ?? {})[0];
  if (top === "up" || top === "suspect" || top === "down") return top;
  throw new Error(`not a link monitor state: ${JSON.stringify(value)}`);
}

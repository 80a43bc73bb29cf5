/**
 * One link as an XState machine. It holds no I/O: opening a session (connections, buffers,
 * consumers), running it and closing it are actors the service provides, so the machine can be
 * driven in tests with stand-ins and a simulated clock.
 *
 *   starting ─► connecting ─► active (connected ⇄ upstream_down ⇄ downstream_down)
 *                  │  ▲            │ failure            │ watchdog
 *                  ▼  │            ▼                    ▼
 *          connect_failed    disconnected ─► (delay) ─► connecting ◄─ stalled
 *   any ─STOP─► shutting_down ─► stopped
 *
 * The delay backs off: it doubles with each failure in a row (connect_failed, disconnected) up
 * to the link's maximum, and starts over once a session has run long enough to be sampled.
 *
 * The two sides go down and up independently. While both are down the status names the one that
 * went down last, and when it comes back the other one, still down; `connected` only once both
 * are up again.
 */
import type { LinkStatusName } from "@entente/protocol";
import { assign, fromCallback, fromPromise, setup } from "xstate";
import { type BackoffPolicy, reconnectDelay } from "./backoff.ts";
import { advance, isStalled, type Progress } from "./watchdog.ts";

export interface LinkMachineInput extends BackoffPolicy {
  link: string;
  stallAfterMs: number;
  /** Sampling interval of the running session (lag, forwarded count). */
  tickMs: number;
}

export type LinkEvent =
  | { type: "UPSTREAM_DOWN"; reason: string }
  | { type: "UPSTREAM_UP" }
  | { type: "DOWNSTREAM_DOWN"; reason: string }
  | { type: "DOWNSTREAM_UP" }
  | { type: "SESSION_FAILED"; reason: string }
  | { type: "TICK"; lag: number; forwarded: number; now: number }
  | { type: "STOP" };

export interface LinkContext extends LinkMachineInput {
  session: unknown;
  reason: string | undefined;
  lag: number;
  progress: Progress;
  restarts: number;
  /** Failed connects and sessions in a row, for the backoff. */
  failures: number;
  /** Why the upstream side of the running session is down; undefined while it is up. */
  upstreamDown: string | undefined;
  /** Why the downstream side of the running session is down; undefined while it is up. */
  downstreamDown: string | undefined;
}

const reasonOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error ?? "unknown error");

export const linkMachine = setup({
  types: {
    context: {} as LinkContext,
    events: {} as LinkEvent,
    input: {} as LinkMachineInput,
  },
  actors: {
    /** Connects both sides and prepares the upstream buffer; resolves to the session. */
    openSession: fromPromise<unknown, { link: string }>(async () => {
      throw new Error("openSession is provided by the service");
    }),
    /** Forwards messages; sends UPSTREAM_*, DOWNSTREAM_*, SESSION_FAILED and TICK events. */
    runSession: fromCallback<LinkEvent, { session: unknown; tickMs: number }>(() => {}),
    /** Releases the session's connections; never fails. */
    closeSession: fromPromise<void, { session: unknown }>(async () => {}),
  },
  delays: {
    reconnectDelay: ({ context }) => reconnectDelay(context, context.failures),
  },
  guards: {
    stalled: ({ context, event }) =>
      event.type === "TICK" && isStalled(context.progress, event, context.stallAfterMs),
    upstreamStillDown: ({ context }) => context.upstreamDown !== undefined,
    downstreamStillDown: ({ context }) => context.downstreamDown !== undefined,
  },
  actions: {
    /** A sampled session is a working one: the backoff starts over. */
    recordTick: assign(({ context, event }) =>
      event.type === "TICK"
        ? { lag: event.lag, progress: advance(context.progress, event), failures: 0 }
        : {},
    ),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    recordReason: assign({
      reason: ({ event }) => ("reason" in event ? event.reason : undefined),
    }),
    clearReason: assign({ reason: undefined }),
    upstreamWentDown: assign({
      upstreamDown: ({ event }) => (event.type === "UPSTREAM_DOWN" ? event.reason : undefined),
    }),
    upstreamCameUp: assign({ upstreamDown: undefined }),
    downstreamWentDown: assign({
      downstreamDown: ({ event }) => (event.type === "DOWNSTREAM_DOWN" ? event.reason : undefined),
    }),
    downstreamCameUp: assign({ downstreamDown: undefined }),
  },
}).createMachine({
  id: "link",
  context: ({ input }) => ({
    ...input,
    session: undefined,
    reason: undefined,
    lag: 0,
    progress: { forwarded: 0, at: -1 },
    restarts: 0,
    failures: 0,
    upstreamDown: undefined,
    downstreamDown: undefined,
  }),
  initial: "starting",
  on: { STOP: ".shutting_down" },
  states: {
    starting: { after: { 0: "connecting" } },
    connecting: {
      invoke: {
        src: "openSession",
        input: ({ context }) => ({ link: context.link }),
        onDone: {
          target: "active",
          actions: assign({ session: ({ event }) => event.output, reason: undefined }),
        },
        onError: {
          target: "connect_failed",
          actions: assign({ reason: ({ event }) => reasonOf(event.error) }),
        },
      },
    },
    connect_failed: { entry: "countFailure", after: { reconnectDelay: "connecting" } },
    active: {
      // A new session: not sampled yet, both sides up.
      entry: assign({
        progress: () => ({ forwarded: 0, at: -1 }),
        upstreamDown: undefined,
        downstreamDown: undefined,
      }),
      invoke: {
        src: "runSession",
        input: ({ context }) => ({ session: context.session, tickMs: context.tickMs }),
        // Running the session threw: a failed session, not a dead link.
        onError: {
          target: "disconnected",
          actions: assign({ reason: ({ event }) => reasonOf(event.error) }),
        },
      },
      on: {
        SESSION_FAILED: { target: "disconnected", actions: "recordReason" },
        TICK: { actions: "recordTick" },
      },
      initial: "connected",
      states: {
        connected: {
          entry: "clearReason",
          on: {
            UPSTREAM_DOWN: {
              target: "upstream_down",
              actions: ["recordReason", "upstreamWentDown"],
            },
            DOWNSTREAM_DOWN: {
              target: "downstream_down",
              actions: ["recordReason", "downstreamWentDown"],
            },
            TICK: [
              {
                guard: "stalled",
                target: "#link.stalled",
                actions: assign(({ context, event }) => ({
                  reason: `no progress for ${context.stallAfterMs} ms with ${event.type === "TICK" ? event.lag : 0} messages waiting`,
                })),
              },
              { actions: "recordTick" },
            ],
          },
        },
        upstream_down: {
          on: {
            UPSTREAM_UP: [
              {
                guard: "downstreamStillDown",
                target: "downstream_down",
                actions: [
                  "upstreamCameUp",
                  assign({ reason: ({ context }) => context.downstreamDown }),
                ],
              },
              { target: "connected", actions: "upstreamCameUp" },
            ],
            DOWNSTREAM_DOWN: {
              target: "downstream_down",
              actions: ["recordReason", "downstreamWentDown"],
            },
            DOWNSTREAM_UP: { actions: "downstreamCameUp" },
          },
        },
        downstream_down: {
          on: {
            DOWNSTREAM_UP: [
              {
                guard: "upstreamStillDown",
                target: "upstream_down",
                actions: [
                  "downstreamCameUp",
                  assign({ reason: ({ context }) => context.upstreamDown }),
                ],
              },
              { target: "connected", actions: "downstreamCameUp" },
            ],
            UPSTREAM_DOWN: {
              target: "upstream_down",
              actions: ["recordReason", "upstreamWentDown"],
            },
            UPSTREAM_UP: { actions: "upstreamCameUp" },
          },
        },
      },
    },
    /** Reported, then the session is closed and opened again. */
    stalled: {
      entry: assign({ restarts: ({ context }) => context.restarts + 1 }),
      invoke: {
        src: "closeSession",
        input: ({ context }) => ({ session: context.session }),
        onDone: { target: "connecting", actions: assign({ session: undefined }) },
        onError: { target: "connecting", actions: assign({ session: undefined }) },
      },
    },
    disconnected: {
      entry: "countFailure",
      invoke: {
        src: "closeSession",
        input: ({ context }) => ({ session: context.session }),
        onDone: { actions: assign({ session: undefined }) },
        onError: { actions: assign({ session: undefined }) },
      },
      after: { reconnectDelay: "connecting" },
    },
    shutting_down: {
      on: { STOP: {} },
      invoke: {
        src: "closeSession",
        input: ({ context }) => ({ session: context.session }),
        onDone: { target: "stopped", actions: assign({ session: undefined }) },
        onError: { target: "stopped", actions: assign({ session: undefined }) },
      },
    },
    stopped: { type: "final" },
  },
});

/** The status name of a snapshot value: the innermost state. */
export function statusOf(value: unknown): LinkStatusName {
  let current = value;
  while (typeof current === "object" && current !== null) {
    current = Object.values(current)[0];
  }
  return current as LinkStatusName;
}

/**
 * This region's membership as an XState machine. It holds no I/O: sending the announce and the
 * leave are actors the service provides, registry snapshots arrive as REGISTRY events (already
 * accepted by `acceptSnapshot`), and all waiting is `after` delays, so a simulated clock drives it.
 *
 *   starting ──(the root)──────────────────┐
 *      │                                   ▼
 *      └─► announcing ──accepted──► awaitingRegistry ──lists itself──► serving
 *           ▲  │  │                      │ none in time                   │
 *           │  │  │ ◄────────────────────┘ (not the root)                 │
 *           │  │  └─ final refusal ─► refused ──(maxRetryMs)─► announcing │
 *           │  └─ failure, timeout ─► backingOff ──(delay)───► announcing │
 *           └──────────── a snapshot drops it or marks it gone ───────────┘
 *                         (the root waits in awaitingRegistry instead)
 *
 *   The delay doubles from retryMs with each failure in a row, up to maxRetryMs.
 *
 *   serving: steady ─PARENT_LOST─► parentLost ─PARENT_BACK─► refreshing ⇄ refreshBackoff
 *            (still serving: the registry copy stays readable)    │ accepted
 *            steady ◄─────────────────────────────────────────────┘
 *   any ─LEAVE─► leaving ─► left
 *
 * A region serves cross-region requests only in `serving`: once its own copy of the registry
 * lists it, active, under its name and URL. Refreshing re-announces after the parent was away,
 * since the root may have marked the region dead meanwhile; it never stops serving by itself —
 * only a snapshot that no longer lists the region does. A refusal the root calls final (an id or
 * name held by another region) waits `maxRetryMs` before trying again, as the registry may change.
 */
import type { AnnounceAccepted, RegionAnnounce, RegionLeave } from "@entente/protocol";
import { and, assign, fromPromise, not, type SnapshotFrom, setup } from "xstate";
import { listsSelf, type Registry } from "./registry.ts";

export interface RegionSelf {
  id: number;
  name: string;
  /** The NATS URL other regions use to reach this one. */
  url: string;
  /** Absent only for the root. */
  parent?: number;
}

export interface RetryPolicy {
  /** The first wait after a failed announce; doubled with each failure in a row. */
  retryMs: number;
  /** The longest wait, and the wait after a final refusal. */
  maxRetryMs: number;
}

export interface MembershipSettings extends RetryPolicy {
  /** An announce with no answer by then has failed. */
  announceTimeoutMs: number;
  /** Accepted, but no snapshot listing the region by then: announce again. */
  registryWaitMs: number;
  /** Leaving does not wait for the root longer than this. */
  leaveTimeoutMs: number;
}

export const DEFAULT_MEMBERSHIP: MembershipSettings = {
  retryMs: 1_000,
  maxRetryMs: 30_000,
  announceTimeoutMs: 5_000,
  registryWaitMs: 30_000,
  leaveTimeoutMs: 5_000,
};

export interface MembershipInput extends Partial<MembershipSettings> {
  self: RegionSelf;
  /** This region is the root: it serves once its own registry holds it, never announces. */
  isRoot: boolean;
}

export type MembershipEvent =
  | { type: "REGISTRY"; registry: Registry }
  | { type: "PARENT_LOST" }
  | { type: "PARENT_BACK" }
  | { type: "LEAVE" };

export interface MembershipContext extends MembershipSettings {
  self: RegionSelf;
  isRoot: boolean;
  /** The counter of the last announce sent. */
  seq: number;
  /** Failed announces in a row, for the backoff. */
  failures: number;
  /** The revision of the newest registry seen, and whether it lists this region. */
  revision: number | undefined;
  listed: boolean;
  /** The revision the last accepted announce reported. */
  acceptedRevision: number | undefined;
  /** Why the last announce failed. */
  reason: string | undefined;
}

/** The wait after `failures` failed announces in a row (1 for the first): doubling, capped. */
export function retryDelay(policy: RetryPolicy, failures: number): number {
  const doublings = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(policy.retryMs * 2 ** doublings, policy.maxRetryMs);
}

const reasonOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error ?? "unknown error");

/** A refusal that retrying soon will not change: an EntenteError (or its body) not retryable. */
const isFinalRefusal = (error: unknown): boolean =>
  typeof error === "object" &&
  error !== null &&
  (error as { retryable?: unknown }).retryable === false;

const announceOf = (context: MembershipContext): RegionAnnounce => {
  const { id, name, url, parent } = context.self;
  return parent === undefined
    ? { id, name, url, seq: context.seq }
    : { id, name, url, parent, seq: context.seq };
};

export const membershipMachine = setup({
  types: {
    context: {} as MembershipContext,
    events: {} as MembershipEvent,
    input: {} as MembershipInput,
  },
  actors: {
    /** Sends the announce to the parent (or the root); rejects with the refusal or failure. */
    announce: fromPromise<AnnounceAccepted, RegionAnnounce>(async () => {
      throw new Error("announce is provided by the service");
    }),
    /** Tells the root this region leaves. */
    leave: fromPromise<void, RegionLeave>(async () => {}),
  },
  delays: {
    retryDelay: ({ context }) => retryDelay(context, context.failures),
    maxRetry: ({ context }) => context.maxRetryMs,
    announceTimeout: ({ context }) => context.announceTimeoutMs,
    registryWait: ({ context }) => context.registryWaitMs,
    leaveTimeout: ({ context }) => context.leaveTimeoutMs,
  },
  guards: {
    isRoot: ({ context }) => context.isRoot,
    listed: ({ context }) => context.listed,
    /** A snapshot older than one already seen says nothing new. */
    fresh: ({ context, event }) =>
      event.type === "REGISTRY" &&
      (context.revision === undefined || event.registry.revision > context.revision),
    dropsSelf: ({ context, event }) =>
      event.type === "REGISTRY" && !listsSelf(event.registry, context.self),
    finalRefusal: ({ event }) => "error" in event && isFinalRefusal(event.error),
  },
  actions: {
    recordRegistry: assign(({ context, event }) =>
      event.type === "REGISTRY"
        ? { revision: event.registry.revision, listed: listsSelf(event.registry, context.self) }
        : {},
    ),
    nextSeq: assign({ seq: ({ context }) => context.seq + 1 }),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    recordError: assign({
      reason: ({ event }) => ("error" in event ? reasonOf(event.error) : undefined),
    }),
    recordTimeout: assign({
      reason: ({ context }) => `no answer to the announce in ${context.announceTimeoutMs} ms`,
    }),
    recordAccepted: assign({
      failures: 0,
      reason: undefined,
      acceptedRevision: ({ event }) =>
        "output" in event ? (event.output as AnnounceAccepted).revision : undefined,
    }),
  },
}).createMachine({
  id: "membership",
  context: ({ input }) => ({
    ...DEFAULT_MEMBERSHIP,
    ...input,
    seq: 0,
    failures: 0,
    revision: undefined,
    listed: false,
    acceptedRevision: undefined,
    reason: undefined,
  }),
  initial: "starting",
  on: {
    REGISTRY: { guard: "fresh", actions: "recordRegistry" },
    LEAVE: ".leaving",
  },
  states: {
    starting: {
      always: [{ guard: "isRoot", target: "awaitingRegistry" }, { target: "announcing" }],
    },
    announcing: {
      entry: "nextSeq",
      invoke: {
        src: "announce",
        input: ({ context }) => announceOf(context),
        onDone: { target: "awaitingRegistry", actions: "recordAccepted" },
        onError: [
          { guard: "finalRefusal", target: "refused", actions: "recordError" },
          { target: "backingOff", actions: "recordError" },
        ],
      },
      after: { announceTimeout: { target: "backingOff", actions: "recordTimeout" } },
    },
    backingOff: { entry: "countFailure", after: { retryDelay: "announcing" } },
    refused: { after: { maxRetry: "announcing" } },
    awaitingRegistry: {
      // The snapshot may have arrived before the announce's answer: checked on entry too.
      always: { guard: "listed", target: "serving" },
      after: { registryWait: { guard: not("isRoot"), target: "announcing" } },
    },
    serving: {
      on: {
        REGISTRY: [
          // The root has no one to announce to: it waits for its own registry to hold it again.
          {
            guard: and(["fresh", "dropsSelf", "isRoot"]),
            target: "awaitingRegistry",
            actions: "recordRegistry",
          },
          { guard: and(["fresh", "dropsSelf"]), target: "announcing", actions: "recordRegistry" },
          { guard: "fresh", actions: "recordRegistry" },
        ],
      },
      initial: "steady",
      states: {
        steady: { on: { PARENT_LOST: { guard: not("isRoot"), target: "parentLost" } } },
        parentLost: { on: { PARENT_BACK: "refreshing" } },
        refreshing: {
          entry: "nextSeq",
          invoke: {
            src: "announce",
            input: ({ context }) => announceOf(context),
            onDone: { target: "steady", actions: "recordAccepted" },
            onError: { target: "refreshBackoff", actions: "recordError" },
          },
          after: { announceTimeout: { target: "refreshBackoff", actions: "recordTimeout" } },
          on: { PARENT_LOST: "parentLost" },
        },
        refreshBackoff: {
          entry: "countFailure",
          after: { retryDelay: "refreshing" },
          on: { PARENT_LOST: "parentLost" },
        },
      },
    },
    leaving: {
      on: { LEAVE: {} },
      invoke: {
        src: "leave",
        input: ({ context }) => ({ id: context.self.id }),
        onDone: "left",
        onError: { target: "left", actions: "recordError" },
      },
      after: { leaveTimeout: "left" },
    },
    left: { type: "final" },
  },
});

export type MembershipSnapshot = SnapshotFrom<typeof membershipMachine>;

export type MembershipPhase =
  | "starting"
  | "announcing"
  | "backingOff"
  | "refused"
  | "awaitingRegistry"
  | "serving"
  | "leaving"
  | "left";

/** The top-level state: what the region's operators see. */
export const phaseOf = (snapshot: MembershipSnapshot): MembershipPhase =>
  (typeof snapshot.value === "string"
    ? snapshot.value
    : Object.keys(snapshot.value)[0]) as MembershipPhase;

/** Whether the region may serve cross-region requests. */
export const isServing = (snapshot: MembershipSnapshot): boolean => snapshot.matches("serving");

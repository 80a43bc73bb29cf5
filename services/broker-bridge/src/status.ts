/** The status of a link as published on `entente.bridge.status.<link>`. */
import type { LinkStatusName } from "./link-machine.ts";
import type { LinkCounters } from "./session.ts";

export interface LinkStatus {
  link: string;
  status: LinkStatusName;
  /** When the link entered this status (ISO 8601). */
  since: string;
  reason: string | undefined;
  /** Messages waiting upstream plus those in flight. */
  lag: number;
  /** Messages per second over the last status interval. */
  rates: { forwarded: number; notForwarded: number };
  lastForwardedAt: string | undefined;
  counters: LinkCounters;
  /** The bridge worker that owns the link. */
  owner: string;
  restarts: number;
  /** The last message that could not be forwarded and why. */
  lastProblem: string | undefined;
  at: string;
}

export function notForwarded(c: LinkCounters): number {
  return c.loops + c.maxHops + c.expired + c.malformed + c.oversized;
}

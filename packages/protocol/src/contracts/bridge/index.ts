/**
 * The broker bridge's control subjects under `<deployment>.bridge.`: add, remove and list links,
 * and each link's status as its owner publishes it.
 */
import { z } from "zod";
import { DEFAULT_DEPLOYMENT, subjectsOf } from "../../subjects.ts";
import { type LinkDefinition, linkName } from "./link.ts";

export * from "./link.ts";
export * from "./subject-rules.ts";
export * from "./urls.ts";

/** The bridge's control subjects in one deployment. */
export function bridgeSubjectsOf(deployment: string) {
  const { bridge } = subjectsOf(deployment);
  return {
    /** Adds a link, or changes one: `{ link, definition }`. */
    add: `${bridge}.links.add`,
    /** Removes a link (configured or added at run time): `{ link }`. */
    remove: `${bridge}.links.remove`,
    /** Every link known to the bridge with its definition and last status. */
    list: `${bridge}.links.list`,
    /** Every link's status, published by its owner: `<deployment>.bridge.status.<link>`. */
    statusAll: `${bridge}.status.*`,
  } as const;
}

/** The default deployment's bridge subjects. */
export const BRIDGE_SUBJECTS = bridgeSubjectsOf(DEFAULT_DEPLOYMENT);

/** `definition` is checked against `linkSchema` on its own, so its errors name the link. */
export const addLinkRequestSchema = z.strictObject({ link: linkName, definition: z.unknown() });
export type AddLinkRequest = z.output<typeof addLinkRequestSchema>;

/** The link as it now runs, defaults filled in and passwords left out. */
export interface AddLinkReply {
  link: string;
  definition: LinkDefinition;
}

export const removeLinkRequestSchema = z.strictObject({ link: linkName });
export type RemoveLinkRequest = z.output<typeof removeLinkRequestSchema>;

export interface RemoveLinkReply {
  link: string;
  removed: true;
}

export const LINK_STATUSES = [
  "starting",
  "connecting",
  "connected",
  "connect_failed",
  "disconnected",
  "upstream_down",
  "downstream_down",
  "stalled",
  "shutting_down",
  "stopped",
] as const;
export type LinkStatusName = (typeof LINK_STATUSES)[number];

export interface LinkCounters {
  /** Confirmed by the downstream. */
  forwarded: number;
  /** Not forwarded: the downstream broker is already on the message's path. */
  loops: number;
  /** Not forwarded: max hops reached. */
  maxHops: number;
  /** Not forwarded: older than the message TTL. */
  expired: number;
  malformed: number;
  oversized: number;
  /** Sent but not confirmed by the downstream: delivered again. */
  retried: number;
  /** Confirmed as already there: removed by the downstream stream's duplicate window. */
  duplicates: number;
}

/** The status of a link as published on `entente.bridge.status.<link>`. */
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

export interface LinkListEntry {
  link: string;
  source: "config" | "runtime";
  /** As configured or added, with passwords in URLs left out. */
  definition: LinkDefinition;
  /** The last status its owner published; absent until one arrived. */
  status: LinkStatus | undefined;
}

/** The reply of `entente.bridge.links.list`. */
export interface LinkListReply {
  links: LinkListEntry[];
}

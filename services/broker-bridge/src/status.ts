/** Messages a link settled upstream without forwarding them, for the status rate. */
import type { LinkCounters } from "@entente/protocol";

export function notForwarded(c: LinkCounters): number {
  return c.loops + c.maxHops + c.expired + c.malformed + c.oversized;
}

/**
 * Loop prevention. Every forwarded message carries the brokers it has been on and how many
 * links it has crossed; a link never forwards a message into a broker on its path, nor beyond
 * its max hops. Pure: the link hands in the header values and the two brokers' ids.
 */
import { EntenteError } from "@entente/protocol";

export const PATH_HEADER = "Entente-Bridge-Path";
export const HOPS_HEADER = "Entente-Bridge-Hops";

export type Crossing =
  | { forward: true; path: string; hops: number }
  | { forward: false; reason: "loop" | "max_hops" };

/**
 * Decides whether a message read from `upstreamId` may cross into `downstreamId`, and what path
 * and hop count it carries there. Throws MALFORMED for header values no bridge would write.
 */
export function crossing(
  pathValue: string | undefined,
  hopsValue: string | undefined,
  upstreamId: string,
  downstreamId: string,
  maxHops: number,
): Crossing {
  const path = parsePath(pathValue);
  const hops = parseHops(hopsValue);
  if (path.at(-1) !== upstreamId && !path.includes(upstreamId)) path.push(upstreamId);
  if (path.includes(downstreamId)) return { forward: false, reason: "loop" };
  if (hops + 1 > maxHops) return { forward: false, reason: "max_hops" };
  path.push(downstreamId);
  return { forward: true, path: path.join(","), hops: hops + 1 };
}

function parsePath(value: string | undefined): string[] {
  if (value === undefined || value === "") return [];
  const ids = value.split(",");
  if (ids.some((id) => id.trim() === "" || id.trim() !== id)) {
    throw new EntenteError(
      "MALFORMED",
      `header ${PATH_HEADER} ${JSON.stringify(value)} is not a list of broker ids`,
    );
  }
  return ids;
}

function parseHops(value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  if (!/^\d{1,4}$/.test(value)) {
    throw new EntenteError(
      "MALFORMED",
      `header ${HOPS_HEADER} ${JSON.stringify(value)} is not a hop count`,
    );
  }
  return Number(value);
}

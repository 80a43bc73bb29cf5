/**
 * Workers that share a queue group on a subject must answer alike. Each endpoint publishes, in
 * its `$SRV.INFO` metadata, a fingerprint of the configuration its answers depend on; a worker
 * about to join asks the running workers of its service for theirs and refuses to join where a
 * subject it serves is served by the same queue group from another configuration. Workers of
 * the same service on other subjects (a federation of edges, each on its own subject) or of
 * another deployment are not compared.
 */
import { jsonCodec } from "@entente/protocol";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { connectionInboxPrefix } from "../stream/inbox-mux.ts";

/** The metadata keys a worker publishes in `$SRV` replies. */
export const PEER_METADATA = { deployment: "deployment", fingerprint: "fingerprint" } as const;

/** One endpoint as its worker serves it: subject, queue group and configuration fingerprint. */
export interface ServedEndpoint {
  subject: string;
  queue: string;
  fingerprint: string;
}

/** A running worker serving one of our subjects in our queue group from another configuration. */
export interface PeerMismatch {
  id: string;
  subject: string;
  theirs: string;
  mine: string;
}

/**
 * The `$SRV.INFO` (or `verb`) replies of the running workers of `service` that arrive within
 * `waitMs`.
 */
export async function askPeers(
  nc: NatsConnection,
  service: string,
  waitMs: number,
  verb: "INFO" | "STATS" = "INFO",
): Promise<unknown[]> {
  const inbox = createInbox(connectionInboxPrefix(nc));
  const replies: unknown[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (!err) replies.push(safeDecode(msg.data));
    },
  });
  nc.publish(`$SRV.${verb}.${service}`, undefined, { reply: inbox });
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  sub.unsubscribe();
  return replies;
}

function safeDecode(data: Uint8Array): unknown {
  try {
    return jsonCodec.decode(data);
  } catch {
    return undefined;
  }
}

/**
 * Where the worker that sent `info` (a `$SRV.INFO` reply) serves a subject of `mine`, in the
 * same queue group and deployment, with another fingerprint. Anything unreadable is no peer.
 */
export function mismatchesIn(
  info: unknown,
  deployment: string,
  mine: readonly ServedEndpoint[],
): PeerMismatch[] {
  if (typeof info !== "object" || info === null) return [];
  const { id, metadata, endpoints } = info as {
    id?: unknown;
    metadata?: Record<string, unknown> | null;
    endpoints?: unknown;
  };
  if (typeof id !== "string" || metadata?.[PEER_METADATA.deployment] !== deployment) return [];
  if (!Array.isArray(endpoints)) return [];
  const found: PeerMismatch[] = [];
  for (const endpoint of endpoints as Array<Record<string, unknown> | null>) {
    const theirs = (endpoint?.metadata as Record<string, unknown> | undefined)?.[
      PEER_METADATA.fingerprint
    ];
    if (typeof theirs !== "string") continue;
    for (const own of mine) {
      if (own.subject !== endpoint?.subject || own.queue !== endpoint?.queue_group) continue;
      if (own.fingerprint !== theirs) {
        found.push({ id, subject: own.subject, theirs, mine: own.fingerprint });
      }
    }
  }
  return found;
}

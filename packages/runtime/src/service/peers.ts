/**
 * Workers of one service in one deployment must answer alike: a worker about to join its queue
 * group asks the running ones (`$SRV.INFO.<service>`) for the fingerprint of the configuration
 * that determines their answers, and refuses to join peers whose fingerprint differs.
 */
import { jsonCodec } from "@entente/protocol";
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import { connectionInboxPrefix } from "../stream/inbox-mux.ts";

export interface PeerIdentity {
  id: string;
  fingerprint: string;
}

/** The metadata keys a worker publishes in `$SRV` replies. */
export const PEER_METADATA = { deployment: "deployment", fingerprint: "fingerprint" } as const;

/**
 * The fingerprints of the running workers of `service` in `deployment`: whoever answers within
 * `waitMs`. A worker of another deployment, or one without a fingerprint, is not a peer.
 */
export async function askPeers(
  nc: NatsConnection,
  service: string,
  deployment: string,
  waitMs: number,
): Promise<PeerIdentity[]> {
  const inbox = createInbox(connectionInboxPrefix(nc));
  const peers: PeerIdentity[] = [];
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return;
      const peer = peerOf(safeDecode(msg.data), deployment);
      if (peer) peers.push(peer);
    },
  });
  nc.publish(`$SRV.INFO.${service}`, undefined, { reply: inbox });
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  sub.unsubscribe();
  return peers;
}

function safeDecode(data: Uint8Array): unknown {
  try {
    return jsonCodec.decode(data);
  } catch {
    return undefined;
  }
}

/** A `$SRV.INFO` reply as a peer of `deployment`, or undefined when it is none. */
export function peerOf(info: unknown, deployment: string): PeerIdentity | undefined {
  if (typeof info !== "object" || info === null) return undefined;
  const { id, metadata } = info as { id?: unknown; metadata?: Record<string, unknown> };
  const fingerprint = metadata?.[PEER_METADATA.fingerprint];
  if (metadata?.[PEER_METADATA.deployment] !== deployment) return undefined;
  if (typeof id !== "string" || typeof fingerprint !== "string") return undefined;
  return { id, fingerprint };
}

/** The peers whose configuration differs from `mine`. */
export function mismatchedPeers(mine: string, peers: readonly PeerIdentity[]): PeerIdentity[] {
  return peers.filter((peer) => peer.fingerprint !== mine);
}

/**
 * The names a bridge uses on the brokers it touches, all owned by its deployment, so bridges of
 * two deployments sharing a server never take each other's buffers, consumers or leases.
 */
import { bucketNameOf, type NatsUpstream, streamNameOf, subjectsOf } from "@entente/protocol";

export interface BridgeNames {
  /** KV bucket of links added, changed or removed at run time: every worker watches it. */
  linksBucket: string;
  /** KV bucket with one key per link, held by its owner and renewed; gone when the owner is. */
  leasesBucket: string;
  /** Where a link's owner publishes its status. */
  status(link: string): string;
  /** The buffer stream of a NATS upstream, unless the link names its own. */
  bufferStream(link: string, upstream: NatsUpstream): string;
  /** The durable consumer (and RabbitMQ queue) of a link on its upstream. */
  durable(link: string): string;
}

export function bridgeNamesOf(deployment: string): BridgeNames {
  const subjects = subjectsOf(deployment);
  return {
    linksBucket: bucketNameOf(deployment, "bridge_links"),
    leasesBucket: bucketNameOf(deployment, "bridge_leases"),
    status: subjects.bridgeStatus,
    bufferStream: (link, upstream) =>
      upstream.stream ?? streamNameOf(deployment, `BRIDGE_${link.replaceAll("-", "_")}`),
    durable: (link) => `${deployment}_bridge_${link}`,
  };
}

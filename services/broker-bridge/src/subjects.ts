/** Control subjects of the broker bridge, under `entente.bridge.`. */
import { SUBJECTS } from "@entente/protocol";

export const BRIDGE_SUBJECTS = {
  /** Adds a link, or changes one: `{ link, definition }`. */
  add: `${SUBJECTS.bridge}.links.add`,
  /** Removes a link (configured or added at run time): `{ link }`. */
  remove: `${SUBJECTS.bridge}.links.remove`,
  /** Every link known to the bridge with its definition and last status. */
  list: `${SUBJECTS.bridge}.links.list`,
  /** Every link's status, published by its owner: `entente.bridge.status.<link>`. */
  statusAll: `${SUBJECTS.bridge}.status.*`,
} as const;

/** JetStream KV buckets on the workers' own NATS. */
export const BRIDGE_BUCKETS = {
  /** Links added, changed or removed at run time: every worker watches it. */
  links: "entente_bridge_links",
  /** One key per link, held by its owner and renewed; gone when the owner is. */
  leases: "entente_bridge_leases",
} as const;

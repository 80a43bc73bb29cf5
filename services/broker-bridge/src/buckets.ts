/** Where bridge workers keep what they share, on their own NATS. */
export const BRIDGE_BUCKETS = {
  /** Links added, changed or removed at run time: every worker watches it. */
  links: "entente_bridge_links",
  /** One key per link, held by its owner and renewed; gone when the owner is. */
  leases: "entente_bridge_leases",
} as const;

/**
 * The `regionRouter:` section. The region itself (id, name, parent) is the core `region:`
 * section every worker has; this section says how other regions reach this one and where it
 * joins. Everything else — who exists, how to reach them, what it costs — is learned.
 */
import { z } from "zod";

const natsUrl = z.string().min(1).max(1024);

export const regionRouterSchema = z
  .strictObject({
    /** The NATS URL other regions use to reach this region; default: the first of `nats.servers`. */
    url: natsUrl.optional(),
    /** The root's (or a regional hub's) NATS URL to announce to; absent: this region is the root. */
    join: natsUrl.optional(),
    /** Links kept to other regions; tree links (parent, children) are kept whatever the count. */
    maxDegree: z.number().int().min(1).max(64).default(8),
    /** A link without real traffic for this long is probed. */
    probeIdleMs: z.number().int().min(50).default(5_000),
    /** A probe not answered within this long is missed. */
    probeTimeoutMs: z.number().int().min(10).default(2_000),
    /** Probes missed in a row before a link is down. */
    missedProbesForDown: z.number().int().min(1).max(20).default(3),
    /** This region re-advertises its links at least this often. */
    advertiseEveryMs: z.number().int().min(100).default(20_000),
    /** Another region's advert not refreshed within this long is dropped (its links with it). */
    advertMaxAgeMs: z.number().int().min(300).default(60_000),
    /** A link's cost is re-advertised when it moved by more than this fraction. */
    hysteresis: z.number().min(0).max(10).default(0.1),
    /** A shortcut candidate is tried this often (one at a time). */
    shortcutEveryMs: z.number().int().min(100).default(30_000),
    /** The root marks a region dead when nothing was heard of it for this long. */
    deadAfterMs: z.number().int().min(500).default(60_000),
    /** A neighbour's clock further off than this is logged as a warning. */
    clockOffsetWarnMs: z.number().min(0).default(500),
    /** Relay hops a routed request may take. */
    maxHops: z.number().int().min(1).max(64).default(16),
  })
  .prefault({});

export type RegionRouterSettings = z.output<typeof regionRouterSchema>;

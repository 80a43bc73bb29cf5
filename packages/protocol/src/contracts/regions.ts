/**
 * The region router's messages: membership (announce, leave), the replicated region registry,
 * link-state adverts, clock/latency probes, and the replies of the command line.
 *
 * Which subject carries what (`subjectsOf(deployment).router` in subjects.ts names them; `<id>`
 * is a region id in decimal):
 *
 *   <deployment>.router.announce          RegionAnnounce → AnnounceReply; asked of the parent (or
 *                                         the root), which passes it on to the root through
 *                                         <deployment>.r.<root>.fwd.<deployment>.router.announce
 *   <deployment>.router.leave             RegionLeave → LeaveReply, answered by the root
 *   <deployment>.router.registry          the registry as this region holds it
 *   <deployment>.r.<id>.router.registry   the registry flooded to region <id>
 *
 * The registry travels whole, as a RegistrySnapshot signed by the root (the router's
 * signed-registry.ts), in one message: that holds a few thousand regions within NATS's default
 * 1 MiB payload. RegistrySnapshotPage describes the paged form a larger registry will need; the
 * router does not page yet.
 *   <deployment>.r.<id>.router.adverts    LinkStateAdvert, flooded to region <id>
 *   <deployment>.r.<id>.router.probe      Probe → ProbeReply, between linked regions
 *   <deployment>.router.regions           RegionsReply (command line)
 *   <deployment>.router.links             LinksReply (command line)
 *   <deployment>.router.route             RouteRequest → RouteReply (command line)
 *
 * A rejected announce or leave is the one error shape (errors.ts): BAD_REQUEST naming every
 * problem in `details.problems`, as `parseMessage` reports invalid fields. There is no conflict
 * code; a conflict (an id or name held by another region) is a BAD_REQUEST whose message says so.
 */
import { z } from "zod";
import { EntenteError, type ErrorReply } from "../errors.ts";
import { MAX_REGION_ID, MIN_REGION_ID } from "../ids.ts";
import { natsUrlProblem } from "./bridge/urls.ts";

/** Every possible region id: the registry can never hold more. */
export const MAX_REGIONS = MAX_REGION_ID;
/** Region names become subject tokens and show in logs; short and without dots. */
export const MAX_REGION_NAME = 64;
export const MAX_REGION_URL = 1024;
/** Links a region keeps: bounded so adverts and route computations stay small. */
export const MAX_LINKS = 64;
/**
 * Regions per snapshot page. A region's entry is at most about 1.2 KiB (a 64-character name, a
 * 1024-character URL, five numbers and the keys), so a page stays near 600 KiB, under NATS's
 * default 1 MiB max payload. A whole registry of MAX_REGIONS entries (up to ~78 MiB) never
 * travels as one message: it goes as at most MAX_SNAPSHOT_PAGES pages.
 */
export const REGISTRY_PAGE_REGIONS = 512;
export const MAX_SNAPSHOT_PAGES = Math.ceil(MAX_REGIONS / REGISTRY_PAGE_REGIONS);

export const REGION_STATUSES = ["active", "departed", "dead"] as const;
export type RegionStatus = (typeof REGION_STATUSES)[number];

export const regionIdSchema = z
  .number()
  .int("a region id is an integer")
  .min(MIN_REGION_ID, `a region id is from ${MIN_REGION_ID} to ${MAX_REGION_ID}`)
  .max(MAX_REGION_ID, `a region id is from ${MIN_REGION_ID} to ${MAX_REGION_ID}`);

export const regionNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, "use letters, digits, '-' and '_' (it becomes a subject token)")
  .max(MAX_REGION_NAME, `at most ${MAX_REGION_NAME} characters`);

/** The URL is replicated to every region: a password in it would be too, so none is allowed. */
function regionUrlProblem(value: string): string | undefined {
  const problem = natsUrlProblem(value);
  if (problem !== undefined) return problem;
  if (value.split(",").some((server) => /^[^/]*\/\/[^/]*@/.test(server.trim()))) {
    return "no credentials in a region URL: it is replicated to every region";
  }
  return undefined;
}

export const regionUrlSchema = z
  .string()
  .max(MAX_REGION_URL, `at most ${MAX_REGION_URL} characters`)
  .superRefine((value, ctx) => {
    if (value.length > MAX_REGION_URL) return; // already reported; not worth parsing
    const message = regionUrlProblem(value);
    if (message !== undefined) ctx.addIssue({ code: "custom", message });
  });

/** Milliseconds since the epoch. */
const epochMs = z.number().int("milliseconds, an integer").nonnegative();
/** A revision of the registry: bumped by one for every change replicas must see. */
const revisionSchema = z.number().int().nonnegative();
/** A per-sender counter. */
const seqSchema = z.number().int().nonnegative();
/** A link cost: finite (z.number refuses Infinity and NaN) and not negative. */
const costSchema = z.number().nonnegative("a cost is not negative");

export const regionInfoSchema = z.strictObject({
  id: regionIdSchema,
  name: regionNameSchema,
  /** Absent only for the root. */
  parent: regionIdSchema.optional(),
  /** The NATS URL other regions use to reach this one. */
  url: regionUrlSchema,
  status: z.enum(REGION_STATUSES),
  /** When the region entered its status. */
  since: epochMs,
  /** When the root last heard from it. */
  lastSeen: epochMs.optional(),
});
export type RegionInfo = z.output<typeof regionInfoSchema>;

export const regionAnnounceSchema = z.strictObject({
  id: regionIdSchema,
  name: regionNameSchema,
  /** Absent only for the root. */
  parent: regionIdSchema.optional(),
  url: regionUrlSchema,
  /** The announcer's own counter, so a retransmit can be told from a new announce. */
  seq: seqSchema,
});
export type RegionAnnounce = z.output<typeof regionAnnounceSchema>;

export const announceAcceptedSchema = z.strictObject({
  accepted: z.literal(true),
  /** The registry revision that holds the region; its snapshot lists it. */
  revision: revisionSchema,
});
export type AnnounceAccepted = z.output<typeof announceAcceptedSchema>;
/** Accepted, or refused with the error shape (see regionRefusal). */
export type AnnounceReply = AnnounceAccepted | ErrorReply;

export const regionLeaveSchema = z.strictObject({ id: regionIdSchema });
export type RegionLeave = z.output<typeof regionLeaveSchema>;

export const leaveReplySchema = z.strictObject({ left: z.literal(true), revision: revisionSchema });
export type LeaveReply = z.output<typeof leaveReplySchema>;

/** One problem of a refused announce or leave: the field, and what is wrong with it. */
export interface RegionProblem {
  field: string;
  message: string;
}

/**
 * The error a refused announce or leave is answered with. `retryable` when waiting may help
 * (a parent that has not announced itself yet), so the announcer keeps trying.
 */
export function regionRefusal(
  what: string,
  problems: readonly RegionProblem[],
  retryable = false,
): EntenteError {
  const summary = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  return new EntenteError("BAD_REQUEST", `${what} refused: ${summary}`, {
    retryable,
    details: { problems: problems.map((p) => ({ path: p.field, message: p.message })) },
  });
}

export const registrySnapshotSchema = z.strictObject({
  root: regionIdSchema,
  revision: revisionSchema,
  regions: z.array(regionInfoSchema).max(MAX_REGIONS, `at most ${MAX_REGIONS} regions`),
});
export type RegistrySnapshot = z.output<typeof registrySnapshotSchema>;

/** One page of a snapshot, as it travels: pages of one revision make up the whole registry. */
export const registrySnapshotPageSchema = z
  .strictObject({
    root: regionIdSchema,
    revision: revisionSchema,
    page: z.number().int().nonnegative(),
    pages: z.number().int().min(1).max(MAX_SNAPSHOT_PAGES, `at most ${MAX_SNAPSHOT_PAGES} pages`),
    regions: z
      .array(regionInfoSchema)
      .max(REGISTRY_PAGE_REGIONS, `at most ${REGISTRY_PAGE_REGIONS} regions a page`),
  })
  .refine((p) => p.page < p.pages, { message: "page is past the last page", path: ["page"] });
export type RegistrySnapshotPage = z.output<typeof registrySnapshotPageSchema>;

/** Splits a snapshot into pages of at most REGISTRY_PAGE_REGIONS regions (one for none). */
export function snapshotPages(snapshot: RegistrySnapshot): RegistrySnapshotPage[] {
  const { root, revision, regions } = snapshot;
  const pages = Math.max(1, Math.ceil(regions.length / REGISTRY_PAGE_REGIONS));
  return Array.from({ length: pages }, (_, page) => ({
    root,
    revision,
    page,
    pages,
    regions: regions.slice(page * REGISTRY_PAGE_REGIONS, (page + 1) * REGISTRY_PAGE_REGIONS),
  }));
}

/**
 * Joins the pages of one snapshot, in any order. Refuses a mix of revisions or roots, a missing
 * or repeated page: a replica never applies half a registry.
 */
export function joinSnapshotPages(
  pages: readonly RegistrySnapshotPage[],
): { snapshot: RegistrySnapshot } | { problem: string } {
  const first = pages[0];
  if (first === undefined) return { problem: "no pages" };
  const { root, revision, pages: count } = first;
  const byIndex = new Map<number, RegistrySnapshotPage>();
  for (const p of pages) {
    if (p.root !== root || p.revision !== revision || p.pages !== count) {
      return { problem: `page ${p.page} belongs to another snapshot (revision ${p.revision})` };
    }
    if (byIndex.has(p.page)) return { problem: `page ${p.page} came twice` };
    byIndex.set(p.page, p);
  }
  if (byIndex.size !== count) {
    return { problem: `${count - byIndex.size} of ${count} pages are missing` };
  }
  const regions: RegionInfo[] = [];
  for (let i = 0; i < count; i++) regions.push(...byIndex.get(i)!.regions);
  return { snapshot: { root, revision, regions } };
}

export const linkAdvertEntrySchema = z.strictObject({ to: regionIdSchema, cost: costSchema });

/** A region's links and their costs, flooded to every region (link-state). */
export const linkStateAdvertSchema = z
  .strictObject({
    origin: regionIdSchema,
    /** The origin's counter: a region keeps only the newest advert of each origin. */
    seq: seqSchema,
    issuedAt: epochMs,
    links: z.array(linkAdvertEntrySchema).max(MAX_LINKS, `at most ${MAX_LINKS} links`),
  })
  .superRefine((advert, ctx) => {
    const seen = new Set<number>();
    advert.links.forEach((link, i) => {
      if (link.to === advert.origin) {
        ctx.addIssue({ code: "custom", path: ["links", i, "to"], message: "a link to itself" });
      } else if (seen.has(link.to)) {
        ctx.addIssue({ code: "custom", path: ["links", i, "to"], message: `${link.to} twice` });
      }
      seen.add(link.to);
    });
  });
export type LinkStateAdvert = z.output<typeof linkStateAdvertSchema>;

/** A probe's times are the sender's and receiver's clocks in ms (fractions allowed). */
const clockMs = z.number().nonnegative();

export const probeSchema = z.strictObject({ t1: clockMs, from: regionIdSchema });
export type Probe = z.output<typeof probeSchema>;

/** t1 echoed; t2 when the probe arrived, t3 when the reply left, on the replier's clock. */
export const probeReplySchema = z
  .strictObject({
    t1: clockMs,
    t2: clockMs,
    t3: clockMs,
    from: regionIdSchema,
    /** The replier's busy fraction, 0..1: relaying through a loaded region costs more. */
    load: z.number().min(0).max(1),
  })
  .refine((r) => r.t3 >= r.t2, { message: "t3 is before t2", path: ["t3"] });
export type ProbeReply = z.output<typeof probeReplySchema>;

/** A cost the command line shows: null is infinite (unreachable). */
const shownCost = costSchema.nullable();

export const regionsReplySchema = z.strictObject({
  self: regionIdSchema,
  revision: revisionSchema,
  regions: z
    .array(
      regionInfoSchema.extend({
        reachable: z.boolean(),
        clockOffsetMs: z.number().optional(),
      }),
    )
    .max(MAX_REGIONS),
});
export type RegionsReply = z.output<typeof regionsReplySchema>;

export const linksReplySchema = z.strictObject({
  self: regionIdSchema,
  links: z
    .array(
      z.strictObject({
        to: regionIdSchema,
        name: regionNameSchema.optional(),
        up: z.boolean(),
        /** A connection to the region is open. */
        open: z.boolean(),
        latencyMs: z.number().nonnegative().optional(),
        setupMs: z.number().nonnegative().optional(),
        load: z.number().min(0).max(1).optional(),
        cost: shownCost,
        clockOffsetMs: z.number().optional(),
      }),
    )
    .max(MAX_LINKS),
});
export type LinksReply = z.output<typeof linksReplySchema>;

const figure = z.number().int().nonnegative();

/**
 * Reads by id from this region to an owner region, as the region's sql-join workers count them:
 * requests and reply bytes, ids answered from replicas, the replica store (its entries and
 * bytes, evictions to keep its budget, replicas dropped when the owner's stream no longer held
 * their changes), failed polls of the owner's change feed, and how long ago the last poll that
 * committed started (null when none has).
 */
export const dataTrafficSchema = z.strictObject({
  requests: figure,
  bytes: figure,
  replicaHits: figure,
  evictions: figure,
  dropped: figure,
  feedErrors: figure,
  replicas: figure,
  replicaBytes: figure,
  stalenessMs: z.number().nonnegative().nullable(),
});
export type DataTraffic = z.output<typeof dataTrafficSchema>;

/**
 * Requests this region's clients sent to another region through the routers, and bytes; with
 * `data` where this region's sql-join workers read that region's rows by id.
 */
export const trafficReplySchema = z.strictObject({
  self: regionIdSchema,
  to: z
    .array(
      z.strictObject({
        region: regionIdSchema,
        requests: figure,
        requestBytes: figure,
        replyBytes: figure,
        data: dataTrafficSchema.optional(),
      }),
    )
    .max(MAX_REGIONS),
});
export type TrafficReply = z.output<typeof trafficReplySchema>;

export const routeRequestSchema = z.strictObject({ to: regionIdSchema });
export type RouteRequest = z.output<typeof routeRequestSchema>;

export const routeReplySchema = z.strictObject({
  from: regionIdSchema,
  to: regionIdSchema,
  reachable: z.boolean(),
  cost: shownCost,
  /** From `from` to `to`, both included; empty when unreachable. */
  path: z.array(regionIdSchema).max(MAX_REGIONS),
});
export type RouteReply = z.output<typeof routeReplySchema>;

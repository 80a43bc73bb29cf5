/**
 * Link state and routes: this region's own advert (its links and their costs), flooded when it
 * changes; every region's advert kept in the link-state database; the shortest paths over it,
 * damped against flapping; and where a routed message goes next.
 */
import {
  type DeploymentSubjects,
  EntenteError,
  type LinkStateAdvert,
  linkStateAdvertSchema,
} from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { RegionRouterSettings } from "./config.ts";
import type { Link } from "./link.ts";
import { type Flood, FROM_HEADER } from "./link-set.ts";
import { costChangedBeyond } from "./model/link-cost.ts";
import { LinkStateDb } from "./model/link-state.ts";
import type { Registry } from "./model/registry.ts";
import { computeRoutes, type RouteTable, stabilize } from "./model/routes.ts";
import type { NextHop } from "./relay.ts";
import type { RouterStore } from "./store.ts";
import { encodeJson, readBody, respondError } from "./wire.ts";

/**
 * Adverts are numbered from the origin's clock in ms and at most a few per second, so a number
 * more than a day ahead of ours is not a real one (clocks that far apart are warned about).
 */
const MAX_SEQ_AHEAD_MS = 24 * 60 * 60 * 1000;

/** Adverts held for regions the registry does not list yet: a bounded few. */
const MAX_EARLY_ADVERTS = 64;

/** What link state needs to know of the registry. */
export interface RegistryLookup {
  readonly current: Registry | undefined;
  /** A region's id from its id or its name, when the registry holds it. */
  regionId(region: number | string): number | undefined;
  /** Proof of life from a region (the root keeps it). */
  touch(region: number): void;
}

export interface LinkStateSyncOptions {
  local: NatsConnection;
  subjects: DeploymentSubjects;
  self: { id: number; name: string };
  settings: RegionRouterSettings;
  store: RouterStore;
  logger: Logger;
  registry: RegistryLookup;
  /** This region's links: what it advertises, and the next hops routes resolve to. */
  links: ReadonlyMap<number, Link>;
  flood: Flood;
  serving(): boolean;
  stopped(): boolean;
}

export class LinkStateSync {
  readonly lsdb: LinkStateDb;
  private readonly o: LinkStateSyncOptions;
  private readonly log: Logger;
  /** Adverts of regions not in the registry yet, by origin (see onAdvert). */
  private readonly early = new Map<
    number,
    { advert: LinkStateAdvert; data: Uint8Array; from: number | undefined; at: number }
  >();
  private table: RouteTable | undefined;
  private routesVersion = -1;
  private recomputeQueued = false;
  private advertSeq = 0;
  private advertised = new Map<number, number>();

  constructor(options: LinkStateSyncOptions) {
    this.o = options;
    this.log = options.logger;
    this.lsdb = new LinkStateDb({
      maxAgeMs: options.settings.advertMaxAgeMs,
      refreshMs: options.settings.advertiseEveryMs,
    });
  }

  /** This region's routes; undefined until first computed. */
  get routes(): RouteTable | undefined {
    return this.table;
  }

  async restoreSeq(): Promise<void> {
    // Others keep the highest seq they saw of us for good: start above anything sent before a
    // restart, whether it was persisted in time or (without JetStream) not at all.
    const stored = Number((await this.o.store.get("advert-seq")) ?? "0") || 0;
    this.advertSeq = Math.max(stored + 1000, Date.now());
  }

  private ownAdvert(): LinkStateAdvert {
    const links: Array<{ to: number; cost: number }> = [];
    for (const [region, link] of this.o.links) {
      const cost = link.cost();
      if (Number.isFinite(cost)) links.push({ to: region, cost: Math.round(cost * 1000) / 1000 });
    }
    links.sort((a, b) => a.to - b.to);
    return { origin: this.o.self.id, seq: ++this.advertSeq, issuedAt: Date.now(), links };
  }

  /** Re-advertises when a link came or went or its cost moved beyond the hysteresis. */
  advertiseIfChanged(force = false): void {
    let changed = force;
    const now = Date.now();
    for (const [region, link] of this.o.links) {
      const previous = this.advertised.get(region);
      const cost = link.cost(now);
      if (
        previous === undefined
          ? Number.isFinite(cost)
          : costChangedBeyond(previous, cost, this.o.settings.hysteresis)
      )
        changed = true;
    }
    for (const region of this.advertised.keys()) if (!this.o.links.has(region)) changed = true;
    if (changed) this.advertise();
  }

  advertise(): void {
    if (!this.o.serving() || this.o.stopped()) return;
    const advert = this.ownAdvert();
    this.advertised = new Map(advert.links.map((l) => [l.to, l.cost]));
    this.lsdb.apply(advert, Date.now());
    // Numbers start from the clock after a restart (restoreSeq): the stored one matters only
    // once adverts have run ahead of the clock.
    if (this.advertSeq > Date.now()) void this.o.store.put("advert-seq", String(this.advertSeq));
    this.o.flood(this.o.subjects.router.adverts, encodeJson(advert), undefined);
    this.recomputeRoutes();
  }

  onAdvert(msg: Msg): void {
    let advert: LinkStateAdvert;
    try {
      advert = readBody(msg, linkStateAdvertSchema, "link-state advert");
    } catch (err) {
      this.log.warn({ err: String(err).slice(0, 300) }, "unreadable link-state advert refused");
      respondError(this.o.local, msg, err);
      return;
    }
    if (advert.origin === this.o.self.id) return;
    // Sequence numbers start from the origin's clock (see restoreSeq), so one far in the future
    // is forged: kept, it would make every real advert of that origin look stale.
    if (advert.seq > Date.now() + MAX_SEQ_AHEAD_MS) {
      const error = new EntenteError(
        "BAD_REQUEST",
        `link-state advert of region ${advert.origin}: seq ${advert.seq} is ahead of any clock`,
      );
      this.log.warn({ origin: advert.origin, seq: advert.seq }, error.message);
      respondError(this.o.local, msg, error);
      return;
    }
    const from = Number(msg.headers?.get(FROM_HEADER)) || undefined;
    if (this.o.registry.current?.regions.get(advert.origin)?.status !== "active") {
      // A region that just joined floods its advert before the snapshot listing it arrives
      // here: the newest is kept a while (a bounded few) and taken when the snapshot comes.
      const held = this.early.get(advert.origin);
      if (held ? held.advert.seq < advert.seq : this.early.size < MAX_EARLY_ADVERTS) {
        this.early.set(advert.origin, { advert, data: msg.data, from, at: Date.now() });
      }
      this.log.debug({ origin: advert.origin }, "link-state advert from an unknown region held");
      respondError(
        this.o.local,
        msg,
        new EntenteError(
          "NOT_FOUND",
          `link-state advert refused: region ${advert.origin} is not an active region here`,
        ),
      );
      return;
    }
    const refused = this.applyAdvert(advert, msg.data, from);
    if (refused !== undefined) respondError(this.o.local, msg, refused);
  }

  /** Stores a new advert, floods it on and recomputes routes; the error when it is invalid. */
  private applyAdvert(
    advert: LinkStateAdvert,
    data: Uint8Array,
    from: number | undefined,
  ): EntenteError | undefined {
    const verdict = this.lsdb.apply(advert, Date.now());
    if (verdict !== "new") {
      if (typeof verdict !== "object") return undefined;
      this.log.warn(
        { origin: advert.origin, reason: verdict.invalid },
        "link-state advert refused",
      );
      return new EntenteError("BAD_REQUEST", `link-state advert refused: ${verdict.invalid}`);
    }
    this.o.registry.touch(advert.origin);
    this.o.flood(this.o.subjects.router.adverts, data, from, advert.origin);
    this.recomputeSoon();
    return undefined;
  }

  /** Takes held adverts of regions the registry now lists; forgets those held too long. */
  takeEarlyAdverts(): void {
    const now = Date.now();
    for (const [origin, held] of this.early) {
      if (now - held.at > this.o.settings.advertMaxAgeMs) {
        this.early.delete(origin);
      } else if (this.o.registry.current?.regions.get(origin)?.status === "active") {
        this.early.delete(origin);
        this.applyAdvert(held.advert, held.data, held.from);
      }
    }
  }

  /** Forgets adverts not refreshed in time. */
  age(now: number): void {
    const aged = this.lsdb.age(now);
    if (aged.length > 0) this.log.info({ regions: aged }, "link-state adverts aged out");
  }

  /** A flood brings adverts in bursts: the routes are recomputed once, after the burst. */
  private recomputeSoon(): void {
    if (this.recomputeQueued) return;
    this.recomputeQueued = true;
    setImmediate(() => {
      this.recomputeQueued = false;
      this.recomputeRoutes();
    });
  }

  recomputeRoutes(): void {
    if (this.lsdb.version === this.routesVersion) return;
    this.routesVersion = this.lsdb.version;
    const graph = this.lsdb.graph();
    const next = computeRoutes(graph, this.o.self.id);
    const { table, changed } = stabilize(this.table, next, this.o.settings.hysteresis);
    this.table = table;
    if (changed.length > 0) this.log.debug({ changed: changed.length }, "routes changed");
  }

  /** Where a routed message for `destination` (a region id or name) goes next. */
  nextHop(destination: string): NextHop {
    const registry = this.o.registry.current;
    // This region's own name or id needs no registry: its requests never leave it.
    if (destination === String(this.o.self.id) || destination === this.o.self.name) {
      return { kind: "local" };
    }
    const id = this.o.registry.regionId(destination);
    if (id === undefined || !registry?.regions.has(id)) {
      return {
        kind: "unknown",
        reason: `no region ${JSON.stringify(destination)} in the registry`,
      };
    }
    const info = registry.regions.get(id)!;
    if (info.status !== "active") {
      return {
        kind: "unreachable",
        destination: id,
        reason: `region ${info.name} (${id}) is ${info.status}`,
      };
    }
    if (!this.o.serving()) {
      return {
        kind: "unreachable",
        destination: id,
        reason: `region ${this.o.self.name} has not joined the registry yet`,
      };
    }
    const hop = this.table?.nextHopTo(id);
    const link = hop === undefined ? undefined : this.o.links.get(hop);
    const nc = link?.connection;
    if (!link || !nc || link.availability === "down") {
      return {
        kind: "unreachable",
        destination: id,
        reason: `region ${info.name} (${id}) is unreachable: no route from ${this.o.self.name}`,
      };
    }
    return {
      kind: "neighbour",
      neighbour: { region: link.region, name: link.name, nc },
      destination: id,
    };
  }
}

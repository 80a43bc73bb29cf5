/**
 * This region's links to other regions, at most maxDegree: the tree (parent and children)
 * whatever the count, shortcuts (shortcuts.ts chooses them), and links back to regions that
 * want one to us. It opens and closes them to plan, answers probes, and floods messages over the
 * open links.
 */
import type { DeploymentSubjects, Probe, ProbeReply } from "@entente/protocol";
import { EntenteError, probeSchema } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { Msg, NatsConnection } from "@nats-io/nats-core";
import type { RegionRouterSettings } from "./config.ts";
import { LINK_ROLE_HEADER, Link, wallClockMs } from "./link.ts";
import { floodTargets } from "./model/link-state.ts";
import { childrenOf, type Registry } from "./model/registry.ts";
import { jsonHeaders, readBody, respond, respondError } from "./wire.ts";

/** Header on flooded adverts and snapshots: the region that passed it on, not sent back there. */
export const FROM_HEADER = "entente-region-from";

/** Sends `data` to every open link but the one it came from (and its origin). */
export type Flood = (
  subject: (id: number) => string,
  data: Uint8Array,
  from: number | undefined,
  origin?: number,
) => void;

/** Why a link is kept: inbound links only while the far end wants its own, and if there is room. */
type LinkRole = "tree" | "shortcut" | "inbound";

/** What the links need to know of the registry. */
export interface RegistrySource {
  readonly current: Registry | undefined;
  parentId(): number | undefined;
  /** Proof of life from a region (the root keeps it). */
  touch(region: number): void;
}

export interface LinkSetEvents {
  /** A link opened, closed, went down or came back: this region's advert may be out of date. */
  changed(): void;
  /** The link to the parent went down or came back. */
  parent(availability: "down" | "up"): void;
}

export interface LinkSetOptions {
  /** The links kept, by region: this set opens and closes them, others read them. */
  links: Map<number, Link>;
  local: NatsConnection;
  subjects: DeploymentSubjects;
  self: { id: number; name: string };
  settings: RegionRouterSettings;
  /** Opens a connection to another region's NATS, with this worker's credentials. */
  connect(url: string): Promise<NatsConnection>;
  logger: Logger;
  registry: RegistrySource;
  /** The shortcuts chosen so far; the plan drops those that no longer fit. */
  shortcuts: { readonly chosen: ReadonlySet<number>; drop(region: number): void };
  /** A closed link's connection: the relay stops using it. */
  dropConnection(nc: NatsConnection): void;
  events: LinkSetEvents;
  /** This region's load, as probes report it. */
  load(): number;
  serving(): boolean;
  stopped(): boolean;
}

export class LinkSet {
  private readonly links: Map<number, Link>;
  private readonly o: LinkSetOptions;
  private readonly log: Logger;
  /** Regions that want a link to us, and when they last said so: we link back (room allowing). */
  private readonly inbound = new Map<number, number>();

  constructor(options: LinkSetOptions) {
    this.links = options.links;
    this.o = options;
    this.log = options.logger;
  }

  /**
   * The links to keep and why: the tree whatever the count, then shortcuts (best first), then
   * regions that want a link to us, up to maxDegree. Shortcuts that no longer fit are dropped.
   */
  private plan(registry: Registry): Map<number, LinkRole> {
    const self = this.o.self.id;
    const max = this.o.settings.maxDegree;
    const active = (id: number) => id !== self && registry.regions.get(id)?.status === "active";
    const plan = new Map<number, LinkRole>();
    const parent = this.o.registry.parentId();
    if (parent !== undefined && active(parent)) plan.set(parent, "tree");
    for (const child of childrenOf(registry, self)) if (active(child)) plan.set(child, "tree");
    for (const region of [...this.o.shortcuts.chosen]) {
      if (plan.has(region) || !active(region) || plan.size >= max) {
        this.o.shortcuts.drop(region);
        continue;
      }
      plan.set(region, "shortcut");
    }
    const now = Date.now();
    for (const [region, since] of this.inbound) {
      if (now - since >= this.o.settings.advertMaxAgeMs || !active(region)) {
        this.inbound.delete(region);
      } else if (!plan.has(region) && plan.size < max) {
        plan.set(region, "inbound");
      }
    }
    return plan;
  }

  /** Opens the links the plan wants and closes those it no longer does. */
  reconcile(): void {
    const registry = this.o.registry.current;
    if (!registry || this.o.stopped() || !this.o.serving()) return;
    const self = this.o.self.id;
    // Decided and applied in one go: nothing else may change the links halfway.
    const plan = this.plan(registry);
    for (const [region, role] of plan) {
      const existing = this.links.get(region);
      // A region that came back at another URL: the old link goes below, a new one opens.
      if (existing && existing.url !== registry.regions.get(region)?.url) {
        this.links.delete(region);
        const nc = existing.connection;
        if (nc) this.o.dropConnection(nc);
        void existing.close();
      } else if (existing) {
        existing.inboundOnly = role === "inbound";
        continue;
      }
      const info = registry.regions.get(region)!;
      const link = new Link({
        self,
        region,
        name: info.name,
        url: info.url,
        subjects: this.o.subjects,
        settings: this.o.settings,
        events: { changed: (l, availability) => this.linkChanged(l, availability) },
        logger: this.log,
      });
      link.inboundOnly = role === "inbound";
      this.links.set(region, link);
      link
        .open((url) => this.o.connect(url))
        .then(
          () => {
            if (this.links.get(region) !== link) return;
            this.log.info(
              { region, name: info.name, role, cost: Math.round(link.cost()) },
              "link open",
            );
            this.o.events.changed();
          },
          (err) => {
            this.log.warn({ region, err: String(err) }, "link failed to open");
            if (this.links.get(region) === link) this.links.delete(region);
            void link.close();
          },
        );
    }
    const closing: Link[] = [];
    for (const [region, link] of this.links) {
      if (plan.has(region)) continue;
      this.links.delete(region);
      const nc = link.connection;
      if (nc) this.o.dropConnection(nc);
      closing.push(link);
      this.log.info({ region }, "link closed");
    }
    if (closing.length > 0) {
      this.o.events.changed();
      void Promise.allSettled(closing.map((link) => link.close()));
    }
  }

  /**
   * A link went down or came back. The parent's also tells membership, which re-announces once
   * the parent is back: the root may have marked this region dead meanwhile.
   */
  private linkChanged(link: Link, availability: "down" | "up"): void {
    this.o.events.changed();
    if (
      this.o.stopped() ||
      link.region !== this.o.registry.parentId() ||
      this.links.get(link.region) !== link
    )
      return;
    this.o.events.parent(availability);
  }

  /** A probe or flooded message came over another region's link to us: does it want one back? */
  heardFrom(msg: Msg, region = Number(msg.headers?.get(FROM_HEADER))): void {
    if (!Number.isSafeInteger(region) || region === this.o.self.id) return;
    // Proof of life too: the root must never mark a region dead that talks to it.
    this.o.registry.touch(region);
    if (msg.headers?.get(LINK_ROLE_HEADER) === "inbound") return;
    if (this.inbound.has(region)) {
      this.inbound.set(region, Date.now());
    } else if (this.acceptsInbound(region)) {
      this.inbound.set(region, Date.now());
      if (!this.links.has(region)) this.reconcile();
    }
  }

  answerProbe(msg: Msg): void {
    const t2 = wallClockMs();
    try {
      const probe: Probe = readBody(msg, probeSchema, "probe");
      // A region that links to us gets a link back, so both ends advertise it.
      this.heardFrom(msg, probe.from);
      if (!msg.reply) return;
      // A router that cannot relay yet (restarted, announcing) must not look like a live link.
      if (!this.o.serving()) {
        throw new EntenteError("UNAVAILABLE", `region ${this.o.self.name} has not joined yet`);
      }
      const reply: ProbeReply = {
        t1: probe.t1,
        t2,
        t3: wallClockMs(),
        from: this.o.self.id,
        load: this.o.load(),
      };
      respond(msg, reply);
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  private acceptsInbound(region: number): boolean {
    const info = this.o.registry.current?.regions.get(region);
    if (info?.status !== "active" || !this.o.serving()) return false;
    const tree = info.parent === this.o.self.id || this.o.registry.parentId() === region;
    return tree || this.links.has(region) || this.links.size < this.o.settings.maxDegree;
  }

  /** Sends `data` to every open link but the one it came from (and its origin). */
  flood(
    subject: (id: number) => string,
    data: Uint8Array,
    from: number | undefined,
    origin?: number,
  ): void {
    const targets = floodTargets([...this.links.keys()], from).filter((id) => id !== origin);
    for (const region of targets) {
      const link = this.links.get(region);
      const nc = link?.connection;
      if (!link || !nc) continue;
      try {
        const headers = jsonHeaders({
          [FROM_HEADER]: String(this.o.self.id),
          [LINK_ROLE_HEADER]: link.inboundOnly ? "inbound" : "wanted",
        });
        nc.publish(subject(region), data, { headers });
      } catch {
        // The link is closing; the next refresh reaches the region another way.
      }
    }
  }

  /** A shortcut trial that paid: its link joins the set. */
  adopt(trial: Link): void {
    trial.inboundOnly = false;
    trial.rebind({ changed: (l, availability) => this.linkChanged(l, availability) });
    this.links.set(trial.region, trial);
    this.log.info(
      { region: trial.region, name: trial.name, cost: Math.round(trial.cost()) },
      "shortcut opened",
    );
    this.o.events.changed();
  }

  /** Closes every link (the router is stopping). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.links.values()].map((l) => l.close()));
    this.links.clear();
  }
}

/**
 * Shortcuts: links beyond the tree, kept for their measured benefit. One candidate is tried at a
 * time over a direct link and kept if it pays against the routes without shortcuts; open ones
 * are weighed again when there is nothing new to try, and dropped when the far end never links
 * back.
 */
import type { DeploymentSubjects } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import type { RegionRouterSettings } from "./config.ts";
import { Link } from "./link.ts";
import type { LinkStateDb } from "./model/link-state.ts";
import { childrenOf, type Registry } from "./model/registry.ts";
import { buildGraph, computeRoutes, type RouteTable } from "./model/routes.ts";
import { chooseNeighbours } from "./model/topology.ts";

/** What shortcuts are measured against: every region's advert and this region's routes. */
export interface LinkStateSource {
  readonly lsdb: Pick<LinkStateDb, "get" | "origins">;
  readonly routes: RouteTable | undefined;
}

export interface ShortcutsOptions {
  self: { id: number };
  subjects: DeploymentSubjects;
  settings: RegionRouterSettings;
  /** Opens a connection to another region's NATS, with this worker's credentials. */
  connect(url: string): Promise<NatsConnection>;
  logger: Logger;
  /** The links kept now: candidates are the regions without one. */
  links: ReadonlyMap<number, Link>;
  registry: {
    readonly current: Registry | undefined;
    parentId(): number | undefined;
  };
  linkState: LinkStateSource;
  /** A trial that paid: its link joins the kept ones. */
  adopt(trial: Link): void;
  /** The chosen shortcuts changed: the links follow. */
  reconcile(): void;
  serving(): boolean;
  stopped(): boolean;
}

export class Shortcuts {
  private readonly o: ShortcutsOptions;
  private readonly log: Logger;
  private readonly links: ReadonlyMap<number, Link>;
  /** When each shortcut candidate was last tried, so every candidate gets its turn. */
  private readonly tried = new Map<number, number>();
  private shortcuts = new Set<number>();
  private trialAt = 0;
  private trialRunning = false;

  constructor(options: ShortcutsOptions) {
    this.o = options;
    this.log = options.logger;
    this.links = options.links;
  }

  /** The shortcuts chosen so far. */
  get chosen(): ReadonlySet<number> {
    return this.shortcuts;
  }

  /** A shortcut the link plan has no room for any more. */
  drop(region: number): void {
    this.shortcuts.delete(region);
  }

  /** The first shortcut trial waits a full period: routes and costs settle first. */
  deferTrials(now: number): void {
    this.trialAt = now;
  }

  /** Starts a shortcut trial when one is due. */
  trialIfDue(now: number): void {
    if (now - this.trialAt >= this.o.settings.shortcutEveryMs) {
      this.trialAt = now;
      void this.tryShortcut();
    }
  }

  /** Tries one shortcut candidate, one at a time: measure a direct link, keep it if it pays. */
  private async tryShortcut(): Promise<void> {
    if (this.trialRunning) return;
    this.trialRunning = true;
    try {
      await this.tryOneShortcut();
    } finally {
      this.trialRunning = false;
    }
  }

  private async tryOneShortcut(): Promise<void> {
    const registry = this.o.registry.current;
    if (!registry || !this.o.serving() || !this.o.linkState.routes) return;
    const self = this.o.self.id;
    const candidates = [...registry.regions.values()].filter(
      (r) => r.status === "active" && r.id !== self && !this.links.has(r.id),
    );
    if (candidates.length === 0 || this.links.size >= this.o.settings.maxDegree) {
      this.reviewShortcuts(registry);
      return;
    }
    // Each candidate gets its turn; among those tried as long ago, the one the current routes
    // reach at the highest cost gains most from a shortcut.
    const costOf = (id: number) => this.o.linkState.routes?.costTo(id) ?? Infinity;
    candidates.sort(
      (a, b) =>
        (this.tried.get(a.id) ?? 0) - (this.tried.get(b.id) ?? 0) || costOf(b.id) - costOf(a.id),
    );
    const target = candidates[0]!;
    this.tried.set(target.id, Date.now());
    const trial = new Link({
      self,
      region: target.id,
      name: target.name,
      url: target.url,
      subjects: this.o.subjects,
      settings: this.o.settings,
      events: { changed: () => {} },
      logger: this.log,
    });
    // Until it is adopted, a trial's probes must not ask the far region for a link back: a
    // slow trial would otherwise be linked back to and come round again as an inbound link.
    trial.inboundOnly = true;
    try {
      await trial.open((url) => this.o.connect(url));
    } catch {
      await trial.close();
      return;
    }
    // The links may have changed while the trial connected.
    const latest = this.o.registry.current;
    if (
      this.o.stopped() ||
      this.links.has(target.id) ||
      this.links.size >= this.o.settings.maxDegree ||
      latest?.regions.get(target.id)?.status !== "active"
    ) {
      await trial.close();
      return;
    }
    const parent = this.o.registry.parentId();
    const current = [...this.shortcuts].filter((region) => this.links.has(region));
    const choice = chooseNeighbours({
      self,
      parent,
      children: childrenOf(latest, self).filter(
        (id) => latest.regions.get(id)?.status === "active",
      ),
      candidates: [
        ...current.map((region) => ({
          region,
          estimatedCostMs: this.links.get(region)?.cost() ?? Infinity,
        })),
        { region: target.id, estimatedCostMs: trial.cost() },
      ],
      routes: this.treeRoutes(),
      current,
      maxDegree: this.o.settings.maxDegree,
    });
    this.shortcuts = new Set(choice.shortcuts.map((s) => s.region));
    if (this.shortcuts.has(target.id)) this.o.adopt(trial);
    else await trial.close();
    this.o.reconcile();
  }

  /** With nothing new to try, the open shortcuts are weighed again: one that stopped paying goes. */
  private reviewShortcuts(registry: Registry): void {
    if (this.shortcuts.size === 0) return;
    const self = this.o.self.id;
    const current = [...this.shortcuts].filter((region) => this.links.has(region));
    const choice = chooseNeighbours({
      self,
      parent: this.o.registry.parentId(),
      children: childrenOf(registry, self).filter(
        (id) => registry.regions.get(id)?.status === "active",
      ),
      candidates: current.map((region) => ({
        region,
        estimatedCostMs: this.links.get(region)?.cost() ?? Infinity,
      })),
      routes: this.treeRoutes(),
      current,
      maxDegree: this.o.settings.maxDegree,
    });
    const kept = new Set(choice.shortcuts.map((s) => s.region));
    const dropped = current.filter((region) => !kept.has(region));
    if (dropped.length === 0) return;
    this.shortcuts = kept;
    this.log.info({ regions: dropped }, "shortcuts no longer worth their link: closed");
    this.o.reconcile();
  }

  /**
   * Shortcuts the far region did not link back (it had no room): one-way links carry no route,
   * so their slot goes to another candidate.
   */
  dropUnreturned(now: number): void {
    let dropped = false;
    for (const region of this.shortcuts) {
      const link = this.links.get(region);
      if (!link || link.openedAt === undefined) continue;
      if (now - link.openedAt < this.o.settings.advertMaxAgeMs) continue;
      const back = this.o.linkState.lsdb.get(region)?.links.some((l) => l.to === this.o.self.id);
      if (back) continue;
      this.shortcuts.delete(region);
      this.log.info({ region }, "shortcut not linked back: closed");
      dropped = true;
    }
    if (dropped) this.o.reconcile();
  }

  /** Routes without this region's shortcuts: what a shortcut is measured against. */
  private treeRoutes(): RouteTable | undefined {
    const self = this.o.self.id;
    const { lsdb } = this.o.linkState;
    const links = new Map<number, Array<{ to: number; cost: number }>>();
    for (const origin of lsdb.origins()) {
      const advert = lsdb.get(origin);
      if (advert)
        links.set(
          origin,
          advert.links.filter((l) => origin !== self || !this.shortcuts.has(l.to)),
        );
    }
    const confirmed = new Map<number, Array<{ to: number; cost: number }>>();
    for (const [origin, out] of links) {
      confirmed.set(
        origin,
        out.filter((l) => links.get(l.to)?.some((back) => back.to === origin)),
      );
    }
    if (!confirmed.has(self)) return undefined;
    return computeRoutes(buildGraph(confirmed), self);
  }
}

/**
 * One region's router: it joins the hierarchy, keeps a copy of the registry, holds a bounded set
 * of links to other regions, floods its link costs, computes its routes and relays routed
 * requests along them. The decisions are the pure models' (model/); this class wires them to
 * NATS and to time.
 *
 *   registry  root: validates announces, signs and floods snapshots; others: verify and keep
 *   links     parent + children (the tree) + shortcuts by measured benefit, at most maxDegree
 *   adverts   own links and costs, flooded; every region's kept in the link-state database
 *   routes    shortest paths over that database, damped against flapping
 *   relay     routed requests to the next hop (relay.ts)
 */
import { performance } from "node:perf_hooks";
import {
  type AnnounceAccepted,
  type DeploymentSubjects,
  EntenteError,
  type LinkStateAdvert,
  type LinksReply,
  linkStateAdvertSchema,
  type Probe,
  type ProbeReply,
  probeSchema,
  type RegionAnnounce,
  type RegionsReply,
  type RouteReply,
  regionAnnounceSchema,
  regionLeaveSchema,
  regionRefusal,
} from "@entente/protocol";
import { EntenteClient, type Logger } from "@entente/runtime";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { type Actor, createActor, fromPromise } from "xstate";
import type { RegionRouterSettings } from "./config.ts";
import { LINK_ROLE_HEADER, Link, wallClockMs } from "./link.ts";
import { costChangedBeyond } from "./model/link-cost.ts";
import { floodTargets, LinkStateDb } from "./model/link-state.ts";
import { isServing, membershipMachine, phaseOf } from "./model/membership.ts";
import {
  acceptSnapshot,
  applyAnnounce,
  applyLeave,
  childrenOf,
  createRegistry,
  markDead,
  type Registry,
  silentSince,
  toSnapshot,
  touch,
} from "./model/registry.ts";
import { buildGraph, computeRoutes, type RouteTable, stabilize } from "./model/routes.ts";
import { chooseNeighbours } from "./model/topology.ts";
import { type NextHop, Relay } from "./relay.ts";
import {
  type RootSigner,
  rootSigner,
  type SignedSnapshot,
  signedSnapshotSchema,
  verifySnapshot,
} from "./signed-registry.ts";
import type { RouterStore } from "./store.ts";
import { encodeJson, jsonHeaders, readBody, respond, respondError } from "./wire.ts";

export interface RegionSelf {
  id: number;
  name: string;
  /** How other regions reach this region's NATS. */
  url: string;
  /** The parent's name, from the core `region.parent`; absent for the root and its children. */
  parentName?: string | undefined;
}

export interface RouterOptions {
  local: NatsConnection;
  subjects: DeploymentSubjects;
  self: RegionSelf;
  settings: RegionRouterSettings;
  /** Opens a connection to another region's NATS, with this worker's credentials. */
  connect(url: string): Promise<NatsConnection>;
  store: RouterStore;
  logger: Logger;
}

/**
 * Adverts are numbered from the origin's clock in ms and at most a few per second, so a number
 * more than a day ahead of ours is not a real one (clocks that far apart are warned about).
 */
const MAX_SEQ_AHEAD_MS = 24 * 60 * 60 * 1000;

/** Header on flooded adverts and snapshots: the region that passed it on, not sent back there. */
const FROM_HEADER = "entente-region-from";

/** Adverts held for regions the registry does not list yet: a bounded few. */
const MAX_EARLY_ADVERTS = 64;

/** Why a link is kept: inbound links only while the far end wants its own, and if there is room. */
type LinkRole = "tree" | "shortcut" | "inbound";

export class RegionRouter {
  private readonly o: RouterOptions;
  private readonly log: Logger;
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  readonly links = new Map<number, Link>();
  /** Regions that want a link to us, and when they last said so: we link back (room allowing). */
  private readonly inbound = new Map<number, number>();
  /** Adverts of regions not in the registry yet, by origin (see onAdvert). */
  private readonly early = new Map<
    number,
    { advert: LinkStateAdvert; data: Uint8Array; from: number | undefined; at: number }
  >();
  /** When each shortcut candidate was last tried, so every candidate gets its turn. */
  private readonly tried = new Map<number, number>();
  private readonly lsdb: LinkStateDb;
  private readonly relay: Relay;
  private registry: Registry | undefined;
  private signed: SignedSnapshot | undefined;
  private rootKey: string | undefined;
  private signer: RootSigner | undefined;
  private routes: RouteTable | undefined;
  private routesVersion = -1;
  private advertSeq = 0;
  private advertised = new Map<number, number>();
  private membership: Actor<typeof membershipMachine> | undefined;
  private joinNc: NatsConnection | undefined;
  private shortcuts = new Set<number>();
  private trialAt = 0;
  private trialRunning = false;
  private load = 0;
  private elu = performance.eventLoopUtilization();
  private stopped = false;

  constructor(options: RouterOptions) {
    this.o = options;
    this.log = options.logger;
    const { settings } = options;
    this.lsdb = new LinkStateDb({
      maxAgeMs: settings.advertMaxAgeMs,
      refreshMs: settings.advertiseEveryMs,
    });
    this.relay = new Relay({
      local: options.local,
      self: { id: options.self.id, name: options.self.name },
      prefix: `${options.subjects.deployment}.r.`,
      nextHop: (destination) => this.nextHop(destination),
      observe: (region, ms) => this.links.get(region)?.observe(ms),
      traffic: (region) => this.links.get(region)?.traffic(),
      maxHops: settings.maxHops,
      logger: options.logger,
    });
  }

  get isRoot(): boolean {
    return this.o.settings.join === undefined;
  }

  get serving(): boolean {
    return this.membership !== undefined && isServing(this.membership.getSnapshot());
  }

  get phase(): string {
    return this.membership ? phaseOf(this.membership.getSnapshot()) : "starting";
  }

  async start(): Promise<void> {
    const { local, subjects, self, store } = this.o;
    // Others keep the highest seq they saw of us for good: start above anything sent before a
    // restart, whether it was persisted in time or (without JetStream) not at all.
    const stored = Number((await store.get("advert-seq")) ?? "0") || 0;
    this.advertSeq = Math.max(stored + 1000, Date.now());
    this.rootKey = await store.get("root-key");
    const storedRegistry = await store.get("registry");
    if (this.isRoot) {
      this.signer = rootSigner(await store.get("signing-key"));
      await store.put("signing-key", this.signer.privateKey);
      this.rootKey = this.signer.publicKey;
      await store.put("root-key", this.rootKey);
    }
    const kept = storedRegistry
      ? signedSnapshotSchema.safeParse(safeJson(storedRegistry))
      : undefined;
    if (kept?.success) this.takeSnapshot(kept.data, "store");
    else if (kept) this.log.warn("stored registry unreadable: starting without it");
    if (this.isRoot && this.registry === undefined) {
      this.setRegistry(createRegistry({ id: self.id, name: self.name, url: self.url }, Date.now()));
    } else if (this.isRoot && this.registry) {
      // The stored lastSeen values are as old as the last signed revision: the root heard
      // nothing while it was down, which is no sign of anyone's death.
      const now = Date.now();
      for (const id of this.registry.regions.keys()) this.registry = touch(this.registry, id, now);
    }

    const queue = subjects.queueGroup("region-router");
    this.listen(subjects.routedAll, (msg) => this.relay.handle(msg), queue);
    this.listen(subjects.router.probe(self.id), (msg) => this.answerProbe(msg));
    this.listen(subjects.router.adverts(self.id), (msg) => this.onAdvert(msg));
    this.listen(subjects.router.registryPush(self.id), (msg) => this.onSnapshotPush(msg));
    this.listen(subjects.router.announce, (msg) => void this.onAnnounce(msg), queue);
    this.listen(subjects.router.leave, (msg) => this.onLeave(msg), queue);
    this.listen(subjects.router.registry, (msg) => this.answerRegistry(msg), queue);
    await local.flush();

    this.membership = createActor(
      membershipMachine.provide({
        actors: {
          announce: fromPromise<AnnounceAccepted, RegionAnnounce>(({ input }) =>
            this.announce(input),
          ),
        },
      }),
      {
        input: {
          self: {
            id: self.id,
            name: self.name,
            url: self.url,
            ...(this.parentId() ? { parent: this.parentId() } : {}),
          },
          isRoot: this.isRoot,
        },
      },
    );
    this.membership.subscribe((snapshot) => {
      if (isServing(snapshot)) this.reconcileLinks();
    });
    this.membership.start();
    if (this.registry) this.membership.send({ type: "REGISTRY", registry: this.registry });
    if (!this.isRoot) void this.joinThrough();

    // The first shortcut trial waits a full period: routes and costs settle first.
    this.trialAt = Date.now();
    this.every(1_000, () => this.tick());
    this.every(this.o.settings.advertiseEveryMs, () => {
      this.advertise();
      void this.catchUp();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Registry

  private parentId(): number | undefined {
    const name = this.o.self.parentName;
    if (this.isRoot) return undefined;
    if (name === undefined) return this.registry?.root;
    for (const region of this.registry?.regions.values() ?? [])
      if (region.name === name) return region.id;
    return undefined;
  }

  /** First contact: the registry from where we join (pins the root key), then the announce. */
  private async joinThrough(): Promise<void> {
    const url = this.o.settings.join as string;
    while (!this.stopped && this.joinNc === undefined) {
      try {
        this.joinNc = await this.o.connect(url);
      } catch (err) {
        this.log.warn({ err: String(err), url }, "cannot reach the region to join yet");
        await sleep(1_000);
      }
    }
    await this.catchUp();
  }

  /** Asks the region we join through (or our parent) for its registry; keeps it if newer. */
  private async catchUp(): Promise<void> {
    if (this.isRoot) return;
    const parent = this.parentId();
    const nc =
      (parent !== undefined ? this.links.get(parent)?.connection : undefined) ?? this.joinNc;
    if (!nc) return;
    try {
      const msg = await nc.request(this.o.subjects.router.registry, encodeJson({}), {
        timeout: 5_000,
        headers: jsonHeaders(),
      });
      const signed = readBody(msg, signedSnapshotSchema, "registry snapshot");
      // The first registry read pins the root's key: every later snapshot must carry it.
      this.rootKey ??= signed.key;
      await this.o.store.put("root-key", this.rootKey);
      this.takeSnapshot(signed, "sync");
    } catch (err) {
      this.log.debug({ err: String(err) }, "registry catch-up failed");
    }
  }

  private async announce(announce: RegionAnnounce): Promise<AnnounceAccepted> {
    const nc = this.joinNc;
    if (!nc)
      throw new EntenteError("UNAVAILABLE", "the region to join through is not reachable yet");
    const parent = this.parentId();
    if (parent === undefined && this.o.self.parentName !== undefined) {
      await this.catchUp();
      throw new EntenteError(
        "UNAVAILABLE",
        `parent ${this.o.self.parentName} is not in the registry yet`,
      );
    }
    const body: RegionAnnounce = { ...announce, ...(parent !== undefined ? { parent } : {}) };
    try {
      const accepted = await new EntenteClient(nc, { encoding: "json" }).request<AnnounceAccepted>(
        this.o.subjects.router.announce,
        body,
        { timeoutMs: 5_000 },
      );
      // The revision that lists us exists now: fetch it rather than wait for a flood that may
      // reach us only once our links are open.
      if (!this.registry || this.registry.revision < accepted.revision) void this.catchUp();
      return accepted;
    } catch (err) {
      this.log.warn({ err: String(err), announce: body }, "announce not accepted");
      throw err;
    }
  }

  /** The root decides; any other router passes the announce on to the root. */
  private async onAnnounce(msg: Msg): Promise<void> {
    if (!msg.reply) return;
    if (!this.isRoot) {
      const root = this.registry?.root;
      if (root === undefined) {
        respondError(
          this.o.local,
          msg,
          new EntenteError("UNAVAILABLE", "this region has not joined yet"),
        );
        return;
      }
      this.o.local.publish(
        this.o.subjects.routed(root, this.o.subjects.router.announce),
        msg.data,
        {
          reply: msg.reply,
          ...(msg.headers ? { headers: msg.headers } : {}),
        },
      );
      return;
    }
    try {
      const announce = readBody(msg, regionAnnounceSchema, "announce");
      const registry = this.registry as Registry;
      const verdict = applyAnnounce(registry, announce, Date.now());
      if (!verdict.accepted) {
        throw regionRefusal(
          `announce of region ${announce.id}`,
          verdict.problems,
          verdict.retryable,
        );
      }
      if (verdict.changed) {
        this.setRegistry(verdict.registry);
        this.log.info(
          { region: announce.id, name: announce.name, parent: announce.parent },
          "region joined",
        );
      } else {
        this.registry = verdict.registry;
      }
      const reply: AnnounceAccepted = { accepted: true, revision: verdict.registry.revision };
      respond(msg, reply);
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  private onLeave(msg: Msg): void {
    if (!this.isRoot || !this.registry) return;
    try {
      const leave = readBody(msg, regionLeaveSchema, "leave");
      const verdict = applyLeave(this.registry, leave, Date.now());
      if (verdict.accepted && verdict.changed) this.setRegistry(verdict.registry);
      if (msg.reply) respond(msg, { left: true, revision: this.registry.revision });
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  /** The root's registry changed: sign it, keep it, flood it. */
  private setRegistry(registry: Registry): void {
    this.registry = registry;
    const signer = this.signer as RootSigner;
    this.signed = signer.sign(toSnapshot(registry));
    void this.o.store.put("registry", JSON.stringify(this.signed));
    this.membership?.send({ type: "REGISTRY", registry });
    this.flood(this.o.subjects.router.registryPush, encodeJson(this.signed), undefined);
    this.reconcileLinks();
    this.takeEarlyAdverts();
  }

  /**
   * A snapshot from the store, a catch-up or a neighbour: verified, kept if newer, passed on.
   * Returns why it was refused when it is not one to keep (a stale one says nothing: undefined).
   */
  private takeSnapshot(
    signed: SignedSnapshot,
    from: "store" | "sync" | number,
  ): string | undefined {
    const key = this.rootKey;
    if (key === undefined) return "this region has not pinned the root's key yet";
    const forged = verifySnapshot(signed, key);
    if (forged) {
      this.log.warn(
        { from, revision: signed.snapshot.revision },
        `registry snapshot refused: ${forged}`,
      );
      return `registry snapshot ${signed.snapshot.revision} refused: ${forged}`;
    }
    const verdict = acceptSnapshot(
      this.registry,
      signed.snapshot,
      this.registry?.root ?? signed.snapshot.root,
    );
    if (!verdict.accepted) {
      if (this.registry === undefined || signed.snapshot.revision > this.registry.revision) {
        this.log.warn({ from, reason: verdict.reason }, "registry snapshot refused");
        return `registry snapshot refused: ${verdict.reason}`;
      }
      return undefined;
    }
    this.registry = verdict.registry;
    this.signed = signed;
    if (from !== "store") void this.o.store.put("registry", JSON.stringify(signed));
    this.membership?.send({ type: "REGISTRY", registry: verdict.registry });
    this.flood(
      this.o.subjects.router.registryPush,
      encodeJson(signed),
      typeof from === "number" ? from : undefined,
    );
    this.reconcileLinks();
    this.takeEarlyAdverts();
    return undefined;
  }

  private onSnapshotPush(msg: Msg): void {
    this.heardFrom(msg);
    try {
      const signed = readBody(msg, signedSnapshotSchema, "registry snapshot");
      const refused = this.takeSnapshot(signed, Number(msg.headers?.get(FROM_HEADER)) || 0);
      if (refused !== undefined) throw new EntenteError("BAD_REQUEST", refused);
    } catch (err) {
      this.log.warn({ err: String(err).slice(0, 300) }, "registry snapshot refused");
      respondError(this.o.local, msg, err);
    }
  }

  private answerRegistry(msg: Msg): void {
    if (!msg.reply) return;
    if (!this.signed) {
      respondError(
        this.o.local,
        msg,
        new EntenteError("UNAVAILABLE", "this region holds no registry yet"),
      );
      return;
    }
    respond(msg, this.signed);
  }

  // ---------------------------------------------------------------------------------------
  // Links

  /**
   * The links to keep and why: the tree whatever the count, then shortcuts (best first), then
   * regions that want a link to us, up to maxDegree. Shortcuts that no longer fit are dropped.
   */
  private plan(registry: Registry): Map<number, LinkRole> {
    const self = this.o.self.id;
    const max = this.o.settings.maxDegree;
    const active = (id: number) => id !== self && registry.regions.get(id)?.status === "active";
    const plan = new Map<number, LinkRole>();
    const parent = this.parentId();
    if (parent !== undefined && active(parent)) plan.set(parent, "tree");
    for (const child of childrenOf(registry, self)) if (active(child)) plan.set(child, "tree");
    for (const region of [...this.shortcuts]) {
      if (plan.has(region) || !active(region) || plan.size >= max) {
        this.shortcuts.delete(region);
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
  private reconcileLinks(): void {
    const registry = this.registry;
    if (!registry || this.stopped || !this.serving) return;
    const self = this.o.self.id;
    // Decided and applied in one go: nothing else may change the links halfway.
    const plan = this.plan(registry);
    for (const [region, role] of plan) {
      const existing = this.links.get(region);
      // A region that came back at another URL: the old link goes below, a new one opens.
      if (existing && existing.url !== registry.regions.get(region)?.url) {
        this.links.delete(region);
        const nc = existing.connection;
        if (nc) this.relay.dropConnection(nc);
        void existing.close();
      } else if (existing) {
        existing.tree = role === "tree";
        existing.inboundOnly = role === "inbound";
        continue;
      }
      const info = registry.regions.get(region)!;
      const link = new Link({
        self,
        region,
        name: info.name,
        url: info.url,
        tree: role === "tree",
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
            this.advertiseIfChanged(true);
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
      if (nc) this.relay.dropConnection(nc);
      closing.push(link);
      this.log.info({ region }, "link closed");
    }
    if (closing.length > 0) {
      this.advertiseIfChanged(true);
      void Promise.allSettled(closing.map((link) => link.close()));
    }
  }

  /**
   * A link went down or came back. The parent's also tells membership, which re-announces once
   * the parent is back: the root may have marked this region dead meanwhile.
   */
  private linkChanged(link: Link, availability: "down" | "up"): void {
    this.advertiseIfChanged(true);
    if (this.stopped || link.region !== this.parentId() || this.links.get(link.region) !== link)
      return;
    this.membership?.send({ type: availability === "down" ? "PARENT_LOST" : "PARENT_BACK" });
  }

  /** A probe or flooded message came over another region's link to us: does it want one back? */
  private heardFrom(msg: Msg, region = Number(msg.headers?.get(FROM_HEADER))): void {
    if (!Number.isSafeInteger(region) || region === this.o.self.id) return;
    // Proof of life too: the root must never mark a region dead that talks to it.
    if (this.isRoot && this.registry) this.registry = touch(this.registry, region, Date.now());
    if (msg.headers?.get(LINK_ROLE_HEADER) === "inbound") return;
    if (this.inbound.has(region)) {
      this.inbound.set(region, Date.now());
    } else if (this.acceptsInbound(region)) {
      this.inbound.set(region, Date.now());
      if (!this.links.has(region)) this.reconcileLinks();
    }
  }

  private answerProbe(msg: Msg): void {
    const t2 = wallClockMs();
    try {
      const probe: Probe = readBody(msg, probeSchema, "probe");
      // A region that links to us gets a link back, so both ends advertise it.
      this.heardFrom(msg, probe.from);
      if (!msg.reply) return;
      // A router that cannot relay yet (restarted, announcing) must not look like a live link.
      if (!this.serving) {
        throw new EntenteError("UNAVAILABLE", `region ${this.o.self.name} has not joined yet`);
      }
      const reply: ProbeReply = {
        t1: probe.t1,
        t2,
        t3: wallClockMs(),
        from: this.o.self.id,
        load: this.load,
      };
      respond(msg, reply);
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  private acceptsInbound(region: number): boolean {
    const info = this.registry?.regions.get(region);
    if (info?.status !== "active" || !this.serving) return false;
    const tree = info.parent === this.o.self.id || this.parentId() === region;
    return tree || this.links.has(region) || this.links.size < this.o.settings.maxDegree;
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
    const registry = this.registry;
    if (!registry || !this.serving || !this.routes) return;
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
    const costOf = (id: number) => this.routes?.costTo(id) ?? Infinity;
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
      tree: false,
      subjects: this.o.subjects,
      settings: this.o.settings,
      events: { changed: () => {} },
      logger: this.log,
    });
    try {
      await trial.open((url) => this.o.connect(url));
    } catch {
      await trial.close();
      return;
    }
    // The links may have changed while the trial connected.
    if (
      this.stopped ||
      this.links.has(target.id) ||
      this.links.size >= this.o.settings.maxDegree ||
      this.registry?.regions.get(target.id)?.status !== "active"
    ) {
      await trial.close();
      return;
    }
    const latest = this.registry;
    const parent = this.parentId();
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
    if (this.shortcuts.has(target.id)) {
      trial.rebind({ changed: (l, availability) => this.linkChanged(l, availability) });
      this.links.set(target.id, trial);
      this.log.info(
        { region: target.id, name: target.name, cost: Math.round(trial.cost()) },
        "shortcut opened",
      );
      this.advertiseIfChanged(true);
    } else {
      await trial.close();
    }
    this.reconcileLinks();
  }

  /** With nothing new to try, the open shortcuts are weighed again: one that stopped paying goes. */
  private reviewShortcuts(registry: Registry): void {
    if (this.shortcuts.size === 0) return;
    const self = this.o.self.id;
    const current = [...this.shortcuts].filter((region) => this.links.has(region));
    const choice = chooseNeighbours({
      self,
      parent: this.parentId(),
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
    this.reconcileLinks();
  }

  /**
   * Shortcuts the far region did not link back (it had no room): one-way links carry no route,
   * so their slot goes to another candidate.
   */
  private dropUnreturnedShortcuts(now: number): void {
    let dropped = false;
    for (const region of this.shortcuts) {
      const link = this.links.get(region);
      if (!link || link.openedAt === undefined) continue;
      if (now - link.openedAt < this.o.settings.advertMaxAgeMs) continue;
      const back = this.lsdb.get(region)?.links.some((l) => l.to === this.o.self.id);
      if (back) continue;
      this.shortcuts.delete(region);
      this.log.info({ region }, "shortcut not linked back: closed");
      dropped = true;
    }
    if (dropped) this.reconcileLinks();
  }

  /** Routes without this region's shortcuts: what a shortcut is measured against. */
  private treeRoutes(): RouteTable | undefined {
    const links = new Map<number, Array<{ to: number; cost: number }>>();
    for (const origin of this.lsdb.origins()) {
      const advert = this.lsdb.get(origin);
      if (advert)
        links.set(
          origin,
          advert.links.filter((l) => origin !== this.o.self.id || !this.shortcuts.has(l.to)),
        );
    }
    const confirmed = new Map<number, Array<{ to: number; cost: number }>>();
    for (const [origin, out] of links) {
      confirmed.set(
        origin,
        out.filter((l) => links.get(l.to)?.some((back) => back.to === origin)),
      );
    }
    if (!confirmed.has(this.o.self.id)) return undefined;
    return computeRoutes(buildGraph(confirmed), this.o.self.id);
  }

  // ---------------------------------------------------------------------------------------
  // Link state and routes

  private ownAdvert(): LinkStateAdvert {
    const links: Array<{ to: number; cost: number }> = [];
    for (const [region, link] of this.links) {
      const cost = link.cost();
      if (Number.isFinite(cost)) links.push({ to: region, cost: Math.round(cost * 1000) / 1000 });
    }
    links.sort((a, b) => a.to - b.to);
    return { origin: this.o.self.id, seq: ++this.advertSeq, issuedAt: Date.now(), links };
  }

  /** Re-advertises when a link came or went or its cost moved beyond the hysteresis. */
  private advertiseIfChanged(force = false): void {
    let changed = force;
    const now = Date.now();
    for (const [region, link] of this.links) {
      const previous = this.advertised.get(region);
      const cost = link.cost(now);
      if (
        previous === undefined
          ? Number.isFinite(cost)
          : costChangedBeyond(previous, cost, this.o.settings.hysteresis)
      )
        changed = true;
    }
    for (const region of this.advertised.keys()) if (!this.links.has(region)) changed = true;
    if (changed) this.advertise();
  }

  private advertise(): void {
    if (!this.serving || this.stopped) return;
    const advert = this.ownAdvert();
    this.advertised = new Map(advert.links.map((l) => [l.to, l.cost]));
    this.lsdb.apply(advert, Date.now());
    void this.o.store.put("advert-seq", String(this.advertSeq));
    this.flood(this.o.subjects.router.adverts, encodeJson(advert), undefined);
    this.recomputeRoutes();
  }

  private onAdvert(msg: Msg): void {
    this.heardFrom(msg);
    let advert: LinkStateAdvert;
    try {
      advert = readBody(msg, linkStateAdvertSchema, "link-state advert");
    } catch (err) {
      this.log.warn({ err: String(err).slice(0, 300) }, "unreadable link-state advert refused");
      respondError(this.o.local, msg, err);
      return;
    }
    if (advert.origin === this.o.self.id) return;
    // Sequence numbers start from the origin's clock (see start), so one far in the future is
    // forged: kept, it would make every real advert of that origin look stale.
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
    if (this.registry?.regions.get(advert.origin)?.status !== "active") {
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
    if (this.isRoot && this.registry)
      this.registry = touch(this.registry, advert.origin, Date.now());
    this.flood(this.o.subjects.router.adverts, data, from, advert.origin);
    this.recomputeRoutes();
    return undefined;
  }

  /** Takes held adverts of regions the registry now lists; forgets those held too long. */
  private takeEarlyAdverts(): void {
    const now = Date.now();
    for (const [origin, held] of this.early) {
      if (now - held.at > this.o.settings.advertMaxAgeMs) {
        this.early.delete(origin);
      } else if (this.registry?.regions.get(origin)?.status === "active") {
        this.early.delete(origin);
        this.applyAdvert(held.advert, held.data, held.from);
      }
    }
  }

  /** Sends `data` to every open link but the one it came from (and its origin). */
  private flood(
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

  private recomputeRoutes(): void {
    if (this.lsdb.version === this.routesVersion) return;
    this.routesVersion = this.lsdb.version;
    const graph = this.lsdb.graph();
    const next = computeRoutes(graph, this.o.self.id);
    const { table, changed } = stabilize(this.routes, next, this.o.settings.hysteresis);
    this.routes = table;
    if (changed.length > 0) this.log.debug({ changed: changed.length }, "routes changed");
  }

  /** Where a routed message for `destination` (a region id or name) goes next. */
  nextHop(destination: string): NextHop {
    const registry = this.registry;
    const id = /^\d+$/.test(destination) ? Number(destination) : this.idOfName(destination);
    if (id === this.o.self.id) return { kind: "local" };
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
    if (!this.serving) {
      return {
        kind: "unreachable",
        destination: id,
        reason: `region ${this.o.self.name} has not joined the registry yet`,
      };
    }
    const hop = this.routes?.nextHopTo(id);
    const link = hop === undefined ? undefined : this.links.get(hop);
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

  /** A region's id from its id or its name, as the registry knows it. */
  regionId(region: number | string): number | undefined {
    if (typeof region === "number") return this.registry?.regions.has(region) ? region : undefined;
    return /^\d+$/.test(region) ? this.regionId(Number(region)) : this.idOfName(region);
  }

  private idOfName(name: string): number | undefined {
    for (const region of this.registry?.regions.values() ?? [])
      if (region.name === name) return region.id;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------
  // Periodic work

  private tick(): void {
    const now = Date.now();
    const elu = performance.eventLoopUtilization(this.elu);
    this.elu = performance.eventLoopUtilization();
    this.load = Math.min(1, Math.max(0, elu.utilization));
    const aged = this.lsdb.age(now);
    if (aged.length > 0) this.log.info({ regions: aged }, "link-state adverts aged out");
    this.advertiseIfChanged();
    this.recomputeRoutes();
    if (this.isRoot && this.registry) {
      const silent = silentSince(this.registry, now - this.o.settings.deadAfterMs).filter(
        (id) => id !== this.o.self.id && this.registry?.regions.get(id)?.status === "active",
      );
      if (silent.length > 0) {
        this.log.warn({ regions: silent }, "regions silent too long: marked dead");
        this.setRegistry(markDead(this.registry, silent, now));
      }
    }
    this.dropUnreturnedShortcuts(now);
    this.reconcileLinks();
    this.takeEarlyAdverts();
    if (now - this.trialAt >= this.o.settings.shortcutEveryMs) {
      this.trialAt = now;
      void this.tryShortcut();
    }
  }

  // ---------------------------------------------------------------------------------------
  // What the command line shows

  regionsView(): RegionsReply {
    const registry = this.registry;
    return {
      self: this.o.self.id,
      revision: registry?.revision ?? 0,
      regions: [...(registry?.regions.values() ?? [])].map((region) => {
        const offset = this.links.get(region.id)?.clock.offset();
        return {
          ...region,
          reachable: region.id === this.o.self.id || this.routes?.has(region.id) === true,
          ...(offset !== undefined ? { clockOffsetMs: Math.round(offset * 10) / 10 } : {}),
        };
      }),
    };
  }

  linksView(): LinksReply {
    const now = Date.now();
    return {
      self: this.o.self.id,
      links: [...this.links.values()].map((link) => {
        const cost = link.cost(now);
        const latency = link.latency.estimate(now);
        const offset = link.clock.offset();
        return {
          to: link.region,
          name: link.name,
          up: link.availability !== "down" && link.connection !== undefined,
          open: link.connection !== undefined,
          ...(latency !== undefined ? { latencyMs: round(latency) } : {}),
          ...(link.setupMs !== undefined ? { setupMs: round(link.setupMs) } : {}),
          ...(link.farLoad !== undefined ? { load: round(link.farLoad) } : {}),
          cost: Number.isFinite(cost) ? round(cost) : null,
          ...(offset !== undefined ? { clockOffsetMs: round(offset) } : {}),
        };
      }),
    };
  }

  routeView(to: number): RouteReply {
    if (to === this.o.self.id) return { from: to, to, reachable: true, cost: 0, path: [to] };
    const path = this.routes?.pathTo(to);
    const cost = this.routes?.costTo(to);
    return {
      from: this.o.self.id,
      to,
      reachable: path !== undefined,
      cost: cost !== undefined && Number.isFinite(cost) ? round(cost) : null,
      path: path ?? [],
    };
  }

  stats() {
    return {
      region: this.o.self.id,
      phase: this.phase,
      revision: this.registry?.revision ?? 0,
      links: this.links.size,
      regions: this.registry?.regions.size ?? 0,
      relay: { ...this.relay.counts, inFlight: this.relay.inFlight },
    };
  }

  // ---------------------------------------------------------------------------------------

  private listen(subject: string, handler: (msg: Msg) => void, queue?: string): void {
    this.subs.push(
      this.o.local.subscribe(subject, {
        ...(queue ? { queue } : {}),
        callback: (err, msg) => {
          if (err) return;
          try {
            handler(msg);
          } catch (error) {
            this.log.error({ err: error, subject: msg.subject }, "router handler failed");
          }
        },
      }),
    );
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(() => {
      try {
        run();
      } catch (err) {
        this.log.error({ err }, "router timer failed");
      }
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const sub of this.subs) sub.unsubscribe();
    this.membership?.stop();
    this.relay.close();
    await Promise.allSettled([...this.links.values()].map((l) => l.close()));
    this.links.clear();
    await this.joinNc?.close().catch(() => {});
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

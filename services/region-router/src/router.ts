/**
 * One region's router: it joins the hierarchy, keeps a copy of the registry, holds a bounded set
 * of links to other regions, floods its link costs, computes its routes and relays routed
 * requests along them. The decisions are the pure models' (model/); the parts below wire them to
 * NATS and to time, and this class wires the parts together.
 *
 *   registry  root: validates announces, signs and floods snapshots; others: verify and keep
 *             (registry-keeper.ts)
 *   links     parent + children (the tree) + shortcuts by measured benefit, at most maxDegree
 *             (link-set.ts, shortcuts.ts)
 *   adverts   own links and costs, flooded; every region's kept in the link-state database
 *   routes    shortest paths over that database, damped against flapping (link-state-sync.ts)
 *   relay     routed requests to the next hop (relay.ts)
 *   views     what the command line shows (views.ts)
 */
import { performance } from "node:perf_hooks";
import {
  type AnnounceAccepted,
  type DeploymentSubjects,
  EntenteError,
  type LinksReply,
  type RegionAnnounce,
  type RegionLeave,
  type RegionsReply,
  type RouteReply,
  type TrafficReply,
} from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { type Actor, createActor, fromPromise, waitFor } from "xstate";
import type { RegionRouterSettings } from "./config.ts";
import type { Link } from "./link.ts";
import { LinkSet } from "./link-set.ts";
import { LinkStateSync } from "./link-state-sync.ts";
import { isServing, membershipMachine, phaseOf } from "./model/membership.ts";
import { type RegionSelf, RegistryKeeper } from "./registry-keeper.ts";
import { type NextHop, Relay } from "./relay.ts";
import { Shortcuts } from "./shortcuts.ts";
import type { RouterStore } from "./store.ts";
import { linksView, type RouterState, regionsView, routeView } from "./views.ts";
import { respond, respondError } from "./wire.ts";

export type { RegionSelf } from "./registry-keeper.ts";

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

export class RegionRouter {
  readonly links = new Map<number, Link>();
  private readonly o: RouterOptions;
  private readonly log: Logger;
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly registry: RegistryKeeper;
  private readonly linkState: LinkStateSync;
  private readonly linkSet: LinkSet;
  private readonly shortcuts: Shortcuts;
  private readonly relay: Relay;
  private membership: Actor<typeof membershipMachine> | undefined;
  private load = 0;
  private elu = performance.eventLoopUtilization();
  private stopped = false;

  constructor(options: RouterOptions) {
    this.o = options;
    this.log = options.logger;
    const { local, subjects, self, settings, store, logger } = options;
    const status = { serving: () => this.serving, stopped: () => this.stopped };
    this.registry = new RegistryKeeper({
      stopped: status.stopped,
      local,
      subjects,
      self,
      settings,
      connect: (url) => options.connect(url),
      store,
      logger,
      connectionTo: (region) => this.links.get(region)?.connection,
      flood: (subject, data, from) => this.linkSet.flood(subject, data, from),
      events: {
        kept: (registry) => this.membership?.send({ type: "REGISTRY", registry }),
        settled: () => {
          this.linkSet.reconcile();
          this.linkState.takeEarlyAdverts();
        },
      },
    });
    this.linkState = new LinkStateSync({
      ...status,
      local,
      subjects,
      self,
      settings,
      store,
      logger,
      registry: this.registry,
      links: this.links,
      flood: (subject, data, from, origin) => this.linkSet.flood(subject, data, from, origin),
    });
    this.shortcuts = new Shortcuts({
      ...status,
      self,
      subjects,
      settings,
      connect: (url) => options.connect(url),
      logger,
      links: this.links,
      registry: this.registry,
      linkState: this.linkState,
      adopt: (trial) => this.linkSet.adopt(trial),
      reconcile: () => this.linkSet.reconcile(),
    });
    this.linkSet = new LinkSet({
      ...status,
      links: this.links,
      local,
      subjects,
      self,
      settings,
      connect: (url) => options.connect(url),
      logger,
      registry: this.registry,
      shortcuts: this.shortcuts,
      dropConnection: (nc) => this.relay.dropConnection(nc),
      events: {
        changed: () => this.linkState.advertiseIfChanged(true),
        // Membership re-announces once the parent is back: the root may have marked us dead.
        parent: (availability) =>
          this.membership?.send({ type: availability === "down" ? "PARENT_LOST" : "PARENT_BACK" }),
      },
      load: () => this.load,
    });
    this.relay = new Relay({
      local,
      self: { id: self.id, name: self.name },
      prefix: `${subjects.deployment}.r.`,
      nextHop: (destination) => this.nextHop(destination),
      observe: (region, ms) => this.links.get(region)?.observe(ms),
      traffic: (region) => this.links.get(region)?.traffic(),
      oneWayMs: (region) => {
        const roundTrip = this.links.get(region)?.latency.estimate(Date.now());
        return roundTrip === undefined ? undefined : roundTrip / 2;
      },
      maxHops: settings.maxHops,
      logger,
    });
  }

  get isRoot(): boolean {
    return this.registry.isRoot;
  }

  get serving(): boolean {
    return this.membership !== undefined && isServing(this.membership.getSnapshot());
  }

  get phase(): string {
    return this.membership ? phaseOf(this.membership.getSnapshot()) : "starting";
  }

  async start(): Promise<void> {
    const { local, subjects, self } = this.o;
    await this.linkState.restoreSeq();
    await this.registry.restore();

    const queue = subjects.queueGroup("region-router");
    this.listen(subjects.routedAll, (msg) => this.relay.handle(msg), queue);
    this.listen(subjects.router.probe(self.id), (msg) => this.linkSet.answerProbe(msg));
    // Flooded adverts and snapshots also say whether the region that sent them wants a link.
    this.listen(subjects.router.adverts(self.id), (msg) => {
      this.linkSet.heardFrom(msg);
      this.linkState.onAdvert(msg);
    });
    this.listen(subjects.router.registryPush(self.id), (msg) => {
      this.linkSet.heardFrom(msg);
      this.registry.onSnapshotPush(msg);
    });
    this.listen(subjects.router.announce, (msg) => void this.registry.onAnnounce(msg), queue);
    this.listen(subjects.router.leave, (msg) => this.registry.onLeave(msg), queue);
    this.listen(subjects.router.registry, (msg) => this.registry.answerRegistry(msg), queue);
    this.listen(subjects.router.depart, (msg) => void this.depart(msg), queue);
    await local.flush();

    const parent = this.registry.parentId();
    this.membership = createActor(
      membershipMachine.provide({
        actors: {
          announce: fromPromise<AnnounceAccepted, RegionAnnounce>(({ input }) =>
            this.registry.announce(input),
          ),
          leave: fromPromise<void, RegionLeave>(({ input }) => this.registry.leave(input)),
        },
      }),
      {
        input: {
          self: { id: self.id, name: self.name, url: self.url, ...(parent ? { parent } : {}) },
          isRoot: this.isRoot,
        },
      },
    );
    this.membership.subscribe((snapshot) => {
      if (isServing(snapshot)) this.linkSet.reconcile();
    });
    this.membership.start();
    const registry = this.registry.current;
    if (registry) this.membership.send({ type: "REGISTRY", registry });
    if (!this.isRoot) void this.registry.joinThrough();

    this.shortcuts.deferTrials(Date.now());
    this.every(1_000, () => this.tick());
    this.every(this.o.settings.advertiseEveryMs, () => {
      this.linkState.advertise();
      void this.registry.catchUp();
    });
  }

  /**
   * Leaves the hierarchy on an operator's request: the root marks this region departed, and it
   * stops serving cross-region requests until its router starts again (and announces anew).
   */
  private async depart(msg: Msg): Promise<void> {
    const membership = this.membership;
    if (!membership) return;
    try {
      if (this.isRoot) throw new EntenteError("BAD_REQUEST", "the root region cannot leave");
      membership.send({ type: "LEAVE" });
      const left = await waitFor(membership, (snapshot) => snapshot.status === "done", {
        timeout: 10_000,
      });
      // Left either way; `unconfirmed` says the root did not take the leave (it was unreachable).
      const reason = left.context.reason;
      respond(msg, {
        left: true,
        region: this.o.self.id,
        ...(reason ? { unconfirmed: reason } : {}),
      });
    } catch (err) {
      respondError(this.o.local, msg, err);
    }
  }

  /** Where a routed message for `destination` (a region id or name) goes next. */
  nextHop(destination: string): NextHop {
    return this.linkState.nextHop(destination);
  }

  /** A region's id from its id or its name, as the registry knows it. */
  regionId(region: number | string): number | undefined {
    return this.registry.regionId(region);
  }

  private tick(): void {
    const now = Date.now();
    const elu = performance.eventLoopUtilization(this.elu);
    this.elu = performance.eventLoopUtilization();
    this.load = Math.min(1, Math.max(0, elu.utilization));
    this.linkState.age(now);
    this.linkState.advertiseIfChanged();
    this.linkState.recomputeRoutes();
    this.registry.markSilentDead(now);
    this.shortcuts.dropUnreturned(now);
    this.linkSet.reconcile();
    this.linkState.takeEarlyAdverts();
    this.shortcuts.trialIfDue(now);
  }

  // ---------------------------------------------------------------------------------------
  // What the command line shows

  private state(): RouterState {
    return {
      self: this.o.self.id,
      registry: this.registry.current,
      links: this.links,
      routes: this.linkState.routes,
    };
  }

  regionsView(): RegionsReply {
    return regionsView(this.state());
  }

  linksView(): LinksReply {
    return linksView(this.state(), Date.now());
  }

  routeView(to: number): RouteReply {
    return routeView(this.state(), to);
  }

  stats() {
    const registry = this.registry.current;
    return {
      region: this.o.self.id,
      phase: this.phase,
      revision: registry?.revision ?? 0,
      links: this.links.size,
      regions: registry?.regions.size ?? 0,
      relay: { ...this.relay.counts, inFlight: this.relay.inFlight },
      traffic: this.trafficView().to,
    };
  }

  /** What this region's clients sent to each other region, and what came back. */
  trafficView(): TrafficReply {
    return {
      self: this.o.self.id,
      to: [...this.relay.traffic]
        .sort(([a], [b]) => a - b)
        .map(([region, t]) => ({ region, ...t })),
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
    await this.linkSet.close();
    await this.registry.stop();
  }
}

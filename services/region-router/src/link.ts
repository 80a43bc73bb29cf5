/**
 * One link: this router's connection to a neighbour region's NATS, with what is measured on it
 * (latency, connection setup, the far side's load, its clock offset) and its availability
 * (the link monitor machine). Real traffic feeds the measurements; probes fill in only when the
 * link has been idle.
 */
import {
  type DeploymentSubjects,
  type Probe,
  type ProbeReply,
  probeReplySchema,
} from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import { type Actor, createActor, type EventFromLogic } from "xstate";
import { ClockFilter } from "./model/clock-offset.ts";
import { linkCost, setupCost } from "./model/link-cost.ts";
import { availabilityOf, type LinkAvailability, linkMonitorMachine } from "./model/link-monitor.ts";
import { PeakEwma } from "./model/peak-ewma.ts";
import { encodeJson, jsonHeaders, readBody } from "./wire.ts";

export interface LinkSettings {
  probeIdleMs: number;
  probeTimeoutMs: number;
  missedProbesForDown: number;
  clockOffsetWarnMs: number;
}

export interface LinkEvents {
  /** The link went down or came back: the region re-advertises. */
  changed(link: Link, availability: "down" | "up"): void;
}

/**
 * On probes and flooded messages: "wanted" when the sender keeps its link to us for itself (tree
 * or shortcut), "inbound" when only because we linked to it. Only a wanted link earns a link
 * back, so two links kept for each other's sake die out once neither end wants them.
 */
export const LINK_ROLE_HEADER = "entente-region-link";

/** Wall-clock milliseconds with sub-millisecond precision, for probe timestamps. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export class Link {
  readonly region: number;
  readonly name: string;
  readonly url: string;
  readonly latency = new PeakEwma();
  readonly clock = new ClockFilter();
  setupMs: number | undefined;
  farLoad: number | undefined;
  /** Kept only because the far region links to us. */
  inboundOnly = false;
  /** Date.now() when the connection was made. */
  openedAt: number | undefined;
  private nc: NatsConnection | undefined;
  private readonly monitor: Actor<typeof linkMonitorMachine>;
  private readonly self: number;
  private readonly subjects: DeploymentSubjects;
  private readonly settings: LinkSettings;
  private events: LinkEvents;
  private readonly logger: Logger;
  private warnedClock = false;
  private closed = false;

  constructor(options: {
    self: number;
    region: number;
    name: string;
    url: string;
    subjects: DeploymentSubjects;
    settings: LinkSettings;
    events: LinkEvents;
    logger: Logger;
  }) {
    this.self = options.self;
    this.region = options.region;
    this.name = options.name;
    this.url = options.url;
    this.subjects = options.subjects;
    this.settings = options.settings;
    this.events = options.events;
    this.logger = options.logger.child({ link: options.name });
    this.monitor = createActor(
      linkMonitorMachine.provide({
        actions: {
          sendProbe: (_, params) => void this.probe(params.probe),
          linkDown: () => {
            this.logger.warn({ region: this.region }, "link down: probes unanswered");
            this.events.changed(this, "down");
          },
          linkUp: () => {
            this.logger.info({ region: this.region }, "link up again");
            this.events.changed(this, "up");
          },
        },
      }),
      {
        input: {
          link: options.region,
          probeIdleMs: options.settings.probeIdleMs,
          probeTimeoutMs: options.settings.probeTimeoutMs,
          missedProbesForDown: options.settings.missedProbesForDown,
        },
      },
    );
  }

  /** Who hears of this link's changes: a trial link is adopted as a shortcut this way. */
  rebind(events: LinkEvents): void {
    this.events = events;
  }

  /** Connects, measuring the setup cost: time to connect minus a round trip once connected. */
  async open(connect: (url: string) => Promise<NatsConnection>): Promise<void> {
    const started = performance.now();
    const nc = await connect(this.url);
    const connectMs = performance.now() - started;
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.openedAt = Date.now();
    const rtt = await nc.rtt();
    if (this.closed) return;
    this.setupMs = setupCost(connectMs, rtt);
    this.latency.observe(rtt, Date.now());
    this.monitor.start();
    this.monitor.send({ type: "TRAFFIC", now: Date.now() });
  }

  get connection(): NatsConnection | undefined {
    return this.nc && !this.nc.isClosed() ? this.nc : undefined;
  }

  get availability(): LinkAvailability {
    return this.nc ? availabilityOf(this.monitor.getSnapshot().value) : "down";
  }

  /** The link's cost now, by the one formula (model/link-cost.ts). */
  cost(now = Date.now()): number {
    return linkCost({
      up: this.connection !== undefined && this.availability !== "down",
      latencyMs: this.latency.estimate(now),
      setupMs: this.setupMs,
      open: this.connection !== undefined,
      relayLoad: this.farLoad,
    });
  }

  /** A real request or reply crossed the link. */
  traffic(): void {
    if (this.nc) this.tell({ type: "TRAFFIC", now: Date.now() });
  }

  /** Probe answers may arrive after the link closed and its monitor stopped. */
  private tell(event: EventFromLogic<typeof linkMonitorMachine>): void {
    if (!this.closed) this.monitor.send(event);
  }

  /** A reply's round trip minus the far side's own time. */
  observe(transitMs: number): void {
    this.latency.observe(transitMs, Date.now());
  }

  private async probe(number: number): Promise<void> {
    const nc = this.connection;
    if (!nc) {
      this.tell({ type: "PROBE_MISSED", probe: number });
      return;
    }
    const probe: Probe = { t1: wallClockMs(), from: this.self };
    const sentAt = performance.now();
    try {
      const msg = await nc.request(this.subjects.router.probe(this.region), encodeJson(probe), {
        timeout: this.settings.probeTimeoutMs,
        headers: jsonHeaders({ [LINK_ROLE_HEADER]: this.inboundOnly ? "inbound" : "wanted" }),
      });
      const t4 = wallClockMs();
      const rttMs = performance.now() - sentAt;
      const reply: ProbeReply = readBody(msg, probeReplySchema, "probe reply");
      this.clock.add({ t1: reply.t1, t2: reply.t2, t3: reply.t3, t4 });
      this.latency.observe(Math.max(0, rttMs - (reply.t3 - reply.t2)), Date.now());
      this.farLoad = reply.load;
      this.warnOnClockOffset();
      this.tell({ type: "PROBE_ANSWERED", probe: number, rttMs });
    } catch {
      this.tell({ type: "PROBE_MISSED", probe: number });
    }
  }

  private warnOnClockOffset(): void {
    const offset = this.clock.offset();
    if (offset === undefined) return;
    const far = this.clock.exceeds(this.settings.clockOffsetWarnMs);
    if (far && !this.warnedClock) {
      this.logger.warn(
        {
          region: this.region,
          offsetMs: Math.round(offset),
          thresholdMs: this.settings.clockOffsetWarnMs,
        },
        `clock of region ${this.name} is ${Math.round(offset)} ms off ours`,
      );
    }
    this.warnedClock = far;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.monitor.stop();
    const nc = this.nc;
    this.nc = undefined;
    await nc?.close().catch(() => {});
  }
}

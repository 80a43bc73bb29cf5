/**
 * A session: one upstream, one downstream and the forwarding between them, from connect to
 * close. Every message is acknowledged upstream only after the downstream confirmed it; what
 * may not cross (loops, max hops, expired, malformed, oversized) is settled upstream and counted.
 */
import { EntenteError, type LinkCounters, type LinkDefinition } from "@entente/protocol";
import type { BridgeSettings } from "./config.ts";
import { routingKeyToSubject } from "./mapping.ts";
import type { BridgeNames } from "./names.ts";
import { crossing, HOPS_HEADER, PATH_HEADER } from "./path.ts";
import { openNatsDownstream } from "./sides/nats-downstream.ts";
import { openNatsUpstream } from "./sides/nats-upstream.ts";
import { openRabbitDownstream, openRabbitUpstream } from "./sides/rabbitmq.ts";
import type { DownstreamSide, InboundMessage, SideEvents, UpstreamSide } from "./sides/types.ts";
import type { ThrottledLog } from "./throttled-log.ts";

const PATH_LOWER = PATH_HEADER.toLowerCase();
const HOPS_LOWER = HOPS_HEADER.toLowerCase();

export const emptyCounters = (): LinkCounters => ({
  forwarded: 0,
  loops: 0,
  maxHops: 0,
  expired: 0,
  malformed: 0,
  oversized: 0,
  retried: 0,
  duplicates: 0,
});

export interface SessionEvents {
  upstreamDown(reason: string): void;
  upstreamUp(): void;
  downstreamDown(reason: string): void;
  downstreamUp(): void;
  failed(reason: string): void;
}

export class Session {
  readonly counters = emptyCounters();
  lastForwardedAt: number | undefined;
  /** The last message that could not be forwarded and why, for the status. */
  lastProblem: string | undefined;
  inFlight = 0;
  private readonly link: string;
  private readonly definition: LinkDefinition;
  private readonly settings: BridgeSettings;
  private readonly upstream: UpstreamSide;
  private readonly downstream: DownstreamSide;
  private readonly log: ThrottledLog;
  private readonly prefix: string | undefined;
  private readonly maxBytes: number;
  private downstreamUp = true;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: {
    link: string;
    definition: LinkDefinition;
    settings: BridgeSettings;
    upstream: UpstreamSide;
    downstream: DownstreamSide;
    log: ThrottledLog;
  }) {
    this.link = options.link;
    this.definition = options.definition;
    this.settings = options.settings;
    this.upstream = options.upstream;
    this.downstream = options.downstream;
    this.log = options.log;
    const down = options.definition.downstream;
    this.prefix = down.kind === "rabbitmq" ? undefined : down.subjectPrefix;
    this.maxBytes = Math.min(options.settings.maxMessageBytes, options.downstream.maxPayload);
  }

  async start(events: SessionEvents): Promise<void> {
    const downstreamEvents: SideEvents = {
      down: (reason) => {
        this.downstreamUp = false;
        // Stop taking messages: held ones are redelivered, and checked against the TTL, later.
        void this.upstream.pause();
        events.downstreamDown(reason);
      },
      up: () => {
        this.downstreamUp = true;
        void this.upstream.resume().catch((err: unknown) => events.failed(String(err)));
        events.downstreamUp();
      },
      failed: events.failed,
    };
    this.downstream.watch(downstreamEvents);
    await this.upstream.start((message) => this.forward(message), {
      down: events.upstreamDown,
      up: events.upstreamUp,
      failed: events.failed,
    });
  }

  lag(): Promise<number> {
    return this.upstream.lag();
  }

  private forward(message: InboundMessage): void {
    if (this.closed || !this.downstreamUp) {
      message.retry();
      return;
    }
    try {
      const ttl = this.definition.messageTtl;
      if (ttl !== undefined && Date.now() - message.timestampMs > ttl) {
        this.counters.expired++;
        message.ack();
        return;
      }
      if (message.data.byteLength > this.maxBytes) {
        this.counters.oversized++;
        this.problem(
          `message on ${message.subject} of ${message.data.byteLength} bytes exceeds ${this.maxBytes}`,
        );
        message.reject("oversized");
        return;
      }
      const cross = crossing(
        message.header(PATH_HEADER),
        message.header(HOPS_HEADER),
        this.upstream.brokerId,
        this.downstream.brokerId,
        this.definition.maxHops,
      );
      if (!cross.forward) {
        if (cross.reason === "loop") this.counters.loops++;
        else this.counters.maxHops++;
        message.ack();
        return;
      }
      const subject = message.fromAmqp
        ? routingKeyToSubject(message.subject, this.prefix)
        : this.prefix
          ? `${this.prefix}.${message.subject}`
          : message.subject;
      // headers() hands out a fresh list: drop the old path and hops from it in place.
      const headers = message.headers();
      let kept = 0;
      for (const entry of headers) {
        const lower = entry[0].toLowerCase();
        if (lower !== PATH_LOWER && lower !== HOPS_LOWER) headers[kept++] = entry;
      }
      headers.length = kept;
      headers.push([PATH_HEADER, cross.path], [HOPS_HEADER, String(cross.hops)]);
      this.inFlight++;
      this.downstream.send(
        { subject, data: message.data, headers, msgId: message.originId },
        (error, duplicate) => {
          this.inFlight--;
          if (error === undefined) {
            if (duplicate) this.counters.duplicates++;
            this.counters.forwarded++;
            this.lastForwardedAt = Date.now();
            message.ack();
          } else {
            this.counters.retried++;
            this.problem(error.message);
            message.retry();
          }
        },
      );
    } catch (error) {
      this.counters.malformed++;
      const reason = error instanceof EntenteError ? error.message : String(error);
      this.problem(`malformed message on ${message.subject}: ${reason}`);
      message.reject(reason);
    }
  }

  private problem(reason: string): void {
    if (this.lastProblem !== reason)
      this.log.warn({ link: this.link, reason }, "message not forwarded");
    this.lastProblem = reason;
  }

  /** Idempotent: a link stopping while its session is being closed waits for the same close. */
  close(): Promise<void> {
    this.closing ??= this.closeSides();
    return this.closing;
  }

  private async closeSides(): Promise<void> {
    this.closed = true;
    await this.upstream.pause().catch(() => {});
    // Give confirmations in flight a moment to land, so their acks are not redelivered needlessly.
    const until = Date.now() + Math.min(2000, this.settings.confirmTimeoutMs);
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await this.downstream.close();
    await this.upstream.close();
  }
}

/** A link stopped while connecting gives up between steps, rather than opening the next side. */
function throwIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Error("link stopped while connecting");
}

/** Connects both sides of a link. On failure, or when stopped meanwhile, nothing stays open. */
export async function openSession(options: {
  link: string;
  definition: LinkDefinition;
  settings: BridgeSettings;
  names: BridgeNames;
  log: ThrottledLog;
  signal?: AbortSignal;
}): Promise<Session> {
  const { link, definition, settings, names, signal } = options;
  const confirmTimeoutMs = settings.confirmTimeoutMs;
  const up = definition.upstream;
  const upstream =
    up.kind === "nats"
      ? await openNatsUpstream({ link, definition, upstream: up, confirmTimeoutMs, names })
      : await openRabbitUpstream({ link, definition, upstream: up, names });
  let downstream: DownstreamSide | undefined;
  try {
    throwIfStopped(signal);
    const down = definition.downstream;
    if (down.kind === "rabbitmq") {
      downstream = await openRabbitDownstream({
        link,
        definition,
        downstream: down,
        confirmTimeoutMs,
      });
    } else {
      const base = up.kind === "nats" ? up.subjects : [">"];
      const subjects = base.map((s) => (down.subjectPrefix ? `${down.subjectPrefix}.${s}` : s));
      downstream = await openNatsDownstream({
        link,
        definition,
        downstream: down,
        subjects,
        confirmTimeoutMs,
      });
    }
    throwIfStopped(signal);
    return new Session({
      link,
      definition,
      settings,
      upstream,
      downstream,
      log: options.log,
    });
  } catch (error) {
    await downstream?.close().catch(() => {});
    await upstream.close().catch(() => {});
    throw error;
  }
}

/**
 * Carries routed messages (`<deployment>.r.<region>.fwd.<subject>`) one hop nearer their region.
 *
 *   client ─► router A ──(B's NATS)──► router B ──(C's NATS)──► router C ─► `<subject>` in C
 *   client ◄─ router A ◄──────────── router B ◄────────────── reply (one message or batches)
 *
 * The body is never decoded and the headers travel as they came (but for this hop's trace
 * context and the hop count), so deadlines, stream keys, credit and streamed replies work across
 * any number of relays. The last router publishes the subject in its region with the previous
 * hop's reply subject unchanged: that inbox lives on its own server, so the reply goes straight
 * back. Every other hop answers through a random token of its own inbox on the next region's
 * server and passes each reply message back to the subject the request came with. Stream control
 * messages are routed like requests (the client addresses them to the producer's region), so
 * they need no state here.
 */
import { EntenteError, HEADERS, jsonCodec } from "@entente/protocol";
import {
  type ClientHop,
  errorReply,
  headerOf,
  isNoResponders,
  type Logger,
  publishErrorReply,
  readServerTimeUs,
  type ServerHop,
  startClientHop,
  startServerHop,
  wireHeaders,
  writeServerTimeUs,
} from "@entente/runtime";
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  nuid,
  type Subscription,
} from "@nats-io/nats-core";
import { respondError } from "./wire.ts";

/** Requests to one region and their bytes, both ways. */
export interface RegionTraffic {
  requests: number;
  requestBytes: number;
  replyBytes: number;
}

/** A region this router holds a connection to: requests for it or beyond go there. */
export interface Neighbour {
  region: number;
  name: string;
  /** The router's own connection to the neighbour region's NATS. */
  nc: NatsConnection;
}

/** Where a routed message goes next, as the route table says. */
export type NextHop =
  | { kind: "local" }
  | { kind: "neighbour"; neighbour: Neighbour; destination: number }
  | { kind: "unknown"; reason: string }
  | { kind: "unreachable"; destination: number; reason: string };

export interface RelayOptions {
  /** This region's own NATS, where routed messages for and through it arrive. */
  local: NatsConnection;
  self: { id: number; name: string };
  /** `<deployment>.r.` — the prefix of every routed subject. */
  prefix: string;
  nextHop(destination: string): NextHop;
  /** A reply came back over the link to `region`: round trip minus the far side's own time. */
  observe?(region: number, transitMs: number): void;
  /** The link to `region`'s estimated one-way transit, taken off the budget passed on. */
  oneWayMs?(region: number): number | undefined;
  /** Real traffic crossed the link to `region`: proof of life, no probe needed. */
  traffic?(region: number): void;
  /** Relay hops a request may take before it is refused as a loop. */
  maxHops?: number;
  logger: Logger;
}

interface Pending {
  reply: string;
  region: number;
  /** The neighbour connection it went out on. */
  nc: NatsConnection;
  /** `performance.now()` when it was sent on. */
  sentAt: number;
  /** Date.now() after which nothing more is expected. */
  expiresAt: number;
  /** No latency observed from this request's replies yet. */
  first: boolean;
  server: ServerHop;
  client: ClientHop;
  /** Where its reply bytes are counted, for a request of this region's own clients. */
  traffic?: RegionTraffic;
}

const DEFAULT_MAX_HOPS = 16;
/** Past the deadline, replies still in flight get this long before the token is forgotten. */
const EXPIRY_GRACE_MS = 2_000;
/** The budget of a request that carries none, as workers give it (runtime.defaultTimeoutMs). */
const DEFAULT_TIMEOUT_MS = 30_000;
/** Workers cap a request's budget at this (runtime.maxTimeoutMs): so does the pending map. */
const MAX_TIMEOUT_MS = 300_000;

export class Relay {
  private readonly options: RelayOptions;
  private readonly pending = new Map<string, Pending>();
  /** One wildcard reply inbox per neighbour connection. */
  private readonly inboxes = new Map<NatsConnection, { base: string; sub: Subscription }>();
  private readonly sweeper: NodeJS.Timeout;
  /** Routed messages handled, by outcome, for `$SRV.STATS`. */
  readonly counts = { delivered: 0, forwarded: 0, replies: 0, refused: 0, expired: 0 };
  /**
   * Traffic this region's own clients sent to other regions, by destination: counted where a
   * routed request enters the routers (hop 0), so a request relayed here is not counted again.
   */
  readonly traffic = new Map<number, RegionTraffic>();

  constructor(options: RelayOptions) {
    this.options = options;
    this.sweeper = setInterval(() => this.sweep(Date.now()), 1_000);
    this.sweeper.unref();
  }

  /** Handles one routed message that arrived on this region's NATS. */
  handle(msg: Msg): void {
    const { prefix, logger } = this.options;
    const rest = msg.subject.slice(prefix.length);
    const dot = rest.indexOf(".fwd.");
    const destination = rest.slice(0, dot);
    const subject = rest.slice(dot + ".fwd.".length);
    if (dot <= 0 || subject.length === 0) {
      this.refuse(msg, "MALFORMED", "not a routed subject");
      return;
    }
    const hopsHeader = msg.headers?.get(HEADERS.hops) || "0";
    const hops = Number(hopsHeader);
    if (!/^\d+$/.test(hopsHeader) || !Number.isSafeInteger(hops)) {
      this.refuse(
        msg,
        "MALFORMED",
        `routed request refused: its hop count ${JSON.stringify(hopsHeader.slice(0, 20))} is not a whole number`,
      );
      return;
    }
    if (hops >= (this.options.maxHops ?? DEFAULT_MAX_HOPS)) {
      this.refuse(
        msg,
        "UNAVAILABLE",
        `routed request to region ${destination} took too many hops (${hops}): a routing loop`,
      );
      return;
    }
    let next: NextHop;
    try {
      next = this.options.nextHop(destination);
    } catch (err) {
      logger.error({ err, destination }, "route lookup failed");
      this.refuse(msg, "INTERNAL", `route lookup for region ${destination} failed`);
      return;
    }
    switch (next.kind) {
      case "local":
        this.deliver(msg, subject);
        return;
      case "neighbour":
        this.forward(msg, next.neighbour, hops, subject, next.destination);
        return;
      case "unknown":
        this.refuse(msg, "NOT_FOUND", next.reason);
        return;
      case "unreachable":
        this.refuse(msg, "UNAVAILABLE", next.reason, { region: next.destination });
        return;
    }
  }

  /** The message has arrived: it goes to its subject here, its reply straight back. */
  private deliver(msg: Msg, subject: string): void {
    this.counts.delivered++;
    const options = {
      ...(msg.headers ? { headers: msg.headers } : {}),
      ...(msg.reply ? { reply: msg.reply } : {}),
    };
    this.options.local.publish(subject, msg.data, options);
  }

  private forward(
    msg: Msg,
    neighbour: Neighbour,
    hops: number,
    subject: string,
    destination: number,
  ): void {
    const traffic = hops === 0 ? this.trafficTo(destination) : undefined;
    if (traffic) {
      traffic.requests++;
      traffic.requestBytes += msg.data.length;
    }
    const headers = msg.headers ?? wireHeaders();
    headers.set(HEADERS.hops, String(hops + 1));
    const routed = msg.subject;
    if (!msg.reply) {
      // A stream control message or a notification: nothing comes back.
      this.counts.forwarded++;
      this.publishOn(neighbour, routed, msg.data, headers);
      return;
    }
    const server = startServerHop(msg.headers, {
      subject,
      service: "region-router",
      region: this.options.self.name,
      requestBytes: msg.data.length,
    });
    const client = startClientHop(
      {
        subject,
        service: "region-router",
        sourceRegion: this.options.self.name,
        destinationRegion: neighbour.name,
        requestBytes: msg.data.length,
      },
      server.context,
    );
    client.inject(headers);
    const token = nuid.next();
    const asked = Number(msg.headers?.get(HEADERS.timeoutMs) || DEFAULT_TIMEOUT_MS);
    const timeoutMs = Number.isFinite(asked)
      ? Math.min(Math.max(0, asked), MAX_TIMEOUT_MS)
      : DEFAULT_TIMEOUT_MS;
    // The budget is "what was left when the request left its sender": the next region counts
    // from when it arrives there, so the transit to it comes off, or every hop would lengthen it.
    if (msg.headers?.get(HEADERS.timeoutMs)) {
      const transit = this.options.oneWayMs?.(neighbour.region) ?? 0;
      headers.set(HEADERS.timeoutMs, String(Math.max(1, Math.floor(timeoutMs - transit))));
    }
    this.pending.set(token, {
      reply: msg.reply,
      region: neighbour.region,
      nc: neighbour.nc,
      sentAt: performance.now(),
      expiresAt: Date.now() + timeoutMs + EXPIRY_GRACE_MS,
      first: true,
      server,
      client,
      ...(traffic ? { traffic } : {}),
    });
    this.counts.forwarded++;
    try {
      neighbour.nc.publish(routed, msg.data, {
        headers,
        reply: `${this.inboxOf(neighbour.nc)}.${token}`,
      });
    } catch (err) {
      const pending = this.pending.get(token);
      this.pending.delete(token);
      const error = new EntenteError(
        "UNAVAILABLE",
        `region ${neighbour.name} cannot be reached: ${String(err)}`,
      );
      pending?.client.end({ error });
      pending?.server.end({ error });
      publishErrorReply(this.options.local, msg.reply, error, jsonCodec);
    }
  }

  private publishOn(
    neighbour: Neighbour,
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs,
  ): void {
    try {
      neighbour.nc.publish(subject, data, { headers });
    } catch {
      // The link is closing; a control message lost here is the producer's to time out.
    }
  }

  /** The reply inbox on a neighbour's server, created with its subscription on first use. */
  private inboxOf(nc: NatsConnection): string {
    let inbox = this.inboxes.get(nc);
    if (inbox === undefined) {
      const base = createInbox();
      const sub = nc.subscribe(`${base}.*`, {
        callback: (err, reply) => {
          if (!err) this.onReply(reply, reply.subject.slice(base.length + 1));
        },
      });
      inbox = { base, sub };
      this.inboxes.set(nc, inbox);
    }
    return inbox.base;
  }

  /** A reply (or one batch of it) for a request this router sent on: back it goes. */
  private onReply(msg: Msg, token: string): void {
    const pending = this.pending.get(token);
    if (pending === undefined) return; // expired, or never ours
    this.counts.replies++;
    let headers = msg.headers;
    let data = msg.data;
    const noResponders = isNoResponders(headers, data);
    // The far server answering for an absent router is no sign that the router lives.
    if (!noResponders) this.options.traffic?.(pending.region);
    if (noResponders) {
      // The far router found nobody for the subject; say so in the contract's own shape.
      const error = new EntenteError(
        "NO_RESPONDERS",
        "no worker in the destination region serves the subject",
      );
      const encoded = errorReply(error, jsonCodec);
      headers = encoded.headers;
      data = encoded.data;
    }
    // The reply that carries the far side's own time (a plain reply, a stream's last batch)
    // measures the link: round trip minus that time. Passed back, it carries this relay's time,
    // so the link before this one measures only itself.
    const farUs = readServerTimeUs(headers);
    if (farUs !== undefined && headers) {
      if (pending.first) {
        pending.first = false;
        const roundTripMs = performance.now() - pending.sentAt;
        this.options.observe?.(pending.region, Math.max(0, roundTripMs - farUs / 1000));
      }
      writeServerTimeUs(headers, pending.server.elapsedUs());
    }
    if (pending.traffic) pending.traffic.replyBytes += data.length;
    const last = isLastReply(headers);
    try {
      this.options.local.publish(pending.reply, data, headers ? { headers } : undefined);
    } catch {
      // Our own connection is closing: the requester times out.
    }
    if (last) {
      this.pending.delete(token);
      const failed = headers?.get(HEADERS.error);
      const outcome = failed ? { error: { code: failed } } : { responseBytes: data.length };
      pending.client.end(outcome);
      pending.server.end(outcome);
    }
  }

  private refuse(msg: Msg, code: string, message: string, details?: Record<string, unknown>): void {
    this.counts.refused++;
    if (!msg.reply) return;
    respondError(
      this.options.local,
      msg,
      new EntenteError(code, message, details ? { details } : {}),
    );
  }

  private sweep(now: number): void {
    for (const [token, pending] of this.pending) {
      if (pending.expiresAt > now) continue;
      this.pending.delete(token);
      this.counts.expired++;
      const error = new EntenteError("DEADLINE_EXCEEDED", "no reply within the request's deadline");
      pending.client.end({ error });
      pending.server.end({ error });
    }
  }

  private trafficTo(region: number): RegionTraffic {
    let traffic = this.traffic.get(region);
    if (traffic === undefined) {
      traffic = { requests: 0, requestBytes: 0, replyBytes: 0 };
      this.traffic.set(region, traffic);
    }
    return traffic;
  }

  /** Requests sent on and not yet answered in full. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Forgets the inbox on a connection that is closing; what waits on it fails now, retryable. */
  dropConnection(nc: NatsConnection): void {
    for (const [token, pending] of this.pending) {
      if (pending.nc !== nc) continue;
      this.pending.delete(token);
      const error = new EntenteError(
        "UNAVAILABLE",
        `the link to region ${pending.region} closed before the reply came`,
      );
      pending.client.end({ error });
      pending.server.end({ error });
      try {
        publishErrorReply(this.options.local, pending.reply, error, jsonCodec);
      } catch {
        // Our own connection is closing: the requester times out.
      }
    }
    const inbox = this.inboxes.get(nc);
    if (inbox === undefined) return;
    this.inboxes.delete(nc);
    try {
      inbox.sub.unsubscribe();
    } catch {
      // already closed
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const nc of [...this.inboxes.keys()]) this.dropConnection(nc);
    this.pending.clear();
  }
}

/** The end of a reply: a single message, the last batch of a stream, or an error. */
function isLastReply(headers: MsgHdrs | undefined): boolean {
  if (headerOf(headers, HEADERS.stream) === undefined) return true;
  return (
    headerOf(headers, HEADERS.end) !== undefined || headerOf(headers, HEADERS.error) !== undefined
  );
}

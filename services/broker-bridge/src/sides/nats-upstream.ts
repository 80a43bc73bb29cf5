/**
 * A NATS upstream: the link's subjects are captured into a JetStream stream on the upstream
 * server (the buffer that outlives a vanished downstream) and read by a durable pull consumer
 * per link, at most `prefetch` unacknowledged at a time.
 */
import type { LinkDefinition, NatsUpstream } from "@entente/protocol";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type NatsConnection, nanos } from "@nats-io/nats-core";
import { type HeaderList, isReservedHeader } from "../mapping.ts";
import type { BridgeNames } from "../names.ts";
import { connectSide, natsBrokerId, watchConnection } from "./nats-connect.ts";
import type { InboundMessage, SideEvents, UpstreamSide } from "./types.ts";

/** A message given back for a retry (the downstream did not confirm it) comes back this late. */
const RETRY_DELAY_MS = 250;
/**
 * No arrival for this long: the pull requests made so far have delivered what they will, and a
 * message given back for a retry before the pause has come back, to be held.
 */
const PAUSE_QUIET_MS = RETRY_DELAY_MS + 150;
/** A pause waits no longer than this for the pull requests to fall quiet. */
const PAUSE_DRAIN_MAX_MS = 2000;

export interface NatsUpstreamOptions {
  link: string;
  definition: LinkDefinition;
  upstream: NatsUpstream;
  confirmTimeoutMs: number;
  names: BridgeNames;
}

export async function openNatsUpstream(options: NatsUpstreamOptions): Promise<UpstreamSide> {
  const { link, definition, upstream } = options;
  const nc = await connectSide(upstream, {
    name: `entente bridge ${link} upstream`,
    heartbeatSeconds: definition.heartbeat,
    backoff: definition,
  });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = options.names.bufferStream(link, upstream);
    const created = await ensureBufferStream(jsm, stream, link, definition, upstream);
    const durable = options.names.durable(link);
    await ensureConsumer(jsm, stream, durable, definition, upstream, options.confirmTimeoutMs);
    return new NatsUpstreamSide(nc, jetstream(nc), {
      stream,
      durable,
      created,
      prefetch: definition.prefetch,
      brokerId: natsBrokerId(nc, upstream.id),
    });
  } catch (error) {
    await nc.close().catch(() => {});
    throw error;
  }
}

/** Creates the buffer stream when missing; a link's own stream follows its subjects and TTL. */
async function ensureBufferStream(
  jsm: JetStreamManager,
  stream: string,
  link: string,
  definition: LinkDefinition,
  upstream: NatsUpstream,
): Promise<number> {
  const maxAge = definition.messageTtl === undefined ? 0 : nanos(definition.messageTtl);
  const existing = await jsm.streams.info(stream).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (existing === undefined) {
    const info = await jsm.streams.add({
      name: stream,
      subjects: upstream.subjects,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: maxAge,
      description: `Entente broker bridge buffer of link ${link}`,
    });
    return Date.parse(info.created);
  }
  const owned = upstream.stream === undefined;
  const sameSubjects =
    JSON.stringify([...(existing.config.subjects ?? [])].sort()) ===
    JSON.stringify([...upstream.subjects].sort());
  if (owned && (!sameSubjects || existing.config.max_age !== maxAge)) {
    await jsm.streams.update(stream, {
      ...existing.config,
      subjects: upstream.subjects,
      max_age: maxAge,
    });
  }
  return Date.parse(existing.created);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  definition: LinkDefinition,
  upstream: NatsUpstream,
  confirmTimeoutMs: number,
): Promise<void> {
  // A shared stream holds more than this link wants: filter when NATS can (one subject).
  const filter =
    upstream.stream !== undefined && upstream.subjects.length === 1
      ? upstream.subjects[0]
      : undefined;
  const config = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: definition.prefetch,
    // Long enough that a slow but live downstream is not raced by redeliveries; short enough
    // that what a crashed worker held comes back soon.
    ack_wait: nanos(confirmTimeoutMs * 3),
    max_deliver: -1,
    ...(filter === undefined ? {} : { filter_subject: filter }),
    ...(definition.expires === undefined ? {} : { inactive_threshold: nanos(definition.expires) }),
  };
  const existing = await jsm.consumers.info(stream, durable).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (existing === undefined) {
    await jsm.consumers.add(stream, config);
  } else {
    const { durable_name: _name, deliver_policy: _policy, ...update } = config;
    await jsm.consumers.update(stream, durable, update);
  }
}

function isNotFound(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /not found/i.test(message);
}

class NatsUpstreamSide implements UpstreamSide {
  readonly brokerId: string;
  private readonly nc: NatsConnection;
  private readonly js: JetStreamClient;
  private readonly stream: string;
  private readonly durable: string;
  private readonly originPrefix: string;
  private readonly prefetch: number;
  /** The subscription that forwards, or is being made to: none while paused. */
  private feed: Feed | undefined;
  private deliver: ((message: InboundMessage) => void) | undefined;
  /** Wanted state, set at once by pause() and resume(); subscriptions follow it. */
  private paused = false;
  private closed = false;
  /** Subscriptions draining, as one promise: a pause resolves once they have all ended. */
  private pausing: Promise<void> | undefined;
  /** Delivered while paused: held, not forwarded, and given back once the subscription ends. */
  private held: JsMsg[] = [];
  /** Forwarded and not yet acknowledged, given back or refused. */
  outstanding = 0;
  /** performance.now() of the last message from the consumer. */
  private lastArrival = 0;

  constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    options: {
      stream: string;
      durable: string;
      created: number;
      prefetch: number;
      brokerId: string;
    },
  ) {
    this.nc = nc;
    this.js = js;
    this.stream = options.stream;
    this.durable = options.durable;
    this.prefetch = options.prefetch;
    this.brokerId = options.brokerId;
    // The stream's creation time keeps ids unique when a stream is deleted and made again.
    this.originPrefix = `${options.brokerId}:${options.stream}:${options.created}:`;
  }

  async start(deliver: (message: InboundMessage) => void, events: SideEvents): Promise<void> {
    this.deliver = deliver;
    watchConnection(this.nc, events, "upstream");
    await this.consume(events);
  }

  private async consume(events?: SideEvents): Promise<void> {
    const deliver = this.deliver;
    if (deliver === undefined) return;
    const feed: Feed = { draining: false };
    this.feed = feed;
    const consumer = await this.js.consumers.get(this.stream, this.durable);
    const prefix = this.originPrefix;
    const messages = await consumer.consume({
      max_messages: this.prefetch,
      callback: (msg) => {
        this.lastArrival = performance.now();
        if (feed.draining || this.paused) {
          this.held.push(msg);
        } else {
          this.outstanding++;
          deliver(new NatsInbound(msg, prefix, this));
        }
      },
    });
    feed.messages = messages;
    if (this.feed !== feed) {
      // Paused (or closed) while the subscription was being made: it drains like any other.
      await this.startDrain(feed);
      return;
    }
    if (events) {
      void (async () => {
        for await (const status of messages.status()) {
          if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
            events.failed(`upstream consumer ${this.durable} on ${this.stream} is gone`);
            return;
          }
        }
      })().catch(() => {});
    }
  }

  /** Stops taking messages; resolves once every subscription has ended and what it held is back. */
  pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      const feed = this.feed;
      this.feed = undefined;
      // A feed still being made is drained by consume() once it exists.
      if (feed?.messages !== undefined) void this.startDrain(feed);
    }
    return this.pausing ?? Promise.resolve();
  }

  private startDrain(feed: Feed): Promise<void> {
    feed.draining = true;
    const messages = feed.messages as ConsumerMessages;
    const drained = Promise.all([this.pausing, this.drain(messages)]).then(() => {});
    this.pausing = drained;
    void drained.finally(() => {
      if (this.pausing === drained) this.pausing = undefined;
    });
    return drained;
  }

  /**
   * Ends a subscription without stranding a message. Its pull requests may still deliver: what
   * arrives is held — neither forwarded nor acknowledged, so it fills the consumer's ack-pending
   * room and the server stops sending. Each acknowledgement of a message forwarded before the
   * pause frees room again, so the subscription ends only once those are all settled and nothing
   * has arrived for a moment; then the held messages are given back (nak) for the next session
   * or owner — with the retry delay, as one given back at once was seen to be sent to the ending
   * subscription. A message sent to an inbox nobody reads any more would wait out the consumer's
   * whole ack wait before anyone got it again.
   */
  private async drain(messages: ConsumerMessages): Promise<void> {
    const until = performance.now() + PAUSE_DRAIN_MAX_MS;
    while (performance.now() < until && !this.nc.isClosed()) {
      const quietFor = performance.now() - this.lastArrival;
      if (this.outstanding === 0 && quietFor >= PAUSE_QUIET_MS) break;
      await new Promise((r) => setTimeout(r, Math.max(10, PAUSE_QUIET_MS - quietFor)));
    }
    messages.stop();
    const held = this.held;
    this.held = [];
    for (const msg of held) msg.nak(RETRY_DELAY_MS);
  }

  async resume(): Promise<void> {
    if (this.closed || !this.paused) return;
    this.paused = false;
    // The old subscription ends first; paused again meanwhile, or resumed twice, nothing to do.
    await this.pausing;
    if (this.paused || this.closed || this.feed !== undefined) return;
    await this.consume();
  }

  async lag(): Promise<number> {
    const jsm = await this.js.jetstreamManager();
    const info = await jsm.consumers.info(this.stream, this.durable);
    return info.num_pending + info.num_ack_pending;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pause();
    // Acks and naks of the last confirmations are still in the outbound buffer: send them.
    await flushBriefly(this.nc);
    await this.nc.close().catch(() => {});
  }
}

/** Flushes, but waits at most a second: a connection that is down has nothing to send. */
async function flushBriefly(nc: NatsConnection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    nc.flush().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
    }),
  ]);
  clearTimeout(timer);
}

/** One consume() subscription: draining once it no longer forwards. */
interface Feed {
  messages?: ConsumerMessages;
  draining: boolean;
}

class NatsInbound implements InboundMessage {
  readonly fromAmqp = false;
  private readonly msg: JsMsg;
  private readonly prefix: string;
  private side: { outstanding: number } | undefined;

  constructor(msg: JsMsg, prefix: string, side: { outstanding: number }) {
    this.msg = msg;
    this.prefix = prefix;
    this.side = side;
  }
  /** Counted once, however many times it is settled. */
  private settle(): void {
    if (this.side === undefined) return;
    this.side.outstanding--;
    this.side = undefined;
  }
  get subject(): string {
    return this.msg.subject;
  }
  get data(): Uint8Array {
    return this.msg.data;
  }
  get originId(): string {
    return this.prefix + this.msg.seq;
  }
  get timestampMs(): number {
    return Math.floor(Number(this.msg.info.timestampNanos) / 1e6);
  }
  header(name: string): string | undefined {
    // One lookup: get() answers "" for a missing header, which callers treat as absent.
    return this.msg.headers?.get(name) || undefined;
  }
  headers(): HeaderList {
    const out: HeaderList = [];
    const headers = this.msg.headers;
    if (headers === undefined) return out;
    for (const [name, values] of headers) {
      if (isReservedHeader(name)) continue;
      for (const value of values) out.push([name, value]);
    }
    return out;
  }
  ack(): void {
    this.settle();
    this.msg.ack();
  }
  retry(): void {
    this.settle();
    this.msg.nak(RETRY_DELAY_MS);
  }
  reject(reason: string): void {
    this.settle();
    this.msg.term(reason);
  }
}

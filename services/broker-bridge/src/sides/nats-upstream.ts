/**
 * A NATS upstream: the link's subjects are captured into a JetStream stream on the upstream
 * server (the buffer that outlives a vanished downstream) and read by a durable pull consumer
 * per link, at most `prefetch` unacknowledged at a time.
 */
import type { LinkDefinition, NatsUpstream } from "@entente/protocol";
import {
  AckPolicy,
  type ConsumeCallback,
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type FetchMessages,
  JetStreamApiCodes,
  JetStreamApiError,
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
 * How long one pull request stays open. A pause waits for the open request to end, so this bounds
 * how long a pause takes; it is also how often an idle link asks again.
 */
const PULL_EXPIRES_MS = 2000;
/** A pull request that failed (server away, consumer being updated) is made again this late. */
const PULL_RETRY_MS = 500;
/**
 * A request not ended this long after its expiry is abandoned: its server is unreachable (the
 * client stops watching heartbeats while disconnected), so it cannot deliver to it anyway.
 */
const PULL_ABANDON_AFTER_MS = PULL_EXPIRES_MS + 3000;

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
  /** The pull loop that forwards: none while paused. */
  private feed: Feed | undefined;
  private deliver: ((message: InboundMessage) => void) | undefined;
  private events: SideEvents | undefined;
  /** Wanted state, set at once by pause() and resume(); the pull loop follows it. */
  private paused = false;
  private closed = false;
  /** Pull loops ending, as one promise: a pause resolves once they have all ended. */
  private pausing: Promise<void> | undefined;
  /** Forwarded and not yet acknowledged, given back or refused. */
  outstanding = 0;

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
    this.events = events;
    watchConnection(this.nc, events, "upstream");
    // The consumer is looked up once here, so a missing one fails the start itself.
    const consumer = await this.js.consumers.get(this.stream, this.durable);
    if (!this.paused) this.feed = this.startFeed(consumer);
  }

  private startFeed(consumer?: Consumer): Feed {
    const feed: Feed = { stopping: false, ended: Promise.resolve() };
    feed.ended = this.pullLoop(feed, consumer);
    return feed;
  }

  /**
   * Pulls batches one request at a time until told to stop. While connected, each request is
   * known to have ended (its batch delivered, or the server's timeout status for it received)
   * before the next is made or the loop returns, so the server sends no message to an inbox
   * nobody reads any more: such a message would wait out the consumer's whole ack wait before
   * anyone got it again. (A request the client gives up on — heartbeats missed, or abandoned
   * during a pause with the server unreachable — can still leave one to that wait.)
   * What arrives once the loop is stopping is held — neither forwarded nor acknowledged — and
   * given back when its request has ended, for the next session or owner.
   */
  private async pullLoop(feed: Feed, known?: Consumer): Promise<void> {
    const deliver = this.deliver as (message: InboundMessage) => void;
    const held: JsMsg[] = [];
    let consumer = known;
    while (!feed.stopping && !this.nc.isClosed()) {
      try {
        consumer ??= await this.js.consumers.get(this.stream, this.durable);
        if (feed.stopping) break;
        // A callback rather than an iterator: one call per message, no promise each. The client
        // honours it for fetch as for consume; closed() tells when the request has ended.
        const options: FetchMessages & ConsumeCallback = {
          max_messages: this.prefetch,
          expires: PULL_EXPIRES_MS,
          callback: (msg) => {
            if (feed.stopping) {
              held.push(msg);
            } else {
              this.outstanding++;
              deliver(new NatsInbound(msg, this.originPrefix, this));
            }
          },
        };
        const batch = await consumer.fetch(options);
        feed.batch = batch;
        const ended = await batch.closed();
        if (ended instanceof Error) throw ended;
      } catch (error) {
        if (isConsumerGone(error)) {
          this.events?.failed(`upstream consumer ${this.durable} on ${this.stream} is gone`);
          break;
        }
        // A dropped connection or a request the server refused: ask again shortly, looking the
        // consumer up again — a request to a deleted one only finds no responders.
        consumer = undefined;
        if (!feed.stopping) await new Promise((r) => setTimeout(r, PULL_RETRY_MS));
      } finally {
        feed.batch = undefined;
      }
    }
    giveBack(held);
  }

  /** Stops taking messages; resolves once every pull loop has ended and what it held is back. */
  pause(): Promise<void> {
    if (!this.paused) {
      this.paused = true;
      const feed = this.feed;
      this.feed = undefined;
      if (feed !== undefined) {
        feed.stopping = true;
        const abandon = setTimeout(() => feed.batch?.stop(), PULL_ABANDON_AFTER_MS);
        void feed.ended.finally(() => clearTimeout(abandon));
        const ended = Promise.all([this.pausing, feed.ended]).then(() => {});
        this.pausing = ended;
        void ended.finally(() => {
          if (this.pausing === ended) this.pausing = undefined;
        });
      }
    }
    return this.pausing ?? Promise.resolve();
  }

  async resume(): Promise<void> {
    if (this.closed || !this.paused) return;
    this.paused = false;
    // The old pull loop ends first; paused again meanwhile, or resumed twice, nothing to do.
    await this.pausing;
    if (this.paused || this.closed || this.feed !== undefined || this.deliver === undefined) return;
    this.feed = this.startFeed();
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

/** Held messages back to the consumer, at once; with the connection gone, its ack wait does it. */
function giveBack(held: JsMsg[]): void {
  try {
    for (const msg of held) msg.nak();
  } catch {
    // Closed: nothing more can be sent.
  }
}

/** The link's consumer or its stream was deleted: pulling again cannot help. */
function isConsumerGone(error: unknown): boolean {
  if (error instanceof JetStreamApiError) {
    return (
      error.code === JetStreamApiCodes.ConsumerNotFound ||
      error.code === JetStreamApiCodes.StreamNotFound
    );
  }
  const status = error as { code?: unknown; message?: unknown };
  return status.code === 409 && /(consumer|stream) deleted/i.test(String(status.message));
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

/** One pull loop: stopping once it no longer forwards; ended once its last request has. */
interface Feed {
  stopping: boolean;
  ended: Promise<void>;
  batch?: ConsumerMessages;
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

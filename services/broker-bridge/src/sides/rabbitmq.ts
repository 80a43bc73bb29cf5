import { readFileSync } from "node:fs";
import type { LinkDefinition, RabbitDownstream, RabbitUpstream } from "@entente/protocol";
/**
 * RabbitMQ sides. Upstream: the link's own durable queue bound to the exchange with the link's
 * bindings (x-expires = expires, x-message-ttl = messageTtl: the buffer that outlives a vanished
 * downstream, as in RabbitMQ's federation) or an existing queue; `prefetch` via basic.qos.
 * Downstream: a confirm channel; a message is done when the broker confirmed it. A blocked
 * connection (resource alarm) is reported as the downstream being down; what is in flight stays
 * bounded by prefetch, so the link slows down instead of buffering.
 */
import {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  connect,
  type Message,
  type SocketOptions,
} from "amqplib";
import { AckRuns } from "../ack-runs.ts";
import { amqpToHeaders, type HeaderList, headersToAmqp, subjectToRoutingKey } from "../mapping.ts";
import type { BridgeNames } from "../names.ts";
import type {
  DownstreamSide,
  InboundMessage,
  OutboundMessage,
  SideEvents,
  UpstreamSide,
} from "./types.ts";

interface AmqpEndpoint {
  url: string;
  tls?:
    | { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined }
    | undefined;
}

async function connectAmqp(
  endpoint: AmqpEndpoint,
  definition: LinkDefinition,
  name: string,
): Promise<ChannelModel> {
  const target = new URL(endpoint.url);
  target.searchParams.set("heartbeat", String(definition.heartbeat));
  const tls = endpoint.tls;
  const connection = await connect(target.toString(), {
    timeout: 5000,
    clientProperties: { connection_name: name },
    ...(tls?.caFile ? { ca: [readFileSync(tls.caFile)] } : {}),
    ...(tls?.certFile ? { cert: readFileSync(tls.certFile) } : {}),
    ...(tls?.keyFile ? { key: readFileSync(tls.keyFile) } : {}),
  } as SocketOptions);
  connection.on("error", () => {}); // reported through "close"
  return connection;
}

function amqpBrokerId(
  connection: ChannelModel,
  configured: string | undefined,
  url: string,
): string {
  const properties = connection.connection.serverProperties;
  return configured ?? properties.cluster_name ?? new URL(url).host;
}

function watchAmqp(connection: ChannelModel, channel: Channel, events: SideEvents, what: string) {
  let closing = false;
  connection.on("close", (err?: Error) => {
    if (!closing) events.failed(`${what} connection closed${err ? `: ${err.message}` : ""}`);
  });
  channel.on("error", () => {});
  channel.on("close", () => {
    if (!closing) events.failed(`${what} channel closed`);
  });
  return () => {
    closing = true;
  };
}

export async function openRabbitUpstream(options: {
  link: string;
  definition: LinkDefinition;
  upstream: RabbitUpstream;
  names: BridgeNames;
}): Promise<UpstreamSide> {
  const { link, definition, upstream } = options;
  const connection = await connectAmqp(upstream, definition, `entente bridge ${link} upstream`);
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    await channel.prefetch(definition.prefetch);
    let queue = upstream.queue;
    if (queue === undefined) {
      const exchange = upstream.exchange ?? "";
      await channel.checkExchange(exchange);
      queue = options.names.durable(link);
      const args: Record<string, number> = {};
      if (definition.expires !== undefined) args["x-expires"] = definition.expires;
      if (definition.messageTtl !== undefined) args["x-message-ttl"] = definition.messageTtl;
      await channel.assertQueue(queue, { durable: true, arguments: args });
      for (const binding of upstream.bindings ?? ["#"])
        await channel.bindQueue(queue, exchange, binding);
    } else {
      await channel.checkQueue(queue);
    }
    return new RabbitUpstreamSide(
      connection,
      channel,
      queue,
      amqpBrokerId(connection, upstream.id, upstream.url),
    );
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
}

class RabbitUpstreamSide implements UpstreamSide {
  readonly brokerId: string;
  private readonly connection: ChannelModel;
  private readonly channel: Channel;
  private readonly queue: string;
  private consumerTag: string | undefined;
  private deliver: ((message: InboundMessage) => void) | undefined;
  private unwatch: (() => void) | undefined;
  private inFlight = 0;
  private readonly runs = new AckRuns();
  private flushScheduled = false;

  constructor(connection: ChannelModel, channel: Channel, queue: string, brokerId: string) {
    this.connection = connection;
    this.channel = channel;
    this.queue = queue;
    this.brokerId = brokerId;
  }

  async start(deliver: (message: InboundMessage) => void, events: SideEvents): Promise<void> {
    this.deliver = deliver;
    this.unwatch = watchAmqp(this.connection, this.channel, events, "upstream");
    this.connection.on("blocked", (reason: string) => events.down(`upstream blocked: ${reason}`));
    this.connection.on("unblocked", () => events.up());
    await this.consume();
  }

  private async consume(): Promise<void> {
    const deliver = this.deliver;
    if (deliver === undefined || this.consumerTag !== undefined) return;
    const prefix = `${this.brokerId}:${this.queue}:`;
    const reply = await this.channel.consume(
      this.queue,
      (msg) => {
        if (msg === null) return; // cancelled by the broker; the channel close reports it
        this.inFlight++;
        this.runs.delivered(msg.fields.deliveryTag);
        deliver(
          new RabbitInbound(msg, this.channel, prefix, (acknowledged) =>
            this.settled(msg, acknowledged),
          ),
        );
      },
      { noAck: false },
    );
    this.consumerTag = reply.consumerTag;
  }

  /** Acks go out in runs, once per turn of the event loop, as one `multiple` ack each. */
  private settled(msg: ConsumeMessage, acknowledged: boolean): void {
    this.inFlight--;
    this.runs.settle(msg.fields.deliveryTag, acknowledged);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const tag = this.runs.take();
      if (tag === undefined) return;
      try {
        this.channel.ack({ fields: { deliveryTag: tag } } as Message, true);
      } catch {
        // The channel is gone: the broker redelivers what was not acknowledged.
      }
    });
  }

  async pause(): Promise<void> {
    const tag = this.consumerTag;
    this.consumerTag = undefined;
    if (tag !== undefined) await this.channel.cancel(tag).catch(() => {});
  }

  async resume(): Promise<void> {
    await this.consume();
  }

  async lag(): Promise<number> {
    const info = await this.channel.checkQueue(this.queue);
    return info.messageCount + this.inFlight;
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await this.connection.close().catch(() => {});
  }
}

class RabbitInbound implements InboundMessage {
  readonly fromAmqp = true;
  private readonly msg: ConsumeMessage;
  private readonly channel: Channel;
  private readonly prefix: string;
  private readonly settled: (acknowledged: boolean) => void;
  private done = false;

  constructor(
    msg: ConsumeMessage,
    channel: Channel,
    prefix: string,
    settled: (acknowledged: boolean) => void,
  ) {
    this.msg = msg;
    this.channel = channel;
    this.prefix = prefix;
    this.settled = settled;
  }
  get subject(): string {
    return this.msg.fields.routingKey;
  }
  get data(): Uint8Array {
    return this.msg.content;
  }
  get originId(): string | undefined {
    const id = this.msg.properties.messageId;
    return typeof id === "string" && id !== "" ? this.prefix + id : undefined;
  }
  get timestampMs(): number {
    const ts = this.msg.properties.timestamp;
    return typeof ts === "number" ? ts * 1000 : Date.now();
  }
  header(name: string): string | undefined {
    const value = this.msg.properties.headers?.[name];
    if (value === undefined || value === null) return undefined;
    return Buffer.isBuffer(value) ? value.toString("utf8") : String(value);
  }
  headers(): HeaderList {
    return amqpToHeaders(this.msg.properties as never);
  }
  private giveBack(requeue: boolean): void {
    if (this.done) return;
    this.done = true;
    try {
      this.channel.nack(this.msg, false, requeue);
    } catch {
      // The channel is gone: the broker redelivers what was not acknowledged.
    }
    this.settled(false);
  }
  ack(): void {
    if (this.done) return;
    this.done = true;
    this.settled(true);
  }
  retry(): void {
    this.giveBack(true);
  }
  reject(_reason: string): void {
    // Not requeued: the queue's dead-letter exchange, if any, receives it.
    this.giveBack(false);
  }
}

export async function openRabbitDownstream(options: {
  link: string;
  definition: LinkDefinition;
  downstream: RabbitDownstream;
  confirmTimeoutMs: number;
}): Promise<DownstreamSide> {
  const { link, definition, downstream } = options;
  const connection = await connectAmqp(downstream, definition, `entente bridge ${link} downstream`);
  try {
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => {});
    await channel.assertExchange(downstream.exchange, downstream.exchangeType, { durable: true });
    return new RabbitDownstreamSide(
      connection,
      channel,
      downstream.exchange,
      amqpBrokerId(connection, downstream.id, downstream.url),
    );
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
}

class RabbitDownstreamSide implements DownstreamSide {
  readonly brokerId: string;
  readonly maxPayload = 128 * 1024 * 1024;
  private readonly connection: ChannelModel;
  private readonly channel: ConfirmChannel;
  private readonly exchange: string;
  private unwatch: (() => void) | undefined;
  /** Messages the broker returned as unroutable (no queue bound for them). */
  unroutable = 0;

  constructor(
    connection: ChannelModel,
    channel: ConfirmChannel,
    exchange: string,
    brokerId: string,
  ) {
    this.connection = connection;
    this.channel = channel;
    this.exchange = exchange;
    this.brokerId = brokerId;
    channel.on("return", () => {
      this.unroutable++;
    });
  }

  watch(events: SideEvents): void {
    this.unwatch = watchAmqp(this.connection, this.channel, events, "downstream");
    this.connection.on("blocked", (reason: string) =>
      events.down(`downstream blocked by a resource alarm: ${reason}`),
    );
    this.connection.on("unblocked", () => events.up());
  }

  send(message: OutboundMessage, done: (error?: Error) => void): void {
    const properties = headersToAmqp(message.headers);
    if (properties.messageId === undefined && message.msgId !== undefined) {
      properties.messageId = message.msgId;
    }
    try {
      // `false` means the socket buffer is full: confirms arrive later and what is in flight
      // stays within prefetch, which slows the upstream.
      this.channel.publish(
        this.exchange,
        subjectToRoutingKey(message.subject),
        Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength),
        { ...properties, persistent: properties.deliveryMode !== 1, mandatory: true },
        (err: unknown) =>
          done(err ? new Error(`downstream broker refused: ${String(err)}`) : undefined),
      );
    } catch (error) {
      done(error as Error);
    }
  }

  async close(): Promise<void> {
    this.unwatch?.();
    await this.connection.close().catch(() => {});
  }
}

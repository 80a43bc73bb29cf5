/**
 * NATS downstreams. Into JetStream every message is published with `Nats-Msg-Id` derived from
 * its origin (the stream's duplicate window drops redeliveries) and confirmed by its PubAck;
 * publishes are pipelined — many in flight, each PubAck matched on one wildcard subscription —
 * instead of one request at a time. Into core NATS a batch is confirmed by one round trip
 * (flush) to the server.
 */
import type { JetStreamDownstream, LinkDefinition, NatsDownstream } from "@entente/protocol";
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import type { HeaderList } from "../mapping.ts";
import { connectSide, natsBrokerId, watchConnection } from "./nats-connect.ts";
import type { DownstreamSide, OutboundMessage, SendDone, SideEvents } from "./types.ts";

export interface NatsDownstreamOptions {
  link: string;
  definition: LinkDefinition;
  downstream: NatsDownstream | JetStreamDownstream;
  /** Subjects the link sends, for creating a missing downstream stream. */
  subjects: string[];
  confirmTimeoutMs: number;
}

export async function openNatsDownstream(options: NatsDownstreamOptions): Promise<DownstreamSide> {
  const { link, definition, downstream } = options;
  const nc = await connectSide(downstream, {
    name: `entente bridge ${link} downstream`,
    heartbeatSeconds: definition.heartbeat,
    backoff: definition,
  });
  try {
    const brokerId = natsBrokerId(nc, downstream.id);
    if (downstream.kind === "jetstream") {
      await ensureDownstreamStream(nc, downstream.stream, options.subjects, link);
      return new JetStreamDownstreamSide(nc, brokerId, downstream.stream, options.confirmTimeoutMs);
    }
    return new CoreNatsDownstreamSide(nc, brokerId, options.confirmTimeoutMs);
  } catch (error) {
    await nc.close().catch(() => {});
    throw error;
  }
}

async function ensureDownstreamStream(
  nc: NatsConnection,
  stream: string,
  subjects: string[],
  link: string,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const exists = await jsm.streams.info(stream).then(
    () => true,
    (err: unknown) => {
      if (/not found/i.test(String((err as Error)?.message))) return false;
      throw err;
    },
  );
  if (!exists) {
    await jsm.streams.add({
      name: stream,
      subjects,
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      description: `created by Entente broker bridge link ${link}`,
    });
  }
}

function toNatsHeaders(list: HeaderList) {
  const h = headers();
  for (const [name, value] of list) h.append(name, value);
  return h;
}

const MSG_ID_HEADER = "Nats-Msg-Id";
const EXPECTED_STREAM_HEADER = "Nats-Expected-Stream";

/**
 * The headers of a message into a JetStream stream. Appended rather than set: set() scans and
 * deletes first, per message; leaving out of the list what it would replace gives the same headers.
 */
function toJetStreamHeaders(list: HeaderList, msgId: string | undefined, stream: string) {
  const h = headers();
  const replacesMsgId = msgId !== undefined;
  for (const [name, value] of list) {
    if (name === EXPECTED_STREAM_HEADER || (replacesMsgId && name === MSG_ID_HEADER)) continue;
    h.append(name, value);
  }
  if (replacesMsgId) h.append(MSG_ID_HEADER, msgId);
  h.append(EXPECTED_STREAM_HEADER, stream);
  return h;
}

interface Pending {
  done: SendDone;
  at: number;
}

/** Calls back pending entries older than the timeout with an error; entries are in send order. */
function expire(pending: Map<number, Pending>, timeoutMs: number, what: string): void {
  const limit = Date.now() - timeoutMs;
  for (const [id, entry] of pending) {
    if (entry.at > limit) break;
    pending.delete(id);
    entry.done(new Error(`${what} not confirmed within ${timeoutMs} ms`));
  }
}

class JetStreamDownstreamSide implements DownstreamSide {
  readonly brokerId: string;
  readonly maxPayload: number;
  private readonly nc: NatsConnection;
  private readonly stream: string;
  private readonly inbox: string;
  private readonly pending = new Map<number, Pending>();
  private readonly sweep: NodeJS.Timeout;
  private next = 0;

  constructor(nc: NatsConnection, brokerId: string, stream: string, confirmTimeoutMs: number) {
    this.nc = nc;
    this.brokerId = brokerId;
    this.stream = stream;
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    this.inbox = createInbox();
    const start = this.inbox.length + 1;
    nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, msg) => {
        const id = Number(msg.subject.slice(start));
        const entry = this.pending.get(id);
        if (entry === undefined) return; // confirmed late, after it was given up
        this.pending.delete(id);
        const body = asBuffer(msg.data);
        const error = pubAckError(msg, body, this.stream);
        entry.done(error, error === undefined && body.indexOf(DUPLICATE) !== -1);
      },
    });
    this.sweep = setInterval(
      () => expire(this.pending, confirmTimeoutMs, "PubAck"),
      Math.min(1000, confirmTimeoutMs),
    );
    this.sweep.unref();
  }

  watch(events: SideEvents): void {
    watchConnection(this.nc, events, "downstream");
  }

  send(message: OutboundMessage, done: SendDone): void {
    const h = toJetStreamHeaders(message.headers, message.msgId, this.stream);
    const id = ++this.next;
    this.pending.set(id, { done, at: Date.now() });
    try {
      this.nc.publish(message.subject, message.data, { reply: `${this.inbox}.${id}`, headers: h });
    } catch (error) {
      this.pending.delete(id);
      done(error as Error);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      entry.done(new Error("downstream closed before confirming"));
    }
    await this.nc.close().catch(() => {});
  }
}

const decoder = new TextDecoder();
/** Marks a PubAck of a message the stream already had, e.g. sent again after a crash. */
const DUPLICATE = Buffer.from('"duplicate":true');
const ERROR = Buffer.from('"error"');

/** A view, not a copy: PubAcks are searched as bytes and decoded only when they carry an error. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** undefined for a PubAck, else what went wrong (no stream for the subject, a stream error). */
function pubAckError(msg: Msg, body: Buffer, stream: string): Error | undefined {
  if (msg.headers?.code === 503) {
    return new Error(`no stream on the downstream stores ${stream}'s subjects`);
  }
  if (body.indexOf(ERROR) === -1) return undefined;
  const text = decoder.decode(body);
  try {
    const reply = JSON.parse(text) as { error?: { description?: string; code?: number } };
    return new Error(`downstream stream ${stream}: ${reply.error?.description ?? text}`);
  } catch {
    return new Error(`downstream stream ${stream}: unreadable PubAck ${text.slice(0, 200)}`);
  }
}

class CoreNatsDownstreamSide implements DownstreamSide {
  readonly brokerId: string;
  readonly maxPayload: number;
  private readonly nc: NatsConnection;
  private readonly confirmTimeoutMs: number;
  private batch: Array<(error?: Error) => void> = [];
  private flushing = false;

  constructor(nc: NatsConnection, brokerId: string, confirmTimeoutMs: number) {
    this.nc = nc;
    this.brokerId = brokerId;
    this.confirmTimeoutMs = confirmTimeoutMs;
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  }

  watch(events: SideEvents): void {
    watchConnection(this.nc, events, "downstream");
  }

  send(message: OutboundMessage, done: (error?: Error) => void): void {
    try {
      this.nc.publish(message.subject, message.data, {
        headers: toNatsHeaders(message.headers),
      });
    } catch (error) {
      done(error as Error);
      return;
    }
    this.batch.push(done);
    if (!this.flushing) this.flush();
  }

  /** One round trip confirms everything published before it; the next batch waits its turn. */
  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    this.flushing = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(`downstream round trip not confirmed within ${this.confirmTimeoutMs} ms`),
          ),
        this.confirmTimeoutMs,
      );
    });
    Promise.race([this.nc.flush(), timeout])
      .then(
        () => {
          for (const done of batch) done();
        },
        (error: Error) => {
          for (const done of batch) done(error);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.flushing = false;
        if (this.batch.length > 0) this.flush();
      });
  }

  async close(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    for (const done of batch) done(new Error("downstream closed before confirming"));
    await this.nc.close().catch(() => {});
  }
}

/**
 * The producer's side of a reply. Wire format (NATS headers; names are case-insensitive):
 *
 * Request
 *   `entente-credit: <n>`      batches the requester accepts in flight; absent means 8. The
 *                              producer allows at most its own maximum (32 by default).
 *   `entente-stream-key: <k>`  a fresh random secret (128 bits, base64url) for this request.
 *   `content-type`             the codec of the reply: MessagePack unless `application/json`.
 *
 * Single-message reply: a value whose encoding fits in one batch (256 KiB by default and never
 * less, unless the server's max payload is smaller) is one ordinary message: the body is the
 * encoded value, with no stream headers, so `nats req` shows it whole. It names its
 * `content-type` only when that is JSON: MessagePack, the default, goes unsaid. It carries no
 * tag: it is the first and only message to an inbox nobody could know before it arrived.
 *
 * Batched reply: any other reply is a run of messages to the request's reply subject:
 *   `entente-stream: <id>`    the same on every batch of one reply.
 *   `entente-seq: <n>`        0, 1, 2, … with no gaps.
 *   `entente-control: <subj>` first batch only: where the producer listens for control messages.
 *   `entente-credit: <n>`     first batch only: the credit window the producer allows.
 *   `entente-continued: 1`    the payload ends inside an item that the next batch continues.
 *   `entente-end: 1`          last batch, together with `entente-items: <items in the stream>`.
 *   `entente-auth: <tag>`     with a stream key: HMAC-SHA256 of the headers above, the error
 *                             headers and the payload (stream-key.ts); a batch without a right
 *                             tag is not the producer's and is dropped.
 *   `content-type`            on every batch.
 * The payload is whole encoded items back to back: MessagePack values one after another, or
 * JSON texts each followed by `\n` (NDJSON). An item larger than a batch fills the rest of the
 * current batch and continues in the next ones; every batch it ends before is continued. A stream
 * that fits in one batch is one message carrying both `entente-seq: 0` and `entente-end: 1`; an
 * empty stream is one empty end batch. A producer that pauses for `flushAfterMs` (20 ms) with a
 * batch partly filled has that batch sent as it is, so slow streams are not held back.
 *
 * Control messages, from the requester to `entente-control`, in the reply's codec (its
 * `content-type` header is honoured): `{credit: n}` grants n more batches; `{cancel: true,
 * reason?}` stops the producer, which publishes nothing more. With a stream key each carries
 * `entente-control-seq: <n>` (1, 2, 3, …) and `entente-auth: <tag>`; one with a wrong tag or a
 * number not above the last accepted is refused and counted. The requester grants credit back as
 * it consumes batches (every half window), so at most `credit` batches are ever unread.
 * No credit for `consumerTimeoutMs` (30 s) means the consumer is gone: the producer stops.
 * Every batch also needs room in the worker's budget of unread bytes; no room for
 * `consumerTimeoutMs` ends the reply with UNAVAILABLE.
 *
 * Errors: an error before any batch is one plain error reply; a later one is a final batch
 * carrying `entente-stream`, `entente-seq` and its tag as well. Either has `entente-error: <code>`,
 * `Nats-Service-Error: <message>`, `Nats-Service-Error-Code: <status>` and the body
 * `{error: {code, message, retryable, details?}}`, bounded in size. Headers from `finalHeaders`
 * (the server's time, for instance) go on the last message, whichever kind it is.
 */

import { type Codec, HEADERS, MSGPACK, toEntenteError } from "@entente/protocol";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { normalizeCredit } from "./credit.ts";
import { errorReply } from "./error-reply.ts";
import { headerOf, setAll } from "./frame-headers.ts";
import { asItem, encodeItem } from "./frames.ts";
import { type EncodedSource, StreamSender } from "./stream-sender.ts";
import {
  DEFAULT_BATCH_BYTES,
  DEFAULT_CREDIT,
  MIN_BATCH_BYTES,
  type ReplyBody,
  type SendReplyOptions,
  type SendReplyResult,
} from "./types.ts";
import { wireHeaders } from "./wire-headers.ts";

export { errorReply, publishErrorReply } from "./error-reply.ts";

/** Room left for headers (trace context, timings) when a batch is sized from the max payload. */
const HEADER_ROOM = 16 * 1024;

type Publisher = Pick<NatsConnection, "publish" | "subscribe" | "info">;

/** What a request's headers say about its reply: the credit it asks for and its stream key. */
export function streamRequestOptions(
  h: MsgHdrs | undefined,
): Pick<SendReplyOptions, "initialCredit" | "streamKey"> {
  const options: Pick<SendReplyOptions, "initialCredit" | "streamKey"> = {};
  const credit = headerOf(h, HEADERS.credit);
  if (credit !== undefined) options.initialCredit = normalizeCredit(credit, DEFAULT_CREDIT);
  const key = headerOf(h, HEADERS.streamKey);
  if (key !== undefined) options.streamKey = key;
  return options;
}

/**
 * Sends a handler's reply to `reply`. Never throws for a failing producer or a lost consumer:
 * the outcome says how the reply ended.
 */
export async function sendReply(
  nc: Publisher,
  reply: string,
  body: ReplyBody,
  opts: SendReplyOptions,
): Promise<SendReplyResult> {
  if (body.kind === "value") {
    const single = publishSingle(
      nc,
      reply,
      body.value,
      opts.codec,
      opts.batchBytes,
      opts.finalHeaders?.(),
    );
    return single instanceof Uint8Array ? streamEncoded(nc, reply, single, opts) : single;
  }
  const batchBytes = effectiveBatchBytes(nc, opts.batchBytes);
  return new StreamSender(nc, reply, opts, batchBytes).run(encodedItems(opts.codec, body.items));
}

/**
 * A value whose encoding fits in one batch, published at once as one plain message with
 * `finalHeaders`: the result, with no promise and no stream to set up. A larger value comes back
 * encoded, for {@link streamEncoded}.
 */
export function publishSingle(
  nc: Publisher,
  reply: string,
  value: unknown,
  codec: Codec,
  batchBytes: number | undefined,
  finalHeaders: Record<string, string> | undefined,
): SendReplyResult | Uint8Array {
  const limit = effectiveBatchBytes(nc, batchBytes);
  let encoded: Uint8Array;
  try {
    encoded = codec.encode(value);
  } catch (err) {
    return sendFailure(nc, reply, err, codec, finalHeaders);
  }
  if (encoded.length > limit) return encoded;
  const h = wireHeaders();
  // MessagePack is the default both ways; naming it on every small reply costs throughput.
  if (codec.contentType !== MSGPACK) h.set(HEADERS.contentType, codec.contentType);
  setAll(h, finalHeaders);
  try {
    nc.publish(reply, encoded, { headers: h });
  } catch (err) {
    return { batches: 0, items: 0, bytes: 0, outcome: "failed", error: toEntenteError(err) };
  }
  return { batches: 1, items: 1, bytes: encoded.length, outcome: "completed" };
}

/** A value too large for one message, already encoded, sent as a stream of one item. */
export function streamEncoded(
  nc: Publisher,
  reply: string,
  encoded: Uint8Array,
  opts: SendReplyOptions,
): Promise<SendReplyResult> {
  const batchBytes = effectiveBatchBytes(nc, opts.batchBytes);
  return new StreamSender(nc, reply, opts, batchBytes).run(oneEncoded(opts.codec, encoded));
}

/** The batch size actually used: the option, kept clear of the server's max payload. */
export function effectiveBatchBytes(nc: Pick<NatsConnection, "info">, requested?: number): number {
  const size = requested ?? DEFAULT_BATCH_BYTES;
  if (!Number.isInteger(size) || size < MIN_BATCH_BYTES) {
    throw new RangeError(
      `batchBytes must be an integer of at least ${MIN_BATCH_BYTES}, got ${size}`,
    );
  }
  const max = nc.info?.max_payload;
  return max === undefined ? size : Math.max(1, Math.min(size, max - HEADER_ROOM));
}

function sendFailure(
  nc: Publisher,
  reply: string,
  err: unknown,
  codec: Codec,
  finalHeaders: Record<string, string> | undefined,
): SendReplyResult {
  const { headers: h, data, error } = errorReply(err, codec, finalHeaders);
  try {
    nc.publish(reply, data, { headers: h });
  } catch {
    return { batches: 0, items: 0, bytes: 0, outcome: "failed", error };
  }
  return { batches: 1, items: 0, bytes: data.length, outcome: "failed", error };
}

/** Encodes items as they are pulled, so nothing is read ahead of the credit. */
function encodedItems(
  codec: Codec,
  items: AsyncIterable<unknown> | Iterable<unknown>,
): EncodedSource {
  const it: AsyncIterator<unknown> | Iterator<unknown> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  return {
    async next(): Promise<IteratorResult<Uint8Array, undefined>> {
      const r = await it.next();
      return r.done
        ? { done: true, value: undefined }
        : { done: false, value: encodeItem(codec, r.value) };
    },
    async close(): Promise<void> {
      await it.return?.();
    },
  };
}

/** A value too large for one message, already encoded: a stream of one item. */
function oneEncoded(codec: Codec, encoded: Uint8Array): EncodedSource {
  let item: Uint8Array | undefined = asItem(codec, encoded);
  return {
    async next() {
      const value = item;
      item = undefined;
      return value === undefined ? { done: true, value: undefined } : { done: false, value };
    },
    async close() {},
  };
}

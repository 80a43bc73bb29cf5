/**
 * The producer's side of a reply. Wire format (NATS headers; names are case-insensitive):
 *
 * Request
 *   `entente-credit: <n>`   batches the requester accepts in flight; absent means 8.
 *   `content-type`          the codec of the reply: MessagePack unless `application/json`.
 *
 * Single-message reply: a value whose encoding fits in one batch (256 KiB by default and never
 * less, unless the server's max payload is smaller) is one ordinary message: the body is the
 * encoded value, with no stream headers, so `nats req` shows it whole. It names its
 * `content-type` only when that is JSON: MessagePack, the default, goes unsaid.
 *
 * Batched reply: any other reply is a run of messages to the request's reply subject:
 *   `entente-stream: <id>`    the same on every batch of one reply.
 *   `entente-seq: <n>`        0, 1, 2, … with no gaps.
 *   `entente-control: <subj>` first batch only: where the producer listens for control messages.
 *   `entente-partial: 1`      the payload ends inside an item that the next batch continues.
 *   `entente-end: 1`          last batch, together with `entente-items: <items in the stream>`.
 *   `content-type`            on every batch.
 * The payload is whole encoded items back to back: MessagePack values one after another, or
 * JSON texts each followed by `\n` (NDJSON). An item larger than a batch fills the rest of the
 * current batch and continues in the next ones; every batch it ends before is partial. A stream
 * that fits in one batch is one message carrying both `entente-seq: 0` and `entente-end: 1`; an
 * empty stream is one empty end batch. A producer that pauses for `flushAfterMs` (20 ms) with a
 * batch partly filled has that batch sent as it is, so slow streams are not held back.
 *
 * Control messages, from the requester to `entente-control`, in the reply's codec (its
 * `content-type` header is honoured): `{credit: n}` grants n more batches; `{cancel: true,
 * reason?}` stops the producer, which publishes nothing more. The requester grants credit back
 * as it consumes batches (every half window), so at most `credit` batches are ever unread.
 * No credit for `consumerTimeoutMs` (30 s) means the consumer is gone: the producer stops.
 *
 * Errors: an error before any batch is one plain error reply; a later one is a final batch
 * carrying `entente-stream` and `entente-seq` as well. Either has `entente-error: <code>`,
 * `Nats-Service-Error: <message>`, `Nats-Service-Error-Code: <status>` and the body
 * `{error: {code, message, retryable, details?}}`. Headers from `finalHeaders` (the server's
 * time, for instance) go on the last message, whichever kind it is.
 */

import {
  type Codec,
  codecFor,
  EntenteError,
  HEADERS,
  MSGPACK,
  parseMessage,
  type StreamControl,
  streamControlSchema,
  toEntenteError,
} from "@entente/protocol";
import { createInbox, headers, type NatsConnection, nuid } from "@nats-io/nats-core";
import { CreditBalance, normalizeCredit } from "./credit.ts";
import { errorReply } from "./error-reply.ts";
import { frameHeaders, headerOf, setAll } from "./frame-headers.ts";
import { asItem, encodeItem, type Frame, FrameBuilder } from "./frames.ts";
import {
  DEFAULT_BATCH_BYTES,
  DEFAULT_CONSUMER_TIMEOUT_MS,
  DEFAULT_CREDIT,
  DEFAULT_FLUSH_AFTER_MS,
  MIN_BATCH_BYTES,
  type ReplyBody,
  type SendReplyOptions,
  type SendReplyResult,
} from "./types.ts";

export { errorReply, publishErrorReply } from "./error-reply.ts";

/** Room left for headers (trace context, timings) when a batch is sized from the max payload. */
const HEADER_ROOM = 16 * 1024;

type Publisher = Pick<NatsConnection, "publish" | "subscribe" | "info">;

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
  const { codec } = opts;
  const batchBytes = effectiveBatchBytes(nc, opts.batchBytes);
  if (body.kind === "value") {
    let encoded: Uint8Array;
    try {
      encoded = codec.encode(body.value);
    } catch (err) {
      return sendFailure(nc, reply, err, opts);
    }
    if (encoded.length <= batchBytes) {
      const h = headers();
      // MessagePack is the default both ways; naming it on every small reply costs throughput.
      if (codec.contentType !== MSGPACK) h.set(HEADERS.contentType, codec.contentType);
      setAll(h, opts.finalHeaders?.());
      try {
        nc.publish(reply, encoded, { headers: h });
      } catch (err) {
        return { batches: 0, items: 0, bytes: 0, outcome: "failed", error: toEntenteError(err) };
      }
      return { batches: 1, items: 1, bytes: encoded.length, outcome: "completed" };
    }
    return new StreamSender(nc, reply, opts, batchBytes).run(oneEncoded(codec, encoded));
  }
  return new StreamSender(nc, reply, opts, batchBytes).run(encodedItems(codec, body.items));
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

async function sendFailure(
  nc: Publisher,
  reply: string,
  err: unknown,
  opts: SendReplyOptions,
): Promise<SendReplyResult> {
  const { headers: h, data, error } = errorReply(err, opts.codec, opts.finalHeaders?.());
  try {
    nc.publish(reply, data, { headers: h });
  } catch {
    return { batches: 0, items: 0, bytes: 0, outcome: "failed", error };
  }
  return { batches: 1, items: 0, bytes: data.length, outcome: "failed", error };
}

interface EncodedSource {
  next(): Promise<IteratorResult<Uint8Array, undefined>>;
  close(): Promise<void>;
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

type Stop = { outcome: "cancelled"; tell?: EntenteError } | { outcome: "consumer-gone" };

/** One batched reply: pulls items while credit lasts, listens for control messages. */
class StreamSender {
  readonly #nc: Publisher;
  readonly #reply: string;
  readonly #opts: SendReplyOptions;
  readonly #codec: Codec;
  readonly #builder: FrameBuilder;
  readonly #credit: CreditBalance;
  readonly #flushAfterMs: number;
  readonly #stream = nuid.next();
  readonly #control = createInbox();
  #seq = 0;
  #items = 0;
  #bytes = 0;
  #stop: Stop | undefined;
  #stopped: Promise<void>;
  #onStop!: () => void;
  #wake: (() => void) | undefined;
  /** Since when the loop has waited on the producer with a batch partly filled. */
  #waitingSince: number | undefined;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(nc: Publisher, reply: string, opts: SendReplyOptions, batchBytes: number) {
    this.#nc = nc;
    this.#reply = reply;
    this.#opts = opts;
    this.#codec = opts.codec;
    this.#builder = new FrameBuilder(batchBytes);
    this.#credit = new CreditBalance(normalizeCredit(opts.initialCredit, DEFAULT_CREDIT));
    this.#flushAfterMs = opts.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS;
    this.#stopped = new Promise((resolve) => {
      this.#onStop = resolve;
    });
  }

  async run(source: EncodedSource): Promise<SendReplyResult> {
    const signal = this.#opts.signal;
    const onAbort = () => this.#halt({ outcome: "cancelled", tell: abortError(signal) }, false);
    // Subscribed before the first batch leaves, so no grant can arrive unheard.
    const sub = this.#nc.subscribe(this.#control, {
      callback: (err, msg) => {
        if (!err) this.#onControl(msg.data, headerOf(msg.headers, HEADERS.contentType));
      },
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    let finished = false;
    let failure: EntenteError | undefined;
    try {
      pull: while (this.#stop === undefined) {
        const pending = source.next();
        if (this.#builder.held > 0) this.#startWaiting();
        let next: IteratorResult<Uint8Array, undefined> | undefined;
        try {
          next = await this.#unlessStopped(pending);
        } catch (err) {
          this.#waitingSince = undefined;
          failure = toEntenteError(err);
          // The items before the failure still reach the requester, then the error.
          if (this.#builder.held > 0) await this.#send(this.#builder.flush(), false);
          break;
        } finally {
          this.#waitingSince = undefined;
        }
        if (next === undefined) break;
        if (next.done) {
          finished = await this.#send(this.#builder.flush(), true);
          break;
        }
        for (const frame of this.#builder.push(next.value)) {
          if (!(await this.#send(frame, false))) break pull;
        }
      }
    } catch (err) {
      failure ??= toEntenteError(err);
    } finally {
      sub.unsubscribe();
      signal?.removeEventListener("abort", onAbort);
      clearTimeout(this.#flushTimer);
      this.#waitingSince = undefined;
      this.#wake = undefined;
    }
    if (finished) return this.#result("completed");
    const stop = this.#stop;
    const tell = failure ?? (stop?.outcome === "cancelled" ? stop.tell : undefined);
    if (tell !== undefined) this.#tell(tell);
    // Finalizes the producer (its `finally` blocks run); a failing close is not our failure.
    await source.close().catch(() => {});
    if (failure !== undefined) return this.#result("failed", failure);
    return this.#result(stop?.outcome ?? "cancelled");
  }

  /** Publishes one batch once credit allows; false when the stream stopped instead. */
  async #send(frame: Frame, end: boolean): Promise<boolean> {
    while (!this.#credit.tryTake()) {
      if (!(await this.#awaitCredit())) return false;
    }
    if (this.#stop !== undefined) return false;
    this.#publish(frame, end);
    return true;
  }

  #publish(frame: Frame, end: boolean): void {
    const h = frameHeaders({
      codec: this.#codec,
      stream: this.#stream,
      seq: this.#seq,
      control: this.#seq === 0 ? this.#control : undefined,
      partial: frame.partial,
      end,
      ...(end ? { items: this.#items + frame.items } : {}),
      extra: end ? this.#opts.finalHeaders?.() : undefined,
    });
    this.#nc.publish(this.#reply, frame.payload, { headers: h });
    this.#seq++;
    this.#items += frame.items;
    this.#bytes += frame.payload.length;
  }

  /**
   * A slow producer must not leave items waiting in a half-filled batch: once it has kept the
   * loop waiting for `flushAfterMs`, what is held goes out (credit permitting). One timer serves
   * many waits, so a fast producer costs no timer per item.
   */
  #startWaiting(): void {
    this.#waitingSince = performance.now();
    this.#flushTimer ??= setTimeout(this.#onFlushTimer, this.#flushAfterMs);
  }

  #onFlushTimer = (): void => {
    this.#flushTimer = undefined;
    const since = this.#waitingSince;
    if (since === undefined) return;
    const waited = performance.now() - since;
    if (waited < this.#flushAfterMs) {
      this.#flushTimer = setTimeout(this.#onFlushTimer, this.#flushAfterMs - waited);
      return;
    }
    this.#flushHeld();
  };

  /** Sends the held batch while the loop waits on the producer (so no batch is mid-send). */
  #flushHeld(): void {
    const since = this.#waitingSince;
    if (since === undefined || this.#stop !== undefined || this.#builder.held === 0) return;
    if (performance.now() - since < this.#flushAfterMs) return;
    if (!this.#credit.tryTake()) return; // a grant will bring it here again
    try {
      this.#publish(this.#builder.flush(), false);
    } catch {
      // The connection is gone; the next batch fails the same way, inside the loop.
    }
  }

  /** Waits for a grant; false when the consumer timed out or the stream was stopped. */
  #awaitCredit(): Promise<boolean> {
    if (this.#stop !== undefined) return Promise.resolve(false);
    const timeoutMs = this.#opts.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#halt({ outcome: "consumer-gone" });
      }, timeoutMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(this.#stop === undefined);
      };
    });
  }

  #onControl(data: Uint8Array, contentType: string | undefined): void {
    let control: StreamControl;
    try {
      const codec = contentType === undefined ? this.#codec : codecFor(contentType);
      control = parseMessage(streamControlSchema, codec.decode(data), "stream control message");
    } catch {
      return; // Not ours to answer: a control subject has no reply.
    }
    if ("credit" in control) {
      this.#credit.grant(control.credit);
      this.#wake?.();
      this.#flushHeld();
    } else {
      this.#halt({ outcome: "cancelled" });
    }
  }

  /** Stops the stream; `fromRequester` tells the caller's `onStop` hook as well. */
  #halt(stop: Stop, fromRequester = true): void {
    if (this.#stop !== undefined) return;
    this.#stop = stop;
    this.#onStop();
    this.#wake?.();
    if (!fromRequester) return;
    try {
      this.#opts.onStop?.(stop.outcome);
    } catch {
      // The caller's hook must not break the stream's shutdown.
    }
  }

  /** Races a pull from the producer against a stop, so a slow producer cannot delay it. */
  async #unlessStopped<T>(pending: Promise<T>): Promise<T | undefined> {
    pending.catch(() => {}); // a rejection after a stop has nobody left to hear it
    return Promise.race([pending, this.#stopped.then(() => undefined)]);
  }

  /** Tells the requester why the reply ends early, as a plain error reply or a final batch. */
  #tell(error: EntenteError): void {
    const extra: Record<string, string> =
      this.#seq === 0 ? {} : { [HEADERS.stream]: this.#stream, [HEADERS.seq]: String(this.#seq) };
    Object.assign(extra, this.#opts.finalHeaders?.());
    const { headers: h, data } = errorReply(error, this.#codec, extra);
    try {
      this.#nc.publish(this.#reply, data, { headers: h });
      this.#seq++;
      this.#bytes += data.length;
    } catch {
      // The connection is gone; the requester's stall timer reports it.
    }
  }

  #result(outcome: SendReplyResult["outcome"], error?: EntenteError): SendReplyResult {
    const result: SendReplyResult = {
      batches: this.#seq,
      items: this.#items,
      bytes: this.#bytes,
      outcome,
    };
    if (error !== undefined) result.error = error;
    return result;
  }
}

function abortError(signal: AbortSignal | undefined): EntenteError {
  const reason: unknown = signal?.reason;
  if (reason instanceof EntenteError) return reason;
  return new EntenteError("CANCELLED", "the reply was cancelled by the server", {
    cause: reason,
  });
}

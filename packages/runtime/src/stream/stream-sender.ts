import { type Codec, EntenteError, HEADERS, toEntenteError } from "@entente/protocol";
import { createInbox, type Msg, type NatsConnection, nuid } from "@nats-io/nats-core";
import { ByteBudget, OutstandingBatches } from "./budget.ts";
import { ControlGate } from "./control-gate.ts";
import { CreditBalance, normalizeCredit } from "./credit.ts";
import { errorReply } from "./error-reply.ts";
import { frameHeaders } from "./frame-headers.ts";
import { type Frame, FrameBuilder } from "./frames.ts";
import { connectionInboxPrefix } from "./inbox-mux.ts";
import { WorkSlice, yieldToEventLoop } from "./slice.ts";
import { StreamKey } from "./stream-key.ts";
import {
  DEFAULT_CONSUMER_TIMEOUT_MS,
  DEFAULT_CREDIT,
  DEFAULT_FLUSH_AFTER_MS,
  DEFAULT_MAX_CREDIT,
  type SendReplyOptions,
  type SendReplyResult,
} from "./types.ts";

/** Items pulled before the loop lets the event loop turn, when no batch went out meanwhile. */
const ITEMS_PER_SLICE = 256;

type Publisher = Pick<NatsConnection, "publish" | "subscribe">;

export interface EncodedSource {
  next(): Promise<IteratorResult<Uint8Array, undefined>>;
  close(): Promise<void>;
}

type Stop =
  | { outcome: "cancelled"; tell?: EntenteError }
  | { outcome: "consumer-gone" }
  | { outcome: "failed"; tell: EntenteError };

/** What a batch waits for before it may go out. */
type Blocker = "credit" | "room";

/**
 * One batched reply (the wire format is described in sender.ts): pulls items while credit and
 * the worker's budget allow, tags each batch, listens for control messages and lets the event
 * loop turn after every batch.
 */
export class StreamSender {
  readonly #nc: Publisher;
  readonly #reply: string;
  readonly #opts: SendReplyOptions;
  readonly #codec: Codec;
  readonly #builder: FrameBuilder;
  readonly #window: number;
  readonly #credit: CreditBalance;
  readonly #budget: ByteBudget;
  readonly #outstanding = new OutstandingBatches();
  readonly #key: StreamKey | undefined;
  readonly #gate: ControlGate;
  readonly #slice = new WorkSlice(ITEMS_PER_SLICE);
  readonly #flushAfterMs: number;
  readonly #consumerTimeoutMs: number;
  readonly #stream = nuid.next();
  readonly #control: string;
  #seq = 0;
  #items = 0;
  #bytes = 0;
  #rejectedControls = 0;
  #stop: Stop | undefined;
  #stopped: Promise<void>;
  #onStop!: () => void;
  /** What the loop waits for, and how to wake it. */
  #blockedOn: Blocker | undefined;
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
    const maxCredit = opts.maxCredit ?? DEFAULT_MAX_CREDIT;
    this.#window = normalizeCredit(opts.initialCredit, DEFAULT_CREDIT, maxCredit);
    this.#credit = new CreditBalance(this.#window);
    this.#budget = opts.budget ?? new ByteBudget(Number.POSITIVE_INFINITY);
    this.#key = opts.streamKey === undefined ? undefined : new StreamKey(opts.streamKey);
    this.#gate = new ControlGate(this.#stream, this.#key, opts.codec);
    this.#flushAfterMs = opts.flushAfterMs ?? DEFAULT_FLUSH_AFTER_MS;
    this.#consumerTimeoutMs = opts.consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS;
    this.#control = createInbox(opts.inboxPrefix ?? connectionInboxPrefix(nc));
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
        if (!err) this.#onControl(msg);
      },
    });
    const stopHearingRoom = this.#budget.onRelease(this.#onRoom);
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
        // A producer of many small items fills a batch slowly: turn the loop meanwhile too.
        if (this.#slice.add()) await yieldToEventLoop();
      }
    } catch (err) {
      failure ??= toEntenteError(err);
    } finally {
      sub.unsubscribe();
      stopHearingRoom();
      signal?.removeEventListener("abort", onAbort);
      clearTimeout(this.#flushTimer);
      this.#waitingSince = undefined;
      this.#wake = undefined;
      // What is still out is no longer this stream's to wait for.
      this.#budget.release(this.#outstanding.clear());
    }
    if (finished) return this.#result("completed");
    const stop = this.#stop;
    const tell = failure ?? (stop !== undefined && "tell" in stop ? stop.tell : undefined);
    if (tell !== undefined) this.#tell(tell);
    // Finalizes the producer (its `finally` blocks run); a failing close is not our failure.
    await source.close().catch(() => {});
    if (failure !== undefined) return this.#result("failed", failure);
    if (stop?.outcome === "failed") return this.#result("failed", stop.tell);
    return this.#result(stop?.outcome ?? "cancelled");
  }

  /** Publishes one batch once credit and room allow; false when the stream stopped instead. */
  async #send(frame: Frame, end: boolean): Promise<boolean> {
    for (;;) {
      if (this.#stop !== undefined) return false;
      const blocker = this.#reserve(frame.payload.length);
      if (blocker === undefined) break;
      if (!(await this.#waitFor(blocker))) return false;
    }
    this.#publish(frame, end);
    // Between batches the socket writes and other requests get their turn.
    if (!end) {
      await yieldToEventLoop();
      this.#slice.reset();
    }
    return true;
  }

  /** Takes one credit and room for `bytes`, or says which of the two is missing. */
  #reserve(bytes: number): Blocker | undefined {
    if (this.#credit.available < 1) return "credit";
    if (!this.#budget.tryTake(bytes)) return "room";
    this.#credit.tryTake();
    return undefined;
  }

  #publish(frame: Frame, end: boolean): void {
    const first = this.#seq === 0;
    const h = frameHeaders({
      codec: this.#codec,
      stream: this.#stream,
      seq: this.#seq,
      control: first ? this.#control : undefined,
      credit: first ? this.#window : undefined,
      continued: frame.continued,
      end,
      ...(end ? { items: this.#items + frame.items } : {}),
      extra: end ? this.#opts.finalHeaders?.() : undefined,
    });
    if (this.#key !== undefined) h.set(HEADERS.auth, this.#key.batchTag(h, frame.payload));
    this.#outstanding.sent(frame.payload.length);
    this.#nc.publish(this.#reply, frame.payload, { headers: h });
    this.#seq++;
    this.#items += frame.items;
    this.#bytes += frame.payload.length;
  }

  /**
   * A slow producer must not leave items waiting in a half-filled batch: once it has kept the
   * loop waiting for `flushAfterMs`, what is held goes out (credit and room permitting). One
   * timer serves many waits, so a fast producer costs no timer per item.
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
    // Without credit or room, a grant or a release brings it here again.
    if (this.#reserve(this.#builder.held) !== undefined) return;
    try {
      this.#publish(this.#builder.flush(), false);
    } catch {
      // The connection is gone; the next batch fails the same way, inside the loop.
    }
  }

  /**
   * Waits for a grant or for room; false when the stream was stopped. No grant for the consumer
   * timeout means the consumer is gone; no room for as long means this worker is overloaded.
   */
  #waitFor(blocker: Blocker): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#halt(blocker === "credit" ? { outcome: "consumer-gone" } : this.#noRoom());
      }, this.#consumerTimeoutMs);
      this.#blockedOn = blocker;
      this.#wake = () => {
        clearTimeout(timer);
        this.#blockedOn = undefined;
        this.#wake = undefined;
        resolve(this.#stop === undefined);
      };
    });
  }

  #noRoom(): Stop {
    const error = new EntenteError(
      "UNAVAILABLE",
      `the worker's buffer for streamed replies stayed full for ${this.#consumerTimeoutMs} ms`,
      { details: { budgetBytes: this.#budget.limit } },
    );
    return { outcome: "failed", tell: error };
  }

  /** Another stream released room: try again if that is what this one waits for. */
  #onRoom = (): void => {
    if (this.#blockedOn === "room") this.#wake?.();
    this.#flushHeld();
  };

  #onControl(msg: Msg): void {
    const verdict = this.#gate.admit(msg.headers, msg.data);
    if (verdict.kind === "reject") {
      this.#rejectedControls++;
      return; // Not ours to answer: a control subject has no reply.
    }
    const control = verdict.control;
    if ("credit" in control) {
      this.#credit.grant(control.credit);
      this.#budget.release(this.#outstanding.granted(control.credit));
      if (this.#blockedOn === "credit") this.#wake?.();
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
    const batched = this.#seq > 0;
    const extra: Record<string, string> = batched
      ? { [HEADERS.stream]: this.#stream, [HEADERS.seq]: String(this.#seq) }
      : {};
    Object.assign(extra, this.#opts.finalHeaders?.());
    const { headers: h, data } = errorReply(error, this.#codec, extra);
    if (batched && this.#key !== undefined) h.set(HEADERS.auth, this.#key.batchTag(h, data));
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
    if (this.#rejectedControls > 0) result.rejectedControls = this.#rejectedControls;
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

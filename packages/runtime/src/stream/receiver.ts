import { type Codec, EntenteError, HEADERS, MSGPACK, toEntenteError } from "@entente/protocol";
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { abortReason } from "../deadline.ts";
import { CreditWindow, normalizeCredit } from "./credit.ts";
import { isNoResponders, readErrorReply } from "./error-reply.ts";
import { type FrameMeta, headerOf, readFrameMeta } from "./frame-headers.ts";
import { FrameAssembler } from "./frames.ts";
import { type InboxListener, openReplyInbox, type ReplyInbox } from "./inbox-mux.ts";
import { SequenceChecker } from "./sequence.ts";
import { newStreamKey, StreamKey } from "./stream-key.ts";
import {
  DEFAULT_CREDIT,
  DEFAULT_REORDER_GRACE_MS,
  DEFAULT_STALL_TIMEOUT_MS,
  type ReceiveOptions,
  type ReplyCollected,
  type ReplyStats,
  type ReplyStream,
} from "./types.ts";
import { wireHeaders } from "./wire-headers.ts";

type Requester = Pick<NatsConnection, "publish" | "subscribe">;

/** The control schema's limit on a cancel's reason. */
const MAX_REASON = 1000;

/**
 * Sends a request and reads its reply, a single message or batches (see sender.ts for the wire
 * format). Batches are decoded only as the caller reads, and credit goes back only for batches
 * read, so a slow reader slows the producer instead of filling memory. Every request carries a
 * fresh stream key: batches without its tag are dropped and counted, never read or failed on,
 * so a stranger on the inbox can neither forge the reply nor break it. The request leaves at
 * once; `request`'s headers are amended with the credit, the key and, when missing, the content
 * type. Read it with `for await`, or all at once with `collect()`, which reads every batch as it
 * arrives without a promise per item: the cheap way for callers that want the whole reply.
 */
export function requestReply(
  nc: Requester,
  subject: string,
  payload: Uint8Array,
  requestHeaders: MsgHdrs | undefined,
  opts: ReceiveOptions,
): ReplyStream {
  return new ReplyReader(nc, subject, payload, requestHeaders, opts);
}

interface QueuedFrame {
  msg: Msg;
  /** Undefined for a single-message reply. */
  meta: FrameMeta | undefined;
}

type LocalStop = { kind: "return" } | { kind: "cancel"; error: EntenteError };

type Control = { credit: number } | { cancel: true; reason?: string };

interface Collector {
  items: unknown[];
  resolve: (collected: ReplyCollected) => void;
  reject: (error: EntenteError) => void;
}

/** Where a control message goes: a producer's control subject, for its stream. */
interface ControlTarget {
  subject: string | undefined;
  stream: string | undefined;
}

/**
 * Most replies are one plain message: what only a batched reply needs (credit window, sequence
 * checker, frame assembler, tag checks) is made when its first batch arrives.
 */
class ReplyReader implements ReplyStream, AsyncIterator<unknown>, InboxListener {
  readonly #nc: Requester;
  readonly #routeControl: ((subject: string) => string) | undefined;
  readonly #subject: string;
  readonly #codec: Codec;
  readonly #signal: AbortSignal | undefined;
  readonly #deadline: ReceiveOptions["deadline"];
  readonly #stallMs: number;
  readonly #graceMs: number;
  /** The credit asked for; its window is made with the first batch. */
  readonly #credit: number;
  #windowState: CreditWindow | undefined;
  readonly #key = newStreamKey();
  #authState: StreamKey | undefined;
  #checkerState: SequenceChecker | undefined;
  #assemblerState: FrameAssembler | undefined;
  readonly #sub: ReplyInbox;
  #abortListener: (() => void) | undefined;
  /** Made only when someone asks for it: `collect()` callers never do. */
  #done: Promise<ReplyStats> | undefined;
  #resolveDone: ((stats: ReplyStats) => void) | undefined;
  #rejectDone: ((error: EntenteError) => void) | undefined;
  #outcome: EntenteError | undefined;
  #collector: Collector | undefined;
  #pumping = false;

  #queue: QueuedFrame[] = [];
  #items: unknown[] = [];
  #next = 0;
  /** What the first message said: a single message, or the id of the batched reply. */
  #single = false;
  #stream: string | undefined;
  #control: string | undefined;
  /** The last batch is queued; nothing more will be accepted. */
  #endQueued = false;
  /** Every item has been handed out. */
  #complete = false;
  /** A failure found as messages arrived, reported once the batches before it are read. */
  #failure: EntenteError | undefined;
  #local: LocalStop | undefined;
  #cancelReported = false;
  /** Numbers this reader's control messages, so a copy of one is refused. */
  #controlSeq = 0;
  #sent = false;
  #settled = false;
  #lingering = false;
  #waiter: (() => void) | undefined;
  /** One timer bounds every wait: the stall timeout, or the deadline when that comes first. */
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the current wait began (Date.now()); undefined while not waiting. */
  #waitingSince: number | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #stats: ReplyStats = { headers: undefined, batches: 0, items: 0, bytes: 0, ignored: 0 };

  constructor(
    nc: Requester,
    subject: string,
    payload: Uint8Array,
    requestHeaders: MsgHdrs | undefined,
    opts: ReceiveOptions,
  ) {
    this.#nc = nc;
    this.#routeControl = opts.routeControl;
    this.#subject = subject;
    this.#codec = opts.codec;
    this.#signal = opts.signal;
    this.#deadline = opts.deadline;
    this.#stallMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#graceMs = opts.reorderGraceMs ?? DEFAULT_REORDER_GRACE_MS;
    this.#credit = normalizeCredit(opts.credit, DEFAULT_CREDIT);

    this.#sub = openReplyInbox(nc, this, opts.inboxPrefix);
    const inbox = this.#sub.subject;
    const signal = this.#signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#onAbort();
        return;
      }
      this.#abortListener = () => this.#onAbort();
      signal.addEventListener("abort", this.#abortListener, { once: true });
    }
    const h = requestHeaders ?? wireHeaders();
    h.set(HEADERS.streamKey, this.#key);
    // Defaults go unsaid: the producer assumes MessagePack and the default credit.
    if (this.#credit !== DEFAULT_CREDIT) h.set(HEADERS.credit, String(this.#credit));
    if (this.#codec.contentType !== MSGPACK && headerOf(h, HEADERS.contentType) === undefined) {
      h.set(HEADERS.contentType, this.#codec.contentType);
    }
    try {
      nc.publish(subject, payload, { headers: h, reply: inbox });
      this.#sent = true;
    } catch (err) {
      this.#fail(publishError(err, subject), false);
    }
  }

  onInbox(err: Error | null, msg: Msg): void {
    if (err) this.#fail(toEntenteError(err), false);
    else this.#onMessage(msg);
  }

  get #window(): CreditWindow {
    this.#windowState ??= new CreditWindow(this.#credit);
    return this.#windowState;
  }

  get #auth(): StreamKey {
    this.#authState ??= new StreamKey(this.#key);
    return this.#authState;
  }

  get #checker(): SequenceChecker {
    this.#checkerState ??= new SequenceChecker();
    return this.#checkerState;
  }

  get #assembler(): FrameAssembler {
    this.#assemblerState ??= new FrameAssembler(this.#codec);
    return this.#assemblerState;
  }

  /** Settles when iteration has finished: with the stats, or with the error. */
  get done(): Promise<ReplyStats> {
    if (this.#done === undefined) {
      this.#done = new Promise<ReplyStats>((resolve, reject) => {
        this.#resolveDone = resolve;
        this.#rejectDone = reject;
      });
      // A caller that only iterates must not see an unhandled rejection.
      this.#done.catch(() => {});
      if (this.#settled) this.#announce();
    }
    return this.#done;
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return this;
  }

  collect(): Promise<ReplyCollected> {
    if (this.#waiter !== undefined || this.#collector !== undefined) {
      return Promise.reject(new Error("a reply stream is read by one reader at a time"));
    }
    return new Promise<ReplyCollected>((resolve, reject) => {
      this.#collector = { items: [], resolve, reject };
      this.#pump();
    });
  }

  async next(): Promise<IteratorResult<unknown>> {
    if (this.#waiter !== undefined || this.#collector !== undefined) {
      throw new Error("a reply stream is read by one reader at a time");
    }
    for (;;) {
      const local = this.#local;
      if (local !== undefined) {
        if (local.kind === "cancel" && !this.#cancelReported) {
          this.#cancelReported = true;
          throw local.error;
        }
        return { done: true, value: undefined };
      }
      if (this.#next < this.#items.length) {
        const value = this.#items[this.#next];
        this.#items[this.#next++] = undefined; // read items can be collected
        return { done: false, value };
      }
      if (this.#complete) {
        this.#settle();
        return { done: true, value: undefined };
      }
      if (this.#readQueued()) continue;
      if (this.#failure !== undefined) {
        if (this.#settled) return { done: true, value: undefined };
        this.#settle(this.#failure);
        throw this.#failure;
      }
      await this.#arrival();
    }
  }

  async return(): Promise<IteratorResult<unknown>> {
    this.#stopLocally({ kind: "return" });
    return { done: true, value: undefined };
  }

  cancel(reason?: string): void {
    const message = reason
      ? `request to ${this.#subject} was cancelled: ${reason}`
      : `request to ${this.#subject} was cancelled`;
    this.#stopLocally({ kind: "cancel", error: new EntenteError("CANCELLED", message) }, reason);
  }

  #onAbort(): void {
    const error = abortReason(this.#signal, this.#deadline, `request to ${this.#subject}`);
    this.#stopLocally({ kind: "cancel", error }, error.message);
  }

  /** Collect mode: takes in whatever has arrived, and settles once the reply is whole or failed. */
  #pump(): void {
    const collector = this.#collector;
    if (collector === undefined || this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const local = this.#local;
        if (local !== undefined) {
          this.#collector = undefined;
          if (local.kind === "cancel") collector.reject(local.error);
          else collector.resolve({ items: collector.items, stats: this.#stats });
          return;
        }
        for (let i = this.#next; i < this.#items.length; i++) collector.items.push(this.#items[i]);
        this.#items = [];
        this.#next = 0;
        if (this.#complete) {
          this.#settle();
          this.#collector = undefined;
          collector.resolve({ items: collector.items, stats: this.#stats });
          return;
        }
        if (this.#readQueued()) continue;
        const failure = this.#failure;
        if (failure !== undefined) {
          this.#settle(failure);
          this.#collector = undefined;
          collector.reject(failure);
          return;
        }
        this.#wait();
        return;
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Decodes one batch in order and hands back its credit. */
  /** Reads the next queued batch, failing the stream on one it cannot read; false when none. */
  #readQueued(): boolean {
    const frame = this.#queue.shift();
    if (frame === undefined) return false;
    try {
      this.#read(frame);
    } catch (err) {
      this.#queue = [];
      this.#fail(toEntenteError(err), true);
    }
    return true;
  }

  #read({ msg, meta }: QueuedFrame): void {
    this.#stats.batches++;
    this.#stats.bytes += msg.data.length;
    this.#stats.headers = msg.headers;
    if (meta === undefined) {
      this.#items = [this.#codec.decode(msg.data)];
      this.#next = 0;
      this.#stats.items = 1;
      this.#complete = true;
      return;
    }
    this.#items = this.#assembler.accept(msg.data, meta.continued);
    this.#next = 0;
    this.#stats.items += this.#items.length;
    if (meta.end) {
      if (this.#assembler.incomplete) {
        throw new EntenteError("MALFORMED", "the last batch ends inside an item");
      }
      if (meta.items !== undefined && meta.items !== this.#stats.items) {
        throw new EntenteError(
          "STREAM_GAP",
          `the reply announced ${meta.items} items but carried ${this.#stats.items}`,
          { details: { expected: meta.items, got: this.#stats.items } },
        );
      }
      this.#complete = true;
      return;
    }
    const grant = this.#window.consumed();
    if (grant > 0 && this.#failure === undefined) this.#sendControl({ credit: grant });
  }

  #onMessage(msg: Msg): void {
    if (this.#local !== undefined || this.#failure !== undefined || this.#endQueued) {
      this.#answerLate(msg);
      return;
    }
    const first = !this.#single && this.#stream === undefined;
    if (first && isNoResponders(msg.headers, msg.data)) {
      this.#fail(
        new EntenteError("NO_RESPONDERS", `no service is listening on ${this.#subject}`, {
          details: { subject: this.#subject },
        }),
        false,
      );
      return;
    }
    if (!isBatch(msg)) {
      // A plain reply is the first and last message to its inbox, so it needs no tag; any
      // later one is a second responder's answer (the first one won) or a stranger's.
      if (!first) {
        this.#stats.ignored++;
        return;
      }
      this.#single = true;
      this.#endQueued = true;
      const error = readErrorReply(msg.headers, msg.data, this.#codec);
      if (error !== undefined) this.#fail(error, false);
      else this.#enqueue({ msg, meta: undefined });
      return;
    }
    if (!this.#auth.verifyBatch(msg.headers, msg.data)) {
      this.#stats.ignored++; // not our producer's: nothing it says is believed
      return;
    }
    let meta: FrameMeta;
    try {
      meta = readFrameMeta(msg.headers)!;
    } catch (err) {
      this.#fail(toEntenteError(err), true);
      return;
    }
    if (first) this.#stream = meta.stream;
    if (meta.stream !== this.#stream) {
      // Another responder answered the same request; only one reply is read.
      this.#sendControl({ cancel: true }, { subject: meta.control, stream: meta.stream });
      return;
    }
    this.#control ??= meta.control;
    if (meta.credit !== undefined) this.#adoptWindow(meta.credit);
    const error = readErrorReply(msg.headers, msg.data, this.#codec);
    if (error !== undefined) {
      this.#fail(error, false); // the producer has stopped already
      return;
    }
    const verdict = this.#checker.observe(meta.seq);
    if (verdict.kind === "fail") {
      this.#fail(verdict.error, true);
    } else if (verdict.kind === "repeat") {
      this.#stats.ignored++; // a tagged repeat is the batch already taken, byte for byte
    } else if (verdict.kind === "hold") {
      this.#graceTimer = setTimeout(
        () => this.#fail(this.#checker.gap().error, true),
        this.#graceMs,
      );
    } else {
      if (meta.end) this.#endQueued = true;
      this.#enqueue({ msg, meta });
    }
  }

  /**
   * The producer may allow less credit than asked for (its first batch says how much): grants
   * must then come at half of that window, or it would wait for credit that never comes.
   */
  #adoptWindow(allowed: number): void {
    if (allowed >= 1 && allowed < this.#window.window)
      this.#windowState = new CreditWindow(allowed);
  }

  #enqueue(frame: QueuedFrame): void {
    this.#queue.push(frame);
    this.#wake();
  }

  /** Waits for the next message, for at most the stall timeout (and the deadline). */
  #arrival(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#wait();
    });
  }

  /** Starts a wait, arming the one timer unless it still runs from an earlier wait. */
  #wait(): void {
    this.#waitingSince ??= Date.now();
    if (this.#stallTimer === undefined) this.#armWait(this.#waitingSince);
  }

  #armWait(since: number): void {
    const now = Date.now();
    let delay = since + this.#stallMs - now;
    if (this.#deadline !== undefined) delay = Math.min(delay, this.#deadline.at - now);
    this.#stallTimer = setTimeout(ReplyReader.#fire, Math.max(1, delay), this);
  }

  static #fire(reader: ReplyReader): void {
    reader.#onWaitTimer();
  }

  /**
   * The timer outlives a wait that ended (re-arming it per message would cost a timer each), so
   * when it fires it checks what is due: the deadline, a stall, or nothing yet.
   */
  #onWaitTimer(): void {
    this.#stallTimer = undefined;
    const since = this.#waitingSince;
    if (since === undefined || this.#settled) return;
    const now = Date.now();
    if (this.#deadline?.expired(now)) {
      this.#fail(this.#deadline.error(this.#subject), true);
    } else if (now - since >= this.#stallMs) {
      const error = new EntenteError(
        "STREAM_STALLED",
        `no reply from ${this.#subject} for ${this.#stallMs} ms`,
        {
          details: {
            subject: this.#subject,
            waitedMs: this.#stallMs,
            batches: this.#stats.batches,
          },
        },
      );
      this.#fail(error, true);
    } else {
      this.#armWait(since);
    }
  }

  #wake(): void {
    this.#waitingSince = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
    this.#pump();
  }

  /** Records a failure; the reader sees it after the batches that arrived before it. */
  #fail(error: EntenteError, tellProducer: boolean): void {
    if (this.#failure !== undefined || this.#local !== undefined || this.#settled) return;
    this.#failure = error;
    this.#endQueued = true;
    clearTimeout(this.#graceTimer);
    this.#release(tellProducer ? error.code : undefined);
    this.#wake();
  }

  #stopLocally(stop: LocalStop, reason?: string): void {
    if (this.#local !== undefined || this.#settled) return;
    this.#local = stop;
    this.#queue = [];
    this.#items = [];
    clearTimeout(this.#graceTimer);
    // A producer that sent its last batch, or was already told of a failure, needs no cancel;
    // a reply read to the end is not cancelled.
    if (!this.#endQueued) this.#release(reason ?? "cancelled");
    if (this.#complete) this.#settle();
    else if (stop.kind === "cancel") this.#settle(stop.error);
    else
      this.#settle(new EntenteError("CANCELLED", `the reader of ${this.#subject} stopped early`));
    this.#wake();
  }

  /**
   * Stops listening; with a reason, first tells the producer to stop. If its first batch has not
   * arrived yet, the inbox stays open (up to the stall timeout) to cancel it when it does.
   */
  #release(cancelReason: string | undefined): void {
    if (cancelReason !== undefined && this.#control !== undefined) {
      this.#sendControl({ cancel: true, reason: cancelReason });
    } else if (
      cancelReason !== undefined &&
      this.#sent &&
      this.#stream === undefined &&
      !this.#single
    ) {
      this.#lingering = true;
      this.#lingerTimer = setTimeout(() => this.#unsubscribe(), this.#stallMs);
      return;
    }
    this.#unsubscribe();
  }

  /**
   * A message after the reply ended or was given up: the first batch of a producer nobody reads
   * (ours, cancelled before it arrived, or a second responder's) is answered with a cancel.
   */
  #answerLate(msg: Msg): void {
    const meta = this.#authenticMeta(msg);
    const unread = this.#lingering || (meta !== undefined && meta.stream !== this.#stream);
    if (unread && meta !== undefined) {
      this.#sendControl({ cancel: true }, { subject: meta.control, stream: meta.stream });
    }
    // Nothing reached a lingering inbox before, so nobody else knew where to send this one.
    if (this.#lingering) this.#unsubscribe();
  }

  /** The batch fields of a message our producer tagged; undefined for anything else. */
  #authenticMeta(msg: Msg): FrameMeta | undefined {
    if (!isBatch(msg) || !this.#auth.verifyBatch(msg.headers, msg.data)) return undefined;
    try {
      return readFrameMeta(msg.headers);
    } catch {
      return undefined;
    }
  }

  #unsubscribe(): void {
    this.#lingering = false;
    clearTimeout(this.#lingerTimer);
    this.#sub.close();
  }

  /** Sends a control message, numbered and tagged so only its producer believes it. */
  #sendControl(
    control: Control,
    target: ControlTarget = { subject: this.#control, stream: this.#stream },
  ): void {
    const { subject, stream } = target;
    if (subject === undefined || stream === undefined) return;
    if ("reason" in control && control.reason !== undefined) {
      control.reason = control.reason.slice(0, MAX_REASON); // longer ones are refused
    }
    const body = this.#codec.encode(control);
    const seq = ++this.#controlSeq;
    const h = wireHeaders();
    h.set(HEADERS.contentType, this.#codec.contentType);
    h.set(HEADERS.controlSeq, String(seq));
    h.set(HEADERS.auth, this.#auth.controlTag(stream, seq, body));
    try {
      this.#nc.publish(this.#routeControl ? this.#routeControl(subject) : subject, body, {
        headers: h,
      });
    } catch {
      // Our connection is closing; the producer will find the consumer gone.
    }
  }

  #settle(error?: EntenteError): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#outcome = error;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    clearTimeout(this.#graceTimer);
    if (this.#abortListener) this.#signal?.removeEventListener("abort", this.#abortListener);
    if (!this.#lingering) this.#unsubscribe();
    this.#announce();
  }

  #announce(): void {
    if (this.#outcome === undefined) this.#resolveDone?.(this.#stats);
    else this.#rejectDone?.(this.#outcome);
  }
}

/** A batch names its stream; a plain reply does not. */
function isBatch(msg: Msg): boolean {
  return headerOf(msg.headers, HEADERS.stream) !== undefined;
}

function publishError(err: unknown, subject: string): EntenteError {
  const message = err instanceof Error ? err.message : String(err);
  if (/max_payload/i.test(message)) {
    return new EntenteError("TOO_LARGE", `request to ${subject} exceeds the server's max payload`);
  }
  return new EntenteError("UNAVAILABLE", `request to ${subject} could not be sent: ${message}`, {
    cause: err,
  });
}

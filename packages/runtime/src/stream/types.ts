import type { Codec, EntenteError } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import type { Deadline } from "../deadline.ts";
import type { ByteBudget } from "./budget.ts";

/**
 * Batched replies. A reply is a sequence of items. One that fits in one batch and was returned
 * as a plain value travels as a single ordinary message, so any NATS client sees it whole;
 * anything larger travels as numbered batches with credit-based flow control.
 */

/**
 * What a handler gives back: one value, or items produced as they are read. A stream that needs
 * a header (column names, a schema) yields it as its first item.
 */
export type ReplyBody =
  | { kind: "value"; value: unknown }
  | { kind: "stream"; items: AsyncIterable<unknown> | Iterable<unknown> };

/** The spec's floor: a reply up to this size is always a single message. */
export const MIN_BATCH_BYTES = 256 * 1024;
export const DEFAULT_BATCH_BYTES = MIN_BATCH_BYTES;
export const DEFAULT_CREDIT = 8;
/** The most credit a producer allows, whatever the requester asks: 8 MiB at the default batch. */
export const DEFAULT_MAX_CREDIT = 32;
export const DEFAULT_CONSUMER_TIMEOUT_MS = 30_000;
export const DEFAULT_FLUSH_AFTER_MS = 20;
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_REORDER_GRACE_MS = 250;

export interface SendReplyOptions {
  codec: Codec;
  /** Largest batch payload; at least 256 KiB and well under the server's max payload. */
  batchBytes?: number;
  /** Batches the requester accepts before it grants more (its `entente-credit` header). */
  initialCredit?: number;
  /** The requester's `entente-credit` is cut to this (default 32); the first batch says so. */
  maxCredit?: number;
  /** The requester's `entente-stream-key`: with it, batches are tagged and control checked. */
  streamKey?: string;
  /**
   * Bytes sent and not yet granted back, shared with every other stream of the worker; by
   * default this stream's own, unbounded (credit still bounds it).
   */
  budget?: ByteBudget;
  /** Prefix of the control subject; the connection's inbox prefix by default. */
  inboxPrefix?: string;
  /**
   * Aborted on deadline or shutdown: the producer stops and the requester is told why (the
   * signal's reason when it is an EntenteError). The requester's own cancel needs no signal.
   */
  signal?: AbortSignal;
  /**
   * How long the producer waits for credit before it declares the consumer gone, and for room
   * in the budget before it gives up with UNAVAILABLE.
   */
  consumerTimeoutMs?: number;
  /** A partly filled batch goes out once the producer has kept it waiting this long. */
  flushAfterMs?: number;
  /** Headers added to the last (or only) message, e.g. the server's own time. */
  finalHeaders?: () => Record<string, string>;
  /**
   * Called once when the requester cancels or vanishes, or the budget stays full, so the caller
   * can abort the producer's own work: `return()` reaches a generator only between items, not
   * while it awaits I/O.
   */
  onStop?: (outcome: "cancelled" | "consumer-gone" | "failed") => void;
}

export interface SendReplyResult {
  /** Messages published, the error frame included. */
  batches: number;
  /** Items whose last byte was published. */
  items: number;
  /** Payload bytes published. */
  bytes: number;
  /** How the stream ended. */
  outcome: "completed" | "cancelled" | "consumer-gone" | "failed";
  /**
   * What went wrong when the outcome is `failed`: the producer threw, publishing did, or the
   * worker's budget had no room for too long.
   */
  error?: EntenteError;
  /** Control messages refused (wrong tag, a repeat, malformed): someone else's, when present. */
  rejectedControls?: number;
}

export interface ReceiveOptions {
  codec: Codec;
  /** Batches allowed in flight before the producer waits; the producer may allow fewer. */
  credit?: number;
  /** No message for this long while one is expected (the first included): the producer stalled. */
  stallTimeoutMs?: number;
  /** How long a batch that arrived ahead of its turn waits for the missing one before it is a gap. */
  reorderGraceMs?: number;
  /** Aborting cancels the request and stops the producer. */
  signal?: AbortSignal;
  /**
   * No wait for a message lasts past it: the reply fails with DEADLINE_EXCEEDED and the producer
   * is told to stop. One timer serves both this and the stall timeout.
   */
  deadline?: Deadline;
  /** Prefix of the reply inbox, for accounts whose permissions fix it; `_INBOX` by default. */
  inboxPrefix?: string;
  /**
   * Where a control message for the producer's control subject is published: for a request
   * routed to another region, that region's routed subject (the producer listens over there).
   */
  routeControl?: (subject: string) => string;
}

export interface ReplyStats {
  /** Headers of the last message (the server's own time, for instance). */
  headers: MsgHdrs | undefined;
  batches: number;
  items: number;
  bytes: number;
  /** Messages dropped: batches without a valid tag, and repeats of batches already taken. */
  ignored: number;
}

/** A whole reply, read by `collect()`. */
export interface ReplyCollected {
  items: unknown[];
  stats: ReplyStats;
}

/**
 * The items of one reply, read once: with `for await` (leaving the loop early cancels the
 * request), or all at once with `collect()`. `done` settles when reading has finished: with
 * the stats, or with the error.
 */
export interface ReplyStream extends AsyncIterable<unknown> {
  readonly done: Promise<ReplyStats>;
  collect(): Promise<ReplyCollected>;
  cancel(reason?: string): void;
}

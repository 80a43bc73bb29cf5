import {
  type Codec,
  DEFAULT_DEPLOYMENT,
  EntenteError,
  HEADERS,
  type IdInput,
  jsonCodec,
  msgpackCodec,
  regionOf,
  subjectsOf,
  toEntenteError,
} from "@entente/protocol";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import { type Context, context as otelContext } from "@opentelemetry/api";
import { abortReason, Deadline } from "./deadline.ts";
import { DEFAULT_CREDIT, type ReplyStats, type ReplyStream, requestReply } from "./stream/index.ts";
import { wireHeaders } from "./stream/wire-headers.ts";
import { type ClientHop, startClientHop } from "./tracing/hop-spans.ts";
import { readServerTimeUs } from "./tracing/nats-headers.ts";

export interface ClientOptions {
  /** This side's region, recorded on hop spans as the source. */
  region?: string;
  /** This side's region id: a request routed to it (or to an id it owns) stays here. */
  regionId?: number;
  /** The deployment whose region routers carry routed requests (default `entente`). */
  deployment?: string;
  /** Budget of a call that names none. */
  defaultTimeoutMs?: number;
  /** Batches a producer may run ahead of us. */
  credit?: number;
  /** No batch for this long while one is expected: the producer has stalled. */
  stallTimeoutMs?: number;
  /** `json` sends and asks for JSON; MessagePack by default. */
  encoding?: "msgpack" | "json";
  /**
   * Prefix of the reply inboxes; by default the connection's own (`inboxPrefix` when it was
   * opened), else `_INBOX`. See docs/security.md for keeping replies private with it.
   */
  inboxPrefix?: string;
}

/** Retry of idempotent calls on retryable failures, within the call's deadline. */
export interface RetryPolicy {
  attempts: number;
  /** Each attempt's own budget, so a worker that died mid-request is noticed in time. */
  attemptTimeoutMs?: number;
  /** First pause between attempts; it doubles up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  /** The request being served, when this call is one of its hops: deadline and trace carry on. */
  parent?: { deadline: Deadline; trace?: Context; signal?: AbortSignal };
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Recorded on the hop span. */
  service?: string;
  destinationRegion?: string;
  retry?: RetryPolicy;
  /**
   * Send the request to this region (its name or id): the region routers carry it there and
   * its reply back, relayed by other regions where that is cheaper. This region's own stays here.
   */
  region?: string | number;
  /** Send the request to the region that owns this 64-bit id (its high 16 bits). */
  owner?: bigint | string | number;
  /**
   * This call's stall timeout, instead of the client's: for a request whose one reply may come
   * only when long work ends (a tier move it waits for), as long as its budget.
   */
  stallTimeoutMs?: number;
}

/** A request on its way: its reply, its span, and how the span ends. */
class OpenCall {
  readonly reply: ReplyStream;
  readonly hop: ClientHop;
  readonly #subject: string;
  readonly #deadline: Deadline;
  readonly #signal: AbortSignal | undefined;

  constructor(
    subject: string,
    reply: ReplyStream,
    hop: ClientHop,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ) {
    this.#subject = subject;
    this.reply = reply;
    this.hop = hop;
    this.#deadline = deadline;
    this.#signal = signal;
  }

  succeeded(stats: ReplyStats): void {
    const serverTimeUs = readServerTimeUs(stats.headers);
    this.hop.end({
      responseBytes: stats.bytes,
      responseBatches: stats.batches,
      ...(serverTimeUs === undefined ? {} : { serverTimeUs }),
    });
  }

  /** The error the caller gets, recorded on the span. */
  failed(err: unknown): EntenteError {
    const signal = this.#signal;
    const deadline = this.#deadline;
    let error =
      signal?.aborted && !(err instanceof EntenteError)
        ? abortReason(signal, deadline, this.#subject)
        : toEntenteError(err);
    // A stall and the deadline race at the deadline; the budget is the cause.
    if (deadline.expired() && (error.code === "CANCELLED" || error.code === "STREAM_STALLED")) {
      error = deadline.error(this.#subject);
    }
    this.hop.end({ error });
    return error;
  }
}

/**
 * Calls Entente endpoints: encodes, carries the deadline and trace context in headers, opens a
 * client hop span, and reads single or batched replies.
 */
export class EntenteClient {
  readonly nc: NatsConnection;
  private readonly options: Required<
    Omit<ClientOptions, "region" | "regionId" | "inboxPrefix" | "deployment">
  > &
    Pick<ClientOptions, "region" | "regionId" | "inboxPrefix" | "deployment">;
  private readonly codec: Codec;

  constructor(nc: NatsConnection, options: ClientOptions = {}) {
    this.nc = nc;
    this.options = {
      defaultTimeoutMs: 30_000,
      credit: DEFAULT_CREDIT,
      stallTimeoutMs: 30_000,
      encoding: "msgpack",
      ...options,
    };
    this.codec = this.options.encoding === "json" ? jsonCodec : msgpackCodec;
  }

  /** Calls an endpoint that answers with one value. */
  async request<T = unknown>(
    subject: string,
    body: unknown,
    options: CallOptions = {},
  ): Promise<T> {
    // Read the reply to its end (one item), so the hop completes with its figures.
    const items = await this.collect<T>(subject, body, options);
    if (items.length === 0) throw new EntenteError("INTERNAL", `${subject} answered with no value`);
    return items[0] as T;
  }

  /** Calls an endpoint and gathers every item of its (batched) reply. */
  collect<T = unknown>(subject: string, body: unknown, options: CallOptions = {}): Promise<T[]> {
    const policy = options.retry;
    if (policy && policy.attempts > 1) {
      return this.withRetry(options, (attempt) => this.collectOnce<T>(subject, body, attempt));
    }
    return this.collectOnce<T>(subject, body, options);
  }

  /** Calls an endpoint and yields the items of its reply as batches arrive. */
  async *stream<T = unknown>(
    subject: string,
    body: unknown,
    options: CallOptions = {},
  ): AsyncGenerator<T> {
    const deadline = this.deadlineOf(options);
    // A reader may hold the stream between items: the producer is still stopped at the deadline.
    const abort = deadline.signal([options.signal, options.parent?.signal], subject);
    let call: OpenCall | undefined;
    let error: unknown;
    let completed = false;
    try {
      call = this.open(subject, body, options, deadline, abort.signal);
      for await (const item of call.reply) yield item as T;
      const stats = await call.reply.done;
      completed = true;
      call.succeeded(stats);
    } catch (err) {
      error = call ? call.failed(err) : err;
      throw error;
    } finally {
      abort.release();
      // The caller stopped reading early: stop the producer and close the span.
      if (call && !completed && !error) {
        call.reply.cancel("caller stopped reading");
        call.hop.end({});
      }
    }
  }

  /**
   * One attempt that reads the whole reply as it arrives: no generator, no promise per item, and
   * no timer of its own — the reader's one wait timer also keeps the deadline.
   */
  private async collectOnce<T>(subject: string, body: unknown, options: CallOptions): Promise<T[]> {
    const deadline = this.deadlineOf(options);
    const own = options.signal;
    const parent = options.parent?.signal;
    // Two signals to follow need one that follows both; one is passed on as it is.
    const linked = own && parent ? deadline.signal([own, parent], subject) : undefined;
    let call: OpenCall | undefined;
    try {
      call = this.open(subject, body, options, deadline, linked?.signal ?? own ?? parent);
      const { items, stats } = await call.reply.collect();
      call.succeeded(stats);
      return items as T[];
    } catch (err) {
      throw call ? call.failed(err) : err;
    } finally {
      linked?.release();
    }
  }

  /** Sends the request with its deadline and trace context, under a client hop span. */
  private open(
    subject: string,
    body: unknown,
    options: CallOptions,
    deadline: Deadline,
    signal: AbortSignal | undefined,
  ): OpenCall {
    const payload = this.codec.encode(body);
    const headers = this.headersOf(deadline, options);
    const target = this.remoteRegionOf(options);
    const routes =
      target === undefined ? undefined : subjectsOf(this.options.deployment ?? DEFAULT_DEPLOYMENT);
    const hop = startClientHop(
      {
        subject,
        requestBytes: payload.length,
        service: options.service,
        sourceRegion: this.options.region,
        destinationRegion: target === undefined ? options.destinationRegion : String(target),
      },
      options.parent?.trace ?? otelContext.active(),
    );
    hop.inject(headers);
    const wireSubject = routes && target !== undefined ? routes.routed(target, subject) : subject;
    const reply = requestReply(this.nc, wireSubject, payload, headers, {
      ...(routes && target !== undefined
        ? { routeControl: (control: string) => routes.routed(target, control) }
        : {}),
      codec: this.codec,
      credit: this.options.credit,
      stallTimeoutMs: options.stallTimeoutMs ?? this.options.stallTimeoutMs,
      deadline,
      signal,
      inboxPrefix: this.options.inboxPrefix,
    });
    return new OpenCall(subject, reply, hop, deadline, signal);
  }

  /** The region a call goes to when that is not this one; undefined for a local call. */
  private remoteRegionOf(options: CallOptions): string | number | undefined {
    const target =
      options.owner !== undefined ? regionOf(options.owner as IdInput) : options.region;
    if (target === undefined) return undefined;
    const own = this.options;
    const local =
      target === own.region ||
      (own.regionId !== undefined && (target === own.regionId || target === String(own.regionId)));
    return local ? undefined : target;
  }

  private deadlineOf(options: CallOptions): Deadline {
    const parent = options.parent?.deadline;
    const own = options.timeoutMs ?? (parent ? undefined : this.options.defaultTimeoutMs);
    return parent ? parent.within(own) : Deadline.after(own ?? this.options.defaultTimeoutMs);
  }

  private headersOf(deadline: Deadline, options: CallOptions): MsgHdrs {
    const headers = wireHeaders();
    headers.set(HEADERS.timeoutMs, deadline.toHeader());
    if (this.codec !== msgpackCodec) headers.set(HEADERS.contentType, this.codec.contentType);
    if (this.options.region) headers.set(HEADERS.sourceRegion, this.options.region);
    if (options.headers) {
      for (const [name, value] of Object.entries(options.headers)) headers.set(name, value);
    }
    return headers;
  }

  private async withRetry<T>(
    options: CallOptions,
    call: (options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const policy = options.retry;
    if (!policy || policy.attempts <= 1) return call(options);
    const deadline = this.deadlineOf(options);
    for (let attempt = 1; ; attempt++) {
      const budget = Math.min(
        deadline.remainingMs(),
        policy.attemptTimeoutMs ?? Number.POSITIVE_INFINITY,
      );
      try {
        // Every attempt runs within the call's overall deadline.
        return await call({
          ...options,
          retry: undefined,
          timeoutMs: budget,
          parent: { ...options.parent, deadline },
        });
      } catch (err) {
        const error = toEntenteError(err);
        const wait = Math.min(
          policy.maxBackoffMs ?? 1_000,
          (policy.backoffMs ?? 50) * 2 ** (attempt - 1),
        );
        if (!error.retryable || attempt >= policy.attempts || deadline.remainingMs() <= wait)
          throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }
}

import {
  type Codec,
  EntenteError,
  HEADERS,
  jsonCodec,
  msgpackCodec,
  toEntenteError,
} from "@entente/protocol";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/nats-core";
import { type Context, context as otelContext } from "@opentelemetry/api";
import { Deadline } from "./deadline.ts";
import { DEFAULT_CREDIT, requestReply } from "./stream/index.ts";
import { startClientHop } from "./tracing/hop-spans.ts";
import { readServerTimeUs } from "./tracing/nats-headers.ts";

export interface ClientOptions {
  /** This side's region, recorded on hop spans as the source. */
  region?: string;
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
}

/**
 * Calls Entente endpoints: encodes, carries the deadline and trace context in headers, opens a
 * client hop span, and reads single or batched replies.
 */
export class EntenteClient {
  readonly nc: NatsConnection;
  private readonly options: Required<Omit<ClientOptions, "region" | "inboxPrefix">> &
    Pick<ClientOptions, "region" | "inboxPrefix">;
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
  async collect<T = unknown>(
    subject: string,
    body: unknown,
    options: CallOptions = {},
  ): Promise<T[]> {
    return this.withRetry(options, async (attempt) => {
      const items: T[] = [];
      for await (const item of this.stream<T>(subject, body, attempt)) items.push(item);
      return items;
    });
  }

  /** Calls an endpoint and yields the items of its reply as batches arrive. */
  async *stream<T = unknown>(
    subject: string,
    body: unknown,
    options: CallOptions = {},
  ): AsyncGenerator<T> {
    const deadline = this.deadlineOf(options);
    const payload = this.codec.encode(body);
    const headers = this.headersOf(deadline, options);
    const parentTrace = options.parent?.trace ?? otelContext.active();
    const hop = startClientHop(
      {
        subject,
        requestBytes: payload.length,
        ...(options.service ? { service: options.service } : {}),
        ...(this.options.region ? { sourceRegion: this.options.region } : {}),
        ...(options.destinationRegion ? { destinationRegion: options.destinationRegion } : {}),
      },
      parentTrace,
    );
    hop.inject(headers);
    const abort = abortOnDeadline(deadline, subject, [options.signal, options.parent?.signal]);
    const signal = abort.signal;
    const reply = requestReply(this.nc, subject, payload, headers, {
      codec: this.codec,
      credit: this.options.credit,
      stallTimeoutMs: Math.min(this.options.stallTimeoutMs, deadline.remainingMs() + 1),
      signal,
      ...(this.options.inboxPrefix === undefined ? {} : { inboxPrefix: this.options.inboxPrefix }),
    });
    let error: EntenteError | undefined;
    let completed = false;
    try {
      for await (const item of reply) yield item as T;
      const done = await reply.done;
      completed = true;
      const serverTimeUs = readServerTimeUs(done.headers);
      hop.end({
        responseBytes: done.bytes,
        responseBatches: done.batches,
        ...(serverTimeUs === undefined ? {} : { serverTimeUs }),
      });
    } catch (err) {
      error =
        signal.aborted && !(err instanceof EntenteError)
          ? abortError(signal, deadline, subject)
          : toEntenteError(err);
      // The stall timer and the deadline timer race at the deadline; the budget is the cause.
      if (deadline.expired() && (error.code === "CANCELLED" || error.code === "STREAM_STALLED")) {
        error = deadline.error(subject);
      }
      hop.end({ error });
      throw error;
    } finally {
      abort.release();
      // The caller stopped reading early: stop the producer and close the span.
      if (!completed && !error) {
        reply.cancel("caller stopped reading");
        hop.end({});
      }
    }
  }

  private deadlineOf(options: CallOptions): Deadline {
    const parent = options.parent?.deadline;
    const own = options.timeoutMs ?? (parent ? undefined : this.options.defaultTimeoutMs);
    return parent ? parent.within(own) : Deadline.after(own ?? this.options.defaultTimeoutMs);
  }

  private headersOf(deadline: Deadline, options: CallOptions): MsgHdrs {
    const headers = natsHeaders();
    headers.set(HEADERS.timeoutMs, deadline.toHeader());
    if (this.codec !== msgpackCodec) headers.set(HEADERS.contentType, this.codec.contentType);
    if (this.options.region) headers.set(HEADERS.sourceRegion, this.options.region);
    for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
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

function abortError(signal: AbortSignal, deadline: Deadline, subject: string): EntenteError {
  if (signal.reason instanceof EntenteError) return signal.reason;
  if (deadline.expired()) return deadline.error(subject);
  return new EntenteError("CANCELLED", `${subject}: request cancelled`);
}

/**
 * A signal that aborts at the deadline or when any of `linked` aborts, with one timer that
 * `release()` clears — a timeout signal would keep its timer for the whole budget.
 */
function abortOnDeadline(
  deadline: Deadline,
  subject: string,
  linked: Array<AbortSignal | undefined>,
): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(deadline.error(subject)),
    Math.max(1, deadline.remainingMs()),
  );
  const follow = (source: AbortSignal) => () => controller.abort(source.reason);
  const listeners: Array<[AbortSignal, () => void]> = [];
  for (const source of linked) {
    if (!source) continue;
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    const listener = follow(source);
    source.addEventListener("abort", listener, { once: true });
    listeners.push([source, listener]);
  }
  return {
    signal: controller.signal,
    release() {
      clearTimeout(timer);
      for (const [source, listener] of listeners) source.removeEventListener("abort", listener);
    },
  };
}

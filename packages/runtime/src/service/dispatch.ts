/**
 * The one path every request takes into an endpoint, whatever carried it (a NATS message, an
 * HTTP request): size check, deadline, server span, decode, schema, handler within the deadline,
 * reply, stats. Transports differ only in what they hand in (an {@link InboundRequest}) and
 * where the answer goes (a {@link ReplySink}).
 *
 * A handler that answers synchronously with a value that fits one message is served without a
 * promise, a timer or an abort controller: the reply leaves within the call that brought the
 * request. The request's signal (and the timer that aborts it at the deadline) is made only
 * when something asks for it: an asynchronous handler, a streamed reply, or a handler that reads
 * `context.signal`.
 */
import { type Codec, EntenteError, HEADERS, parseMessage, toEntenteError } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import { context as otelContext } from "@opentelemetry/api";
import { abortReason, Deadline, foldBodyTimeout } from "../deadline.ts";
import type { Logger } from "../logger.ts";
import { headerOf } from "../stream/frame-headers.ts";
import type { ReplyBody, SendReplyResult } from "../stream/types.ts";
import { type ServerHop, startServerHop } from "../tracing/hop-spans.ts";
import type { EndpointStats } from "./stats.ts";
import { type EndpointDefinition, type RequestContext, replyBodyOf } from "./types.ts";

/** A request as a transport received it. */
export interface InboundRequest {
  /** The subject it was sent to; over HTTP, the endpoint's subject. */
  subject: string;
  /** The body; empty when it was refused for its size before being read. */
  data: Uint8Array;
  /** The body's size: as read, or as far as it was counted before being refused. */
  bytes: number;
  /** Deadline, content type, trace context and source region, in NATS header form. */
  headers: MsgHdrs | undefined;
  /** The codec of the body (its content type). */
  codec: Codec;
  transport: "nats" | "http";
  /** Aborts when the transport has lost the requester (an HTTP client that hung up). */
  gone?: AbortSignal;
}

/** What a sink may ask of the request it answers. */
export interface ReplyControl {
  /** The request's signal; asking for it arms the deadline timer. */
  signal(): AbortSignal;
  /** Headers for the last (or only) message of the reply: the server's own time. */
  finalHeaders(): Record<string, string>;
  /** The requester cancelled or vanished mid-reply: the handler's work is aborted. */
  stop(outcome: string): void;
}

/** Where a request's answer goes. */
export interface ReplySink {
  /** False when nobody waits for an answer (a NATS message without a reply subject). */
  readonly wanted: boolean;
  /**
   * Sends the handler's result. A single value may go out before this returns (a result, not a
   * promise). Never throws for a lost consumer: the outcome says how the reply ended.
   */
  send(body: ReplyBody, control: ReplyControl): SendReplyResult | Promise<SendReplyResult>;
  /** Answers with the error shape; returns the bytes sent. */
  sendError(error: EntenteError, control: ReplyControl): number;
  /** The HTTP status answered, for the span; undefined for NATS. */
  readonly status?: number | undefined;
}

export interface DispatchEndpoint {
  definition: EndpointDefinition;
  stats: EndpointStats;
  maxRequestBytes: number;
}

/** A request still running after its dispatch call returned. */
export interface InFlightRequest {
  abort(reason: EntenteError): void;
}

/** What the path needs from the service that hosts the endpoint. */
export interface DispatchHost {
  readonly name: string;
  readonly region: string;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly logger: Logger;
  /** Tracks a request that outlives its dispatch call, so a shutdown can wait for or abort it. */
  hold(request: InFlightRequest): void;
  release(request: InFlightRequest): void;
}

/**
 * Serves one request. Returns undefined when it was answered within the call, else a promise
 * that settles (never rejects) once it has been.
 */
export function dispatch(
  host: DispatchHost,
  endpoint: DispatchEndpoint,
  inbound: InboundRequest,
  sink: ReplySink,
): Promise<void> | undefined {
  return new RequestRun(host, endpoint, inbound, sink).start();
}

class RequestRun implements ReplyControl, InFlightRequest {
  readonly #host: DispatchHost;
  readonly #endpoint: DispatchEndpoint;
  readonly #inbound: InboundRequest;
  readonly #sink: ReplySink;
  readonly #started = performance.now();
  readonly #hop: ServerHop;
  #deadline: Deadline | undefined;
  #controller: AbortController | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #abortedWith: EntenteError | undefined;
  #held = false;
  #responseBytes = 0;
  #batches = 0;
  #failure: EntenteError | undefined;
  #onGone: (() => void) | undefined;

  constructor(
    host: DispatchHost,
    endpoint: DispatchEndpoint,
    inbound: InboundRequest,
    sink: ReplySink,
  ) {
    this.#host = host;
    this.#endpoint = endpoint;
    this.#inbound = inbound;
    this.#sink = sink;
    this.#hop = startServerHop(inbound.headers, {
      subject: inbound.subject,
      service: host.name,
      region: host.region,
      requestBytes: inbound.bytes,
      transport: inbound.transport,
      startedAt: this.#started,
    });
  }

  start(): Promise<void> | undefined {
    this.#endpoint.stats.begin(this.#inbound.bytes);
    this.#followGone();
    let result: unknown;
    try {
      result = this.#invoke();
    } catch (err) {
      this.#fail(err);
      return this.#end();
    }
    return isThenable(result) ? this.#awaitHandler(result) : this.#reply(result);
  }

  signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = new AbortController();
      this.#controller = controller;
      if (this.#abortedWith !== undefined) controller.abort(this.#abortedWith);
      else this.#armDeadline();
    }
    return controller.signal;
  }

  finalHeaders(): Record<string, string> {
    return { [HEADERS.serverTimeUs]: String(this.#hop.elapsedUs()) };
  }

  stop(outcome: string): void {
    this.abort(new EntenteError("CANCELLED", `${this.#endpoint.definition.subject}: ${outcome}`));
  }

  abort(reason: EntenteError): void {
    if (this.#abortedWith !== undefined) return;
    this.#abortedWith = reason;
    clearTimeout(this.#timer);
    this.#controller?.abort(reason);
  }

  /** Checks, decodes and validates the request, then calls the handler. */
  #invoke(): unknown {
    const { definition, maxRequestBytes } = this.#endpoint;
    const inbound = this.#inbound;
    if (inbound.bytes > maxRequestBytes) {
      throw new EntenteError(
        "TOO_LARGE",
        `request of ${inbound.bytes} bytes exceeds the limit of ${maxRequestBytes} bytes for ${definition.subject}`,
        { details: { bytes: inbound.bytes, limit: maxRequestBytes } },
      );
    }
    const header = Deadline.fromHeader(headerOf(inbound.headers, HEADERS.timeoutMs), {
      defaultMs: this.#host.defaultTimeoutMs,
      maxMs: this.#host.maxTimeoutMs,
    });
    if (header.expired()) throw header.error(`${definition.subject} arrived with no time left`);
    const decoded = inbound.codec.decode(inbound.data);
    const deadline = foldBodyTimeout(header, decoded);
    this.#deadline = deadline;
    const request = definition.schema
      ? parseMessage(definition.schema, decoded, `${definition.name} request`)
      : decoded;
    const run = this;
    const context: RequestContext = {
      subject: inbound.subject,
      headers: inbound.headers,
      deadline,
      get signal() {
        return run.signal();
      },
      trace: this.#hop.context,
      logger: this.#host.logger,
    };
    return otelContext.with(this.#hop.context, definition.handler, undefined, request, context);
  }

  async #awaitHandler(work: PromiseLike<unknown>): Promise<void> {
    this.#hold();
    let result: unknown;
    try {
      result = await untilAborted(work, this.signal(), () =>
        abortReason(this.#controller?.signal, this.#deadline, this.#endpoint.definition.subject),
      );
    } catch (err) {
      this.#fail(err);
      this.#end();
      return;
    }
    await this.#reply(result);
  }

  #reply(result: unknown): Promise<void> | undefined {
    if (!this.#sink.wanted) return this.#end();
    let sent: SendReplyResult | Promise<SendReplyResult>;
    try {
      sent = this.#sink.send(replyBodyOf(result), this);
    } catch (err) {
      this.#fail(err);
      return this.#end();
    }
    if (!isThenable(sent)) {
      this.#sent(sent);
      return this.#end();
    }
    return this.#awaitSend(sent);
  }

  async #awaitSend(sending: Promise<SendReplyResult>): Promise<void> {
    this.#hold();
    try {
      this.#sent(await sending);
    } catch (err) {
      this.#fail(err);
    }
    this.#end();
  }

  #sent(sent: SendReplyResult): void {
    this.#responseBytes += sent.bytes;
    this.#batches += sent.batches;
    if (sent.rejectedControls !== undefined) this.#noteRejectedControls(sent.rejectedControls);
    if (sent.outcome !== "completed") {
      this.#failure = replyFailure(sent, this.#endpoint.definition.subject);
    }
  }

  /** Records the failure and answers with it, when anyone is waiting. */
  #fail(err: unknown): void {
    const failure = toEntenteError(err);
    this.#failure = failure;
    if (failure.code === "INTERNAL") {
      this.#host.logger.error({ err, subject: this.#inbound.subject }, "handler failed");
    }
    if (!this.#sink.wanted) return;
    try {
      this.#responseBytes += this.#sink.sendError(failure, this);
    } catch (sendErr) {
      this.#host.logger.warn(
        { err: sendErr, subject: this.#inbound.subject },
        "could not send error reply",
      );
    }
  }

  #end(): undefined {
    clearTimeout(this.#timer);
    if (this.#onGone) this.#inbound.gone?.removeEventListener("abort", this.#onGone);
    if (this.#held) this.#host.release(this);
    const elapsedNs = Math.round((performance.now() - this.#started) * 1e6);
    const failure = this.#failure;
    this.#endpoint.stats.end(elapsedNs, this.#responseBytes, failure);
    this.#hop.end({
      responseBytes: this.#responseBytes,
      responseBatches: this.#batches,
      error: failure,
      httpStatus: this.#sink.status,
    });
    return undefined;
  }

  #hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#host.hold(this);
  }

  #armDeadline(): void {
    const deadline = this.#deadline;
    if (deadline === undefined) return;
    const what = this.#endpoint.definition.subject;
    const left = deadline.remainingMs();
    if (left <= 0) this.abort(deadline.error(what));
    else this.#timer = setTimeout(() => this.abort(deadline.error(what)), left);
  }

  /** A transport that can tell the requester is gone (an HTTP client hung up) aborts the work. */
  #followGone(): void {
    const gone = this.#inbound.gone;
    if (gone === undefined) return;
    if (gone.aborted) {
      this.stop("the requester went away");
      return;
    }
    this.#onGone = () => this.stop("the requester went away");
    gone.addEventListener("abort", this.#onGone, { once: true });
  }

  /** Control messages for a stream that its requester did not send: worth an operator's look. */
  #noteRejectedControls(rejected: number): void {
    this.#endpoint.stats.rejectedControls += rejected;
    this.#host.logger.warn(
      { subject: this.#inbound.subject, rejected },
      "refused stream control messages its requester did not send",
    );
  }
}

function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Why a reply did not complete, for the stats and the span. */
function replyFailure(sent: SendReplyResult, subject: string): EntenteError {
  if (sent.error) return sent.error;
  const code = sent.outcome === "consumer-gone" ? "CONSUMER_GONE" : "CANCELLED";
  return new EntenteError(code, `reply on ${subject} ended: ${sent.outcome}`);
}

/** Settles with the work, or rejects as soon as the signal aborts — whichever comes first. */
function untilAborted<T>(
  work: PromiseLike<T>,
  signal: AbortSignal,
  reason: () => EntenteError,
): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

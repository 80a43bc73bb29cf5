import { HEADERS } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from "@opentelemetry/api";
import { extractTraceContext, injectTraceContext, natsHeadersGetter } from "./nats-headers.ts";
import { HOP_ATTRIBUTES } from "./types.ts";

const TRACER_NAME = "@entente/runtime";

let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/**
 * The tracer of the current global provider. `trace.disable()` replaces the global proxy, and a
 * tracer taken from the old one would stay bound to the shut-down SDK, so the cache is keyed on
 * the provider; a proxy without an SDK yet hands out a tracer that picks the SDK up once set.
 */
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== cachedProvider || cachedTracer === undefined) {
    cachedProvider = provider;
    cachedTracer = provider.getTracer(TRACER_NAME);
  }
  return cachedTracer;
}

/** What a proxy without an SDK delegates to: a fresh proxy has none. */
const NO_SDK = new ProxyTracerProvider().getDelegate();

/**
 * True while no SDK is registered. Every span would then be a no-op carrying its parent's
 * context, so the hop helpers skip the span and hand the parent's context on, which is the same
 * trace identity without the allocations.
 */
function tracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NO_SDK;
}

const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

function spanOf(ctx: Context): Span {
  return trace.getSpan(ctx) ?? NO_SPAN;
}

export interface ClientHopOptions {
  subject: string;
  service?: string | undefined;
  sourceRegion?: string | undefined;
  destinationRegion?: string | undefined;
  requestBytes: number;
}

export interface ClientHopEnd {
  responseBytes?: number;
  responseBatches?: number;
  /** From the reply's `entente-server-time-us` header; without it no hop latency is observed. */
  serverTimeUs?: number;
  /** A failure: anything with a string `code` (the protocol's error shape), or any thrown value. */
  error?: unknown;
}

export interface ClientHop {
  span: Span;
  /** The parent context with this hop's span set: pass it on to work done for this request. */
  context: Context;
  /** Writes this hop's trace context into the request's headers. */
  inject(hdrs: MsgHdrs): void;
  /** Records the outcome and ends the span; later calls do nothing. */
  end(outcome?: ClientHopEnd): void;
}

export interface ServerHopOptions {
  subject: string;
  service: string;
  /** This server's region: the destination of the hop. */
  region: string;
  requestBytes: number;
  /** Where the request came from; defaults to the `entente-source-region` header. */
  sourceRegion?: string;
  /** How the request arrived: NATS unless said otherwise. */
  transport?: "nats" | "http";
  /** `performance.now()` when the request arrived, if the caller already read the clock. */
  startedAt?: number;
}

export interface ServerHopEnd {
  responseBytes?: number;
  responseBatches?: number;
  error?: unknown;
  /** The HTTP status answered, for a request that came over HTTP. */
  httpStatus?: number;
}

export interface ServerHop {
  span: Span;
  /** The extracted remote context with this hop's span set: run the handler inside it. */
  context: Context;
  /** Microseconds since the hop started, for the `entente-server-time-us` reply header. */
  elapsedUs(): number;
  end(outcome?: ServerHopEnd): void;
}

/** Opens the CLIENT span of a request sent over NATS, as a child of `parent` (or the active context). */
export function startClientHop(options: ClientHopOptions, parent?: Context): ClientHop {
  const parentContext = parent ?? context.active();
  if (tracingOff()) return new UntracedClientHop(parentContext);
  const span = tracer().startSpan(
    `send ${options.subject}`,
    { kind: SpanKind.CLIENT },
    parentContext,
  );
  // Attributes go on after the sampler has decided: an unsampled span costs no attribute work.
  if (span.isRecording()) {
    span.setAttribute(HOP_ATTRIBUTES.system, "nats");
    span.setAttribute(HOP_ATTRIBUTES.operation, "send");
    span.setAttribute(HOP_ATTRIBUTES.subject, options.subject);
    span.setAttribute(HOP_ATTRIBUTES.requestBytes, options.requestBytes);
    if (options.service !== undefined) span.setAttribute(HOP_ATTRIBUTES.service, options.service);
    if (options.sourceRegion !== undefined) {
      span.setAttribute(HOP_ATTRIBUTES.sourceRegion, options.sourceRegion);
    }
    if (options.destinationRegion !== undefined) {
      span.setAttribute(HOP_ATTRIBUTES.destinationRegion, options.destinationRegion);
    }
  }
  return new TracedClientHop(span, trace.setSpan(parentContext, span));
}

/**
 * Opens the SERVER span of a request, as a child of the caller's span (its trace context read
 * from the headers): over NATS, or over HTTP with the headers carried across.
 */
export function startServerHop(hdrs: MsgHdrs | undefined, options: ServerHopOptions): ServerHop {
  const started = options.startedAt ?? performance.now();
  const parentContext = extractTraceContext(hdrs);
  if (tracingOff()) return new UntracedServerHop(parentContext, started);
  const span = tracer().startSpan(
    `process ${options.subject}`,
    { kind: SpanKind.SERVER },
    parentContext,
  );
  if (span.isRecording()) {
    const sourceRegion =
      options.sourceRegion ?? (hdrs && natsHeadersGetter.get(hdrs, HEADERS.sourceRegion));
    span.setAttribute(HOP_ATTRIBUTES.system, options.transport ?? "nats");
    span.setAttribute(HOP_ATTRIBUTES.operation, "process");
    span.setAttribute(HOP_ATTRIBUTES.subject, options.subject);
    span.setAttribute(HOP_ATTRIBUTES.service, options.service);
    span.setAttribute(HOP_ATTRIBUTES.destinationRegion, options.region);
    span.setAttribute(HOP_ATTRIBUTES.requestBytes, options.requestBytes);
    if (typeof sourceRegion === "string") {
      span.setAttribute(HOP_ATTRIBUTES.sourceRegion, sourceRegion);
    }
  }
  return new TracedServerHop(span, trace.setSpan(parentContext, span), started);
}

/** With no SDK: the caller's context passes through untouched (a propagator may still be set). */
class UntracedClientHop implements ClientHop {
  readonly context: Context;

  constructor(parent: Context) {
    this.context = parent;
  }

  get span(): Span {
    return spanOf(this.context);
  }

  inject(hdrs: MsgHdrs): void {
    injectTraceContext(this.context, hdrs);
  }

  end(): void {}
}

class TracedClientHop implements ClientHop {
  readonly span: Span;
  readonly context: Context;
  #ended = false;

  constructor(span: Span, hopContext: Context) {
    this.span = span;
    this.context = hopContext;
  }

  inject(hdrs: MsgHdrs): void {
    injectTraceContext(this.context, hdrs);
  }

  end(outcome?: ClientHopEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.span;
    if (outcome !== undefined && span.isRecording()) {
      recordSizes(span, outcome.responseBytes, outcome.responseBatches);
      if (outcome.serverTimeUs !== undefined) {
        span.setAttribute(HOP_ATTRIBUTES.serverTimeUs, outcome.serverTimeUs);
      }
      if (outcome.error !== undefined) recordFailure(span, outcome.error);
    }
    span.end();
  }
}

class UntracedServerHop implements ServerHop {
  readonly context: Context;
  readonly #started: number;

  constructor(parent: Context, started: number) {
    this.context = parent;
    this.#started = started;
  }

  get span(): Span {
    return spanOf(this.context);
  }

  elapsedUs(): number {
    return Math.round((performance.now() - this.#started) * 1000);
  }

  end(): void {}
}

class TracedServerHop implements ServerHop {
  readonly span: Span;
  readonly context: Context;
  readonly #started: number;
  #ended = false;

  constructor(span: Span, hopContext: Context, started: number) {
    this.span = span;
    this.context = hopContext;
    this.#started = started;
  }

  elapsedUs(): number {
    return Math.round((performance.now() - this.#started) * 1000);
  }

  end(outcome?: ServerHopEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.span;
    if (outcome !== undefined && span.isRecording()) {
      recordSizes(span, outcome.responseBytes, outcome.responseBatches);
      if (outcome.httpStatus !== undefined) {
        span.setAttribute(HOP_ATTRIBUTES.httpStatus, outcome.httpStatus);
      }
      if (outcome.error !== undefined) recordFailure(span, outcome.error);
    }
    span.end();
  }
}

function recordSizes(span: Span, bytes: number | undefined, batches: number | undefined): void {
  if (bytes !== undefined) span.setAttribute(HOP_ATTRIBUTES.responseBytes, bytes);
  if (batches !== undefined) span.setAttribute(HOP_ATTRIBUTES.responseBatches, batches);
}

function recordFailure(span: Span, error: unknown): void {
  const { code, message } = describeError(error);
  span.setAttribute(HOP_ATTRIBUTES.errorCode, code);
  span.setAttribute(HOP_ATTRIBUTES.errorType, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ? `${code}: ${message}` : code });
}

/** Code and message of a failure; a value without a code counts as INTERNAL, as on the wire. */
export function describeError(error: unknown): { code: string; message: string | undefined } {
  if (typeof error === "object" && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    return {
      code:
        typeof code === "string" && code !== ""
          ? code
          : typeof code === "number"
            ? String(code)
            : "INTERNAL",
      message: typeof message === "string" && message !== "" ? message : undefined,
    };
  }
  return { code: "INTERNAL", message: error === undefined ? undefined : String(error) };
}

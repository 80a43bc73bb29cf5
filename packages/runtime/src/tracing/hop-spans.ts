import { HEADERS } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import {
  type Attributes,
  type Context,
  context,
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

export interface ClientHopOptions {
  subject: string;
  service?: string;
  sourceRegion?: string;
  destinationRegion?: string;
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
}

export interface ServerHopEnd {
  responseBytes?: number;
  responseBatches?: number;
  error?: unknown;
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
  const attributes: Attributes = {
    [HOP_ATTRIBUTES.system]: "nats",
    [HOP_ATTRIBUTES.operation]: "send",
    [HOP_ATTRIBUTES.subject]: options.subject,
    [HOP_ATTRIBUTES.requestBytes]: options.requestBytes,
  };
  if (options.service !== undefined) attributes[HOP_ATTRIBUTES.service] = options.service;
  if (options.sourceRegion !== undefined) {
    attributes[HOP_ATTRIBUTES.sourceRegion] = options.sourceRegion;
  }
  if (options.destinationRegion !== undefined) {
    attributes[HOP_ATTRIBUTES.destinationRegion] = options.destinationRegion;
  }
  const span = tracer().startSpan(
    `send ${options.subject}`,
    { kind: SpanKind.CLIENT, attributes },
    parentContext,
  );
  const hopContext = trace.setSpan(parentContext, span);
  let ended = false;
  return {
    span,
    context: hopContext,
    inject: (hdrs) => injectTraceContext(hopContext, hdrs),
    end: (outcome) => {
      if (ended) return;
      ended = true;
      if (outcome !== undefined && span.isRecording()) {
        recordSizes(span, outcome.responseBytes, outcome.responseBatches);
        if (outcome.serverTimeUs !== undefined) {
          span.setAttribute(HOP_ATTRIBUTES.serverTimeUs, outcome.serverTimeUs);
        }
        if (outcome.error !== undefined) recordFailure(span, outcome.error);
      }
      span.end();
    },
  };
}

/** Opens the SERVER span of a request received over NATS, as a child of the caller's span. */
export function startServerHop(hdrs: MsgHdrs | undefined, options: ServerHopOptions): ServerHop {
  const started = performance.now();
  const parentContext = extractTraceContext(hdrs);
  const sourceRegion =
    options.sourceRegion ?? (hdrs && natsHeadersGetter.get(hdrs, HEADERS.sourceRegion));
  const attributes: Attributes = {
    [HOP_ATTRIBUTES.system]: "nats",
    [HOP_ATTRIBUTES.operation]: "process",
    [HOP_ATTRIBUTES.subject]: options.subject,
    [HOP_ATTRIBUTES.service]: options.service,
    [HOP_ATTRIBUTES.destinationRegion]: options.region,
    [HOP_ATTRIBUTES.requestBytes]: options.requestBytes,
  };
  if (typeof sourceRegion === "string") attributes[HOP_ATTRIBUTES.sourceRegion] = sourceRegion;
  const span = tracer().startSpan(
    `process ${options.subject}`,
    { kind: SpanKind.SERVER, attributes },
    parentContext,
  );
  let ended = false;
  return {
    span,
    context: trace.setSpan(parentContext, span),
    elapsedUs: () => Math.round((performance.now() - started) * 1000),
    end: (outcome) => {
      if (ended) return;
      ended = true;
      if (outcome !== undefined && span.isRecording()) {
        recordSizes(span, outcome.responseBytes, outcome.responseBatches);
        if (outcome.error !== undefined) recordFailure(span, outcome.error);
      }
      span.end();
    },
  };
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

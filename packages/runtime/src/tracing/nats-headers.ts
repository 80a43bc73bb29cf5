import { HEADERS } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import {
  type Context,
  propagation,
  ROOT_CONTEXT,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";
import { headerOf } from "../stream/frame-headers.ts";

/**
 * Reads propagation fields (`traceparent`, `tracestate`, `baggage`) from NATS headers. NATS header
 * names are case-insensitive on the wire and other languages write `Traceparent`, so look up
 * ignoring case; nats.js answers "" for a missing header, which a propagator must see as absent.
 */
export const natsHeadersGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => headerOf(carrier, key),
};

export const natsHeadersSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Writes the trace context (and baggage) of `ctx` into outgoing NATS headers. */
export function injectTraceContext(ctx: Context, hdrs: MsgHdrs): void {
  propagation.inject(ctx, hdrs, natsHeadersSetter);
}

/**
 * The trace context carried by incoming NATS headers. The base defaults to the root context, not
 * the active one: a subscription callback runs in whatever context created the connection, and
 * that must not become the parent of every request it serves.
 */
export function extractTraceContext(
  hdrs: MsgHdrs | undefined,
  base: Context = ROOT_CONTEXT,
): Context {
  return hdrs === undefined ? base : propagation.extract(base, hdrs, natsHeadersGetter);
}

/** The server's own time from a reply's headers, or undefined when absent or malformed. */
export function readServerTimeUs(hdrs: MsgHdrs | undefined): number | undefined {
  const raw = headerOf(hdrs, HEADERS.serverTimeUs);
  if (!raw) return undefined;
  const us = Number(raw);
  return Number.isFinite(us) && us >= 0 ? us : undefined;
}

/** Sets the server-time header a client subtracts from its round trip (whole microseconds). */
export function writeServerTimeUs(hdrs: MsgHdrs, us: number): void {
  hdrs.set(HEADERS.serverTimeUs, String(Math.max(0, Math.round(us))));
}

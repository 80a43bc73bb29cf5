import { type Codec, EntenteError, HEADERS } from "@entente/protocol";
import { Match, type MsgHdrs } from "@nats-io/nats-core";
import { wireHeaders } from "./wire-headers.ts";

/** Building and reading the headers of batches. Header names are matched case-insensitively. */

export interface FrameMeta {
  stream: string;
  seq: number;
  /** Present on the first batch: where the producer listens for credit and cancel. */
  control: string | undefined;
  /** Present on the first batch: the credit window the producer allows. */
  credit: number | undefined;
  continued: boolean;
  end: boolean;
  /** On the last batch: how many items the whole stream carried. */
  items: number | undefined;
}

/** A header's first value, its name matched in any case; undefined when absent or empty. */
export function headerOf(h: MsgHdrs | undefined, name: string): string | undefined {
  if (h === undefined) return undefined;
  const value = firstValue(h, name);
  return value === undefined || value === "" ? undefined : value;
}

/**
 * nats.js keeps decoded headers in a `headers` map, and its `get(name, IgnoreCase)` copies the
 * key list and filters it on every call; reading the map directly costs a lookup. Any other
 * implementation goes through `get`.
 */
function firstValue(h: MsgHdrs, name: string): string | undefined {
  const map = (h as { headers?: unknown }).headers;
  if (!(map instanceof Map)) return h.get(name, Match.IgnoreCase);
  const exact = (map as Map<string, string[]>).get(name);
  if (exact !== undefined) return exact[0];
  const lower = name.toLowerCase();
  for (const [key, values] of map as Map<string, string[]>) {
    if (key.length === lower.length && key.toLowerCase() === lower) return values[0];
  }
  return undefined;
}

/** The batch fields of a message, or undefined when it is not a batch (a plain reply). */
export function readFrameMeta(h: MsgHdrs | undefined): FrameMeta | undefined {
  const stream = headerOf(h, HEADERS.stream);
  if (stream === undefined) return undefined;
  const seq = parseCount(headerOf(h, HEADERS.seq), HEADERS.seq);
  if (seq === undefined) {
    throw new EntenteError("MALFORMED", `batch of stream ${stream} has no ${HEADERS.seq} header`);
  }
  const items = parseCount(headerOf(h, HEADERS.items), HEADERS.items);
  return {
    stream,
    seq,
    control: headerOf(h, HEADERS.control),
    credit: parseCount(headerOf(h, HEADERS.credit), HEADERS.credit),
    continued: headerOf(h, HEADERS.continued) === "1",
    end: headerOf(h, HEADERS.end) === "1",
    items,
  };
}

export interface FrameHeaderFields {
  codec: Codec;
  stream: string;
  seq: number;
  control?: string | undefined;
  credit?: number | undefined;
  continued?: boolean;
  end?: boolean;
  items?: number;
  extra?: Record<string, string> | undefined;
}

export function frameHeaders(f: FrameHeaderFields): MsgHdrs {
  const h = wireHeaders();
  h.set(HEADERS.contentType, f.codec.contentType);
  h.set(HEADERS.stream, f.stream);
  h.set(HEADERS.seq, String(f.seq));
  if (f.control !== undefined) h.set(HEADERS.control, f.control);
  if (f.credit !== undefined) h.set(HEADERS.credit, String(f.credit));
  if (f.continued) h.set(HEADERS.continued, "1");
  if (f.end) h.set(HEADERS.end, "1");
  if (f.items !== undefined) h.set(HEADERS.items, String(f.items));
  setAll(h, f.extra);
  return h;
}

/** Adds headers, replacing line breaks a header value cannot carry. */
export function setAll(h: MsgHdrs, extra: Record<string, string> | undefined): void {
  if (extra === undefined) return;
  for (const [name, value] of Object.entries(extra)) h.set(name, headerValue(value));
}

export function headerValue(value: string, max = 1024): string {
  const flat = value.replace(/[\r\n]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function parseCount(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new EntenteError("MALFORMED", `header ${name} is not a count: ${JSON.stringify(value)}`);
  }
  return n;
}

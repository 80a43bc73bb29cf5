import { Packr } from "msgpackr";
import { EntenteError } from "./errors.ts";
import { msgpackValueEnd, NestingTooDeepError } from "./msgpack-scan.ts";
import { jsonNestingExceeds, MAX_NESTING_DEPTH, nestingTooDeep } from "./nesting.ts";

export const MSGPACK = "application/msgpack";
export const JSON_CONTENT_TYPE = "application/json";
export type ContentType = typeof MSGPACK | typeof JSON_CONTENT_TYPE;

export interface Codec {
  readonly contentType: ContentType;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

// Plain maps and no record extension, so any MessagePack library can read what we write;
// 64-bit integers decode as bigint so region-aware ids stay exact.
const packr = new Packr({ useRecords: false, int64AsType: "bigint", mapsAsObjects: true });

export const msgpackCodec: Codec = {
  contentType: MSGPACK,
  encode(value) {
    return packr.pack(value);
  },
  decode(bytes) {
    if (bytes.length === 0) return undefined;
    refuseDeepMsgpack(bytes);
    try {
      return packr.unpack(bytes);
    } catch (err) {
      throw notMsgpack(bytes, err);
    }
  },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Walks the value's structure first, so the recursive decoder never meets deep nesting. */
function refuseDeepMsgpack(bytes: Uint8Array): void {
  // A body shorter than the limit cannot nest that deep: small messages skip the walk.
  if (bytes.length <= MAX_NESTING_DEPTH) return;
  try {
    msgpackValueEnd(bytes, 0, MAX_NESTING_DEPTH);
  } catch (err) {
    if (err instanceof NestingTooDeepError) throw nestingTooDeep(err.maxDepth);
    throw notMsgpack(bytes, err);
  }
}

/** MessagePack is the default, so a JSON body sent without its content type lands here. */
function notMsgpack(bytes: Uint8Array, err: unknown): EntenteError {
  let i = 0;
  // JSON whitespace: space, tab, line feed, carriage return.
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)
  )
    i++;
  const looksLikeJson = bytes[i] === 0x7b || bytes[i] === 0x5b; // `{` or `[`
  const hint = looksLikeJson
    ? " (the body looks like JSON: send it with the header content-type: application/json)"
    : "";
  return new EntenteError("MALFORMED", `body is not valid MessagePack: ${messageOf(err)}${hint}`);
}

/**
 * JSON has neither 64-bit integers nor bytes: bigints travel as decimal strings and byte arrays
 * (Uint8Array, Buffer) as base64 strings, both losslessly.
 */
function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value !== "object" || value === null) return value;
  // A Buffer's toJSON has already run by now; its holder still has the bytes themselves.
  const raw = (this as Record<string, unknown>)[key];
  return raw instanceof Uint8Array ? base64Of(raw) : value;
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer) ?? "null";
}

export const jsonCodec: Codec = {
  contentType: JSON_CONTENT_TYPE,
  encode(value) {
    return encoder.encode(toJson(value));
  },
  decode(bytes) {
    if (bytes.length === 0) return undefined;
    if (jsonNestingExceeds(bytes, MAX_NESTING_DEPTH)) throw nestingTooDeep(MAX_NESTING_DEPTH);
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new EntenteError("MALFORMED", "body is not valid UTF-8 JSON");
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new EntenteError("MALFORMED", `body is not valid JSON: ${messageOf(err)}`);
    }
  },
};

/** The codec a request asked for through its `content-type` header; MessagePack by default. */
export function codecFor(contentType: string | undefined | null): Codec {
  if (!contentType) return msgpackCodec;
  const type = contentType.split(";")[0]?.trim().toLowerCase();
  return type === JSON_CONTENT_TYPE ? jsonCodec : msgpackCodec;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

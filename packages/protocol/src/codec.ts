import { Packr } from "msgpackr";
import { EntenteError } from "./errors.ts";

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
    try {
      return packr.unpack(bytes);
    } catch (err) {
      throw new EntenteError("MALFORMED", `body is not valid MessagePack: ${messageOf(err)}`);
    }
  },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** JSON has no 64-bit integers: bigints travel as decimal strings, losslessly. */
function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
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

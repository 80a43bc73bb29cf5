import { createHmac, timingSafeEqual } from "node:crypto";
import { HEADERS } from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import { headerOf } from "./frame-headers.ts";
import { randomToken } from "./random-token.ts";

/**
 * Stream keys: only a stream's requester and its producer can speak for it.
 *
 * The requester sends a fresh random key with its request (`entente-stream-key`), on the
 * request subject, which only workers may read once NATS permissions are set (docs/security.md).
 * The producer tags every batch, and the requester every control message, with HMAC-SHA256 under
 * that key. Tags travel on the inboxes; the key never does. Whoever reads the inboxes can copy a
 * message, which is refused as a repeat, but cannot make a new one: no cancel, no credit, no
 * batch of its own.
 */

const KEY_BYTES = 16;
/** HMAC-SHA256 cut to 128 bits (RFC 2104 allows it): forging one is still out of reach. */
const TAG_BYTES = 16;

/** The batch headers a tag covers: every one the requester acts on. */
const COVERED_HEADERS = [
  HEADERS.stream,
  HEADERS.seq,
  HEADERS.control,
  HEADERS.credit,
  HEADERS.continued,
  HEADERS.end,
  HEADERS.items,
  HEADERS.error,
  HEADERS.serviceError,
  HEADERS.serviceErrorCode,
] as const;

/** A key for one request: 128 random bits. */
export function newStreamKey(): string {
  return randomToken(KEY_BYTES);
}

export class StreamKey {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /**
   * The tag of a batch whose headers are set: the covered headers' values (header values never
   * hold a line break, so one per line is unambiguous), then the payload.
   */
  batchTag(h: MsgHdrs, payload: Uint8Array): string {
    const mac = createHmac("sha256", this.#secret).update("batch\n");
    for (const name of COVERED_HEADERS) mac.update(`${headerOf(h, name) ?? ""}\n`);
    return tagOf(mac.update(payload));
  }

  /** The tag of control message `seq` of a stream: bound to the stream, its number and body. */
  controlTag(stream: string, seq: number, body: Uint8Array): string {
    const mac = createHmac("sha256", this.#secret).update(`control\n${stream}\n${seq}\n`);
    return tagOf(mac.update(body));
  }

  verifyBatch(h: MsgHdrs | undefined, payload: Uint8Array): boolean {
    const tag = headerOf(h, HEADERS.auth);
    return h !== undefined && tag !== undefined && sameTag(tag, this.batchTag(h, payload));
  }

  verifyControl(stream: string, seq: number, body: Uint8Array, tag: string): boolean {
    return sameTag(tag, this.controlTag(stream, seq, body));
  }
}

function tagOf(mac: ReturnType<typeof createHmac>): string {
  return mac.digest().subarray(0, TAG_BYTES).toString("base64url");
}

/** Compares in constant time, so response timing does not reveal a tag byte by byte. */
function sameTag(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

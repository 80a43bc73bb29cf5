import type { IncomingMessage } from "node:http";

/**
 * A request body read within a limit. Past the limit the rest is still read and dropped, within
 * bounds, before the refusal goes out: a connection closed while the client is still sending is
 * reset, and the client would see the reset instead of the 413.
 */

/** How much of a refused body is still read and dropped, and for how long. */
export const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
export const DISCARD_MAX_MS = 5_000;

const EMPTY = new Uint8Array(0);

export interface ReadBody {
  /** The body; empty when it was over the limit. */
  data: Uint8Array;
  /** Bytes received (or declared, for a body refused unread). */
  bytes: number;
  /** False when unread bytes may remain: the connection must not be reused. */
  whole: boolean;
}

/** The body's length as its `content-length` header declares it; 0 when it declares none. */
export function declaredLength(req: IncomingMessage): number {
  const length = Number(req.headers["content-length"]);
  return Number.isFinite(length) && length > 0 ? length : 0;
}

/** Reads the body, keeping at most `limit` bytes; a larger one comes back empty and counted. */
export function readBody(req: IncomingMessage, limit: number): Promise<ReadBody> {
  const declared = declaredLength(req);
  if (declared > limit + DISCARD_MAX_BYTES) {
    return Promise.resolve({ data: EMPTY, bytes: declared, whole: false });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let discarding: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const finish = (body: ReadBody) => {
      if (settled) return;
      settled = true;
      clearTimeout(discarding);
      req.off("data", onData);
      resolve(body);
    };
    const refuse = (whole: boolean) => finish({ data: EMPTY, bytes: size, whole });
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (discarding === undefined) {
        chunks.length = 0;
        discarding = setTimeout(() => refuse(false), DISCARD_MAX_MS);
      } else if (size > limit + DISCARD_MAX_BYTES) refuse(false);
    };
    req.on("data", onData);
    req.on("end", () => {
      if (discarding !== undefined) refuse(true);
      else finish({ data: concat(chunks, size), bytes: size, whole: true });
    });
    req.on("error", (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(discarding);
      reject(err);
    });
  });
}

function concat(chunks: Buffer[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Buffer;
  return chunks.length === 0 ? EMPTY : Buffer.concat(chunks, size);
}

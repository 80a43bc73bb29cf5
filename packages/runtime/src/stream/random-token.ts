import { randomFillSync } from "node:crypto";

/**
 * Unguessable tokens (base64url, so each is a valid subject token) for stream keys and reply
 * inboxes. Random bytes are drawn from the system's CSPRNG a pool at a time and every byte is
 * used once: a call per request would cost more than the rest of the token.
 */

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

export function randomToken(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) {
    throw new RangeError(`a token has 1 to ${POOL_BYTES} bytes, not ${bytes}`);
  }
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const token = pool.toString("base64url", used, used + bytes);
  used += bytes;
  return token;
}

/**
 * Reconnect pacing, pure: the wait before the next attempt starts at the link's
 * `reconnectDelayMs` and doubles with each failure in a row, up to `maxReconnectDelayMs`, so a
 * broker that stays away is asked less and less often instead of at a fixed rate, however many
 * links point at it.
 */

export interface BackoffPolicy {
  /** The first wait. */
  reconnectDelayMs: number;
  /** The longest wait; a cap below the first wait means the first wait throughout. */
  maxReconnectDelayMs: number;
}

/** The wait after `failures` failed attempts in a row (1 after the first failure). */
export function reconnectDelay(policy: BackoffPolicy, failures: number): number {
  const cap = Math.max(policy.reconnectDelayMs, policy.maxReconnectDelayMs);
  // Past 2^30 the cap has long been reached; stop before the power overflows to Infinity.
  const doublings = Math.min(30, Math.max(0, failures - 1));
  return Math.min(cap, policy.reconnectDelayMs * 2 ** doublings);
}

/** A wait spread over [wait, 1.5 × wait] by `random` in [0, 1), so many links do not retry in step. */
export function withJitter(waitMs: number, random: number): number {
  return Math.round(waitMs * (1 + random / 2));
}

/** Retry with exponential backoff, never past the deadline. Pure: the decision only. */

export interface RetrySettings {
  /** Attempts in all, the first included. */
  attempts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RETRY: RetrySettings = { attempts: 2, backoffMs: 50, maxBackoffMs: 1_000 };

/** The pause before attempt `attempt + 1`, or undefined when no further attempt should be made. */
export function nextBackoff(
  attempt: number,
  retryable: boolean,
  remainingMs: number,
  settings: RetrySettings,
): number | undefined {
  if (!retryable || attempt >= settings.attempts) return undefined;
  const wait = Math.min(settings.maxBackoffMs, settings.backoffMs * 2 ** (attempt - 1));
  // Leave the next attempt some of the budget: a retry that cannot finish is not worth making.
  return remainingMs > wait * 2 ? wait : undefined;
}

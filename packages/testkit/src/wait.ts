import { setTimeout as sleep } from "node:timers/promises";

/** Retries `check` until it resolves; a rejection means "not yet". Fails after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() >= deadline) {
        throw new Error(`${what} was not ready within ${timeoutMs} ms: ${String(error)}`);
      }
    }
    await sleep(100);
  }
}

/**
 * Polls `check` until it gives a value (undefined or a rejection mean "not yet") and returns it;
 * fails after `timeoutMs` with the last rejection. A bound on a wait, not a timing assertion.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    }
    await sleep(100);
  }
}

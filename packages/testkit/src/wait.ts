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

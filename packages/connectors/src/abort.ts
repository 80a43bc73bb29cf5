/**
 * Runs `cancel` when `signal` aborts, and again every `everyMs` (at most `attempts` times)
 * until the returned stop function is called (the statement's connection was released). A
 * cancel request that reaches the server before the statement starts is lost; repeating it
 * closes that gap.
 */
export function cancelOnAbort(
  signal: AbortSignal | undefined,
  cancel: () => void,
  everyMs = 500,
  attempts = 10,
): () => void {
  if (signal === undefined) return () => {};
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fired = 0;
  const fire = () => {
    if (stopped) return;
    cancel();
    fired++;
    if (fired < attempts) timer = setTimeout(fire, everyMs);
  };
  signal.addEventListener("abort", fire, { once: true });
  // Aborted before the statement was sent: the retries reach it once it runs.
  if (signal.aborted) fire();
  return () => {
    stopped = true;
    signal.removeEventListener("abort", fire);
    if (timer !== undefined) clearTimeout(timer);
  };
}

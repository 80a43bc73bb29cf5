/**
 * A benchmark's main, run to its end: its cleanup steps run whatever happens (an error, SIGINT,
 * SIGTERM, or the whole run passing `timeoutMs`), then the process exits by itself.
 */
export type CleanupStep = () => Promise<unknown>;

export async function runBench(
  main: () => Promise<void>,
  cleanup: CleanupStep[],
  timeoutMs: number,
): Promise<void> {
  let finishing = false;
  const finish = async (code: number): Promise<void> => {
    if (finishing) return;
    finishing = true;
    for (const step of cleanup) await step().catch(() => {});
    clearTimeout(timer);
    process.exit(code);
  };
  const timer = setTimeout(() => {
    console.error(`\nthe benchmark ran past BENCH_TIMEOUT_MS=${timeoutMs}; stopping`);
    void finish(1);
  }, timeoutMs);
  timer.unref();
  process.once("SIGINT", () => void finish(130));
  process.once("SIGTERM", () => void finish(143));
  try {
    await main();
    await finish(0);
  } catch (error) {
    console.error(error);
    await finish(1);
  }
}

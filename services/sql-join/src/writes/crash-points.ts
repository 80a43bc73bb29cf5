/**
 * Fault injection for the crash tests: with `ENTENTE_TX_CRASH_AT` set to one of the points, the
 * worker kills itself with SIGKILL the first time a two-phase commit reaches it — no stop
 * handlers, no flushed buffers, as a power cut would. Unset (always, outside those tests), every
 * point does nothing.
 */
export type CrashPoint =
  /** Every participant prepared, no decision logged yet. */
  | "prepared"
  /** Commit logged, no participant committed yet. */
  | "decided"
  /** The first participant committed, the others not yet. */
  | "committing";

const armed = process.env.ENTENTE_TX_CRASH_AT;

export function crashPoint(point: CrashPoint): void {
  if (armed === point) process.kill(process.pid, "SIGKILL");
}

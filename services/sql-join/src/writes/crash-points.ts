/**
 * Fault injection for the crash tests: with a crash variable set to one of its points, the
 * worker kills itself with SIGKILL the first time it reaches that point — no stop handlers, no
 * flushed buffers, as a power cut would. Unset (always, outside those tests), every point does
 * nothing. Two-phase commits read `ENTENTE_TX_CRASH_AT`, tier moves `ENTENTE_TIER_CRASH_AT`.
 */
export type CrashPoint =
  /** Every participant prepared, no decision logged yet. */
  | "prepared"
  /** Commit logged, no participant committed yet. */
  | "decided"
  /** The first participant committed, the others not yet. */
  | "committing";

export type TierCrashPoint =
  /** Every day of a move copied to the cold store, the progress not yet saved. */
  | "after-copy"
  /** Every copied day verified, the progress not yet saved. */
  | "after-verify"
  /** The cold snapshot committed, the progress not yet saved. */
  | "after-commit"
  /** The first day deleted from hot, the others not yet. */
  | "mid-delete";

/** A point check for the points `variable` may name. */
export function crashPoints<P extends string>(variable: string): (point: P) => void {
  const armed = process.env[variable];
  return (point) => {
    if (armed === point) process.kill(process.pid, "SIGKILL");
  };
}

export const crashPoint: (point: CrashPoint) => void = crashPoints("ENTENTE_TX_CRASH_AT");

export const tierCrashPoint: (point: TierCrashPoint) => void = crashPoints("ENTENTE_TIER_CRASH_AT");

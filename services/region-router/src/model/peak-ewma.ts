/**
 * A link's latency estimate, peak-sensitive in the manner of Finagle's peak-EWMA: a sample above
 * the estimate replaces it at once, so a link that turns slow is avoided from its first slow
 * reply; a sample below it only pulls the estimate down gradually, so one lucky reply does not
 * make a slow link look fast.
 *
 *   sample > estimate:  estimate = sample
 *   otherwise:          estimate = estimate · w + sample · (1 − w),   w = exp(−Δt / τ)
 *
 * Δt is the time since the previous sample. Weighting by elapsed time rather than by sample count
 * makes the decay a property of time alone: after T ms of steady lower samples a past peak keeps
 * the weight exp(−T/τ), whether those samples came ten or ten thousand to the second, so a busy
 * link and a probed idle link forget at the same pace. Samples in the same millisecond (Δt = 0)
 * therefore cannot lower the estimate; only time can.
 *
 * The estimate does not move between samples. Finagle's load balancer lets an idle node's cost
 * sink toward zero so that it gets tried again; here idle links are probed instead (see
 * link-monitor.ts), and a link that went quiet must not look faster for it.
 */

export interface PeakEwmaSettings {
  /** τ: the time over which a past peak's weight falls to 1/e (37 %). */
  decayMs: number;
}

/**
 * τ = 10 s, Finagle's default. With the link monitor probing idle links every 5 s, each probe
 * moves the estimate about 40 % of the way to what it measured (w = e^−0.5 ≈ 0.61); on a busy
 * link a one-off spike has faded to 5 % after 30 s of normal replies.
 */
export const DEFAULT_PEAK_EWMA: PeakEwmaSettings = { decayMs: 10_000 };

export class PeakEwma {
  readonly #decayMs: number;
  #estimate: number | undefined = undefined;
  #lastObservedAt: number | undefined = undefined;
  #rejected = 0;

  constructor(settings: PeakEwmaSettings = DEFAULT_PEAK_EWMA) {
    if (!(settings.decayMs > 0) || !Number.isFinite(settings.decayMs)) {
      throw new RangeError(
        `decayMs must be a positive number of milliseconds: ${settings.decayMs}`,
      );
    }
    this.#decayMs = settings.decayMs;
  }

  /**
   * Folds in one latency sample taken at `now`. NaN, infinite and negative samples say nothing
   * about the link (a broken measurement): they are counted and left out. A sample stamped
   * before the previous one (reported late) counts as simultaneous with it.
   */
  observe(ms: number, now: number): void {
    if (!Number.isFinite(ms) || ms < 0 || !Number.isFinite(now)) {
      this.#rejected++;
      return;
    }
    const previous = this.#estimate;
    const lastAt = this.#lastObservedAt;
    if (previous === undefined || lastAt === undefined || ms > previous) {
      this.#estimate = ms;
    } else {
      const w = Math.exp(-Math.max(0, now - lastAt) / this.#decayMs);
      this.#estimate = previous * w + ms * (1 - w);
    }
    this.#lastObservedAt = lastAt === undefined ? now : Math.max(lastAt, now);
  }

  /** The estimate in ms as of `now`; undefined until a sample was taken. */
  estimate(_now: number): number | undefined {
    // Constant between samples (see above); the time is part of the reading all the same, so
    // that callers do not depend on that choice.
    return this.#estimate;
  }

  /** When the latest accepted sample was taken; undefined before any. */
  get lastObservedAt(): number | undefined {
    return this.#lastObservedAt;
  }

  /** How many samples were left out as not a latency. */
  get rejected(): number {
    return this.#rejected;
  }
}

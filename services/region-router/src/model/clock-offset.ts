/**
 * The far region's clock offset, estimated as NTP does. One probe gives four timestamps:
 *
 *   t1 client sends ──► t2 server receives … t3 server sends ──► t4 client receives
 *
 *   offset = ((t2 − t1) + (t3 − t4)) / 2     how far the server's clock is ahead of ours
 *   delay  = (t4 − t1) − (t3 − t2)           the round trip, less the server's own time
 *
 * The offset is exact when the two directions take equally long; its error is at most half the
 * delay. So among recent samples the one with the least delay is the most trustworthy, which is
 * NTP's clock filter: keep the last few samples and report the offset of the fastest.
 */

export interface ProbeTimestamps {
  /** Client send, client clock (ms). */
  t1: number;
  /** Server receive, server clock (ms). */
  t2: number;
  /** Server send, server clock (ms). */
  t3: number;
  /** Client receive, client clock (ms). */
  t4: number;
}

export interface ClockSample {
  offsetMs: number;
  delayMs: number;
}

/**
 * The sample one probe gives; undefined when its timestamps cannot be right: not finite, or a
 * negative delay (the server claims to have spent longer than the whole round trip).
 */
export function clockSample({ t1, t2, t3, t4 }: ProbeTimestamps): ClockSample | undefined {
  if (![t1, t2, t3, t4].every(Number.isFinite)) return undefined;
  const delayMs = t4 - t1 - (t3 - t2);
  if (delayMs < 0) return undefined;
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, delayMs };
}

/**
 * Eight samples, as in NTP: with a probe every few seconds the window spans long enough to
 * contain one quiet round trip, and is short enough to follow a clock that drifts.
 */
export const DEFAULT_CLOCK_FILTER_SIZE = 8;

export class ClockFilter {
  readonly #size: number;
  /** Oldest first. */
  readonly #samples: ClockSample[] = [];
  #rejected = 0;

  constructor(size: number = DEFAULT_CLOCK_FILTER_SIZE) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`a clock filter keeps at least one sample: ${size}`);
    }
    this.#size = size;
  }

  /** Adds one probe's sample; false (and counted) when the probe was rejected. */
  add(probe: ProbeTimestamps): boolean {
    const sample = clockSample(probe);
    if (sample === undefined) {
      this.#rejected++;
      return false;
    }
    this.#samples.push(sample);
    if (this.#samples.length > this.#size) this.#samples.shift();
    return true;
  }

  /** The kept sample with the least delay, the most recent among equals; undefined if none. */
  best(): ClockSample | undefined {
    let best: ClockSample | undefined;
    for (const sample of this.#samples) {
      if (best === undefined || sample.delayMs <= best.delayMs) best = sample;
    }
    return best;
  }

  /** The far clock's offset from ours in ms (positive: it is ahead); undefined before a sample. */
  offset(): number | undefined {
    return this.best()?.offsetMs;
  }

  /** Whether the clocks are known to differ by more than `thresholdMs`, either way. */
  exceeds(thresholdMs: number): boolean {
    const offset = this.offset();
    return offset !== undefined && Math.abs(offset) > thresholdMs;
  }

  /** How many samples are kept (at most the filter's size). */
  get size(): number {
    return this.#samples.length;
  }

  /** How many probes were rejected. */
  get rejected(): number {
    return this.#rejected;
  }
}

/**
 * Stall detection, pure: a link with lag whose forwarded count has not moved for `stallAfterMs`
 * is stalled, however healthy its connections look.
 */
export interface Progress {
  /** Forwarded count at the last progress. */
  forwarded: number;
  /** When the link last forwarded something or had nothing to forward; -1 before any sample. */
  at: number;
}

export interface Sample {
  lag: number;
  forwarded: number;
  now: number;
}

export function advance(progress: Progress, sample: Sample): Progress {
  if (progress.at < 0 || sample.lag === 0 || sample.forwarded !== progress.forwarded) {
    return { forwarded: sample.forwarded, at: sample.now };
  }
  return progress;
}

export function isStalled(progress: Progress, sample: Sample, stallAfterMs: number): boolean {
  const next = advance(progress, sample);
  return sample.lag > 0 && sample.now - next.at >= stallAfterMs;
}

/** Binary searches over time-ordered samples, and their copies into columns. */
import { appendSample, type SampleColumns } from "./functions-range.ts";
import { isStaleNaN, type Sample } from "./values.ts";

/** The index of the first sample with `t >= time` (the length when none). */
export function firstAtOrAfter(samples: readonly Sample[], time: number): number {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((samples[mid] as Sample).t < time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of the first sample with `t > time` (the length when none). */
export function firstAfter(samples: readonly Sample[], time: number): number {
  let lo = 0;
  let hi = samples.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((samples[mid] as Sample).t <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The samples with `start <= t <= end`: both ends closed, as in Prometheus 2.x. */
export function samplesBetween(samples: readonly Sample[], start: number, end: number): Sample[] {
  return samples.slice(firstAtOrAfter(samples, start), firstAfter(samples, end));
}

/**
 * Columns reused from one series to the next, refilled with a series' samples in a time span,
 * staleness markers left out (as range selectors see them) and counter resets noted.
 */
export class SpanColumns {
  private columns: SampleColumns = emptyColumns(0);

  fill(
    samples: readonly Sample[],
    start: number,
    end: number,
  ): { columns: SampleColumns; length: number } {
    const first = firstAtOrAfter(samples, start);
    const last = firstAfter(samples, end);
    if (last - first > this.columns.t.length) {
      this.columns = emptyColumns(Math.max(last - first, 2 * this.columns.t.length));
    }
    const columns = this.columns;
    columns.resetCount = 0;
    let length = 0;
    for (let k = first; k < last; k++) {
      const sample = samples[k] as Sample;
      const v = sample.v;
      if (isStaleNaN(v)) continue;
      appendSample(columns, length++, sample.t, v);
    }
    return { columns, length };
  }
}

function emptyColumns(capacity: number): SampleColumns {
  return {
    t: new Float64Array(capacity),
    v: new Float64Array(capacity),
    resets: new Int32Array(capacity),
    resetCount: 0,
  };
}

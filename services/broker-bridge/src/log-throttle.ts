/**
 * Repeated identical log lines, rate-limited. Pure: the clock is handed in. The first line of a
 * kind is written; identical ones within `windowMs` are only counted; the first one after the
 * window is written again, saying how many were left out. A link that fails the same way every
 * few hundred milliseconds writes one line per window instead of thousands.
 */

export type LogVerdict =
  | { write: false }
  /** `repeated`: identical lines left out since this kind was last written. */
  | { write: true; repeated: number };

interface Seen {
  /** When this kind was last written. */
  writtenAt: number;
  repeated: number;
}

export class LogThrottle {
  readonly windowMs: number;
  /** Kinds remembered at most; the least recently written are forgotten first. */
  readonly maxKinds: number;
  readonly #seen = new Map<string, Seen>();

  constructor(options: { windowMs: number; maxKinds: number }) {
    this.windowMs = options.windowMs;
    this.maxKinds = options.maxKinds;
  }

  admit(kind: string, now: number): LogVerdict {
    const seen = this.#seen.get(kind);
    if (seen !== undefined && now - seen.writtenAt < this.windowMs) {
      seen.repeated++;
      return { write: false };
    }
    // Deleted and set again, so the map's order stays the order kinds were last written in.
    this.#seen.delete(kind);
    this.#seen.set(kind, { writtenAt: now, repeated: 0 });
    if (this.#seen.size > this.maxKinds) {
      const oldest = this.#seen.keys().next();
      if (!oldest.done) this.#seen.delete(oldest.value);
    }
    return { write: true, repeated: seen?.repeated ?? 0 };
  }

  /** Kinds remembered now (for tests and stats). */
  get size(): number {
    return this.#seen.size;
  }
}

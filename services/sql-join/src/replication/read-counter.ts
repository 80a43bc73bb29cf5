/**
 * Reads of remote ids within a sliding window: an id read `threshold` times within `windowMs`
 * is worth a replica. Pure, with the clock handed in; holds at most `maxKeys` ids, forgetting
 * the least recently read first.
 */
export class ReadCounter {
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  /** Per id, the times of its last `threshold` reads, oldest first; Map order is recency. */
  readonly #reads = new Map<string, number[]>();

  constructor(options: { threshold: number; windowMs: number; maxKeys: number }) {
    this.#threshold = options.threshold;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys;
  }

  /** Records one read of `key` at `now`; true when it reached the threshold within the window. */
  record(key: string, now: number): boolean {
    const times = (this.#reads.get(key) ?? []).filter((t) => now - t < this.#windowMs);
    times.push(now);
    if (times.length > this.#threshold) times.shift();
    this.#reads.delete(key);
    this.#reads.set(key, times);
    while (this.#reads.size > this.#maxKeys) {
      const oldest = this.#reads.keys().next().value;
      if (oldest === undefined) break;
      this.#reads.delete(oldest);
    }
    return times.length >= this.#threshold;
  }

  /** Forgets `key`, e.g. once it is a replica. */
  forget(key: string): void {
    this.#reads.delete(key);
  }

  get size(): number {
    return this.#reads.size;
  }
}

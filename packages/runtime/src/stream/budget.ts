/**
 * Bounds on what producers leave unread, without I/O or clocks. Credit bounds one stream in
 * batches; `ByteBudget` bounds every stream of a worker together in bytes, so a crowd of readers
 * that never read cannot fill the worker's memory however many of them there are.
 */

/**
 * Bytes of batches sent and not yet granted back, shared by the streams of one worker. A stream
 * reserves its batch before publishing it and releases it when the reader grants it back (or
 * the stream ends). Listeners hear of every release, so a waiting stream can try again.
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;
  readonly #listeners = new Set<() => void>();

  constructor(limit: number) {
    if (!(limit > 0)) throw new RangeError(`a byte budget must be positive, got ${limit}`);
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /**
   * Reserves `bytes`; false when they do not fit. A batch larger than the whole budget fits
   * only when nothing else is out, so no limit, however small, can stop a stream for good.
   */
  tryTake(bytes: number): boolean {
    if (this.#used > 0 && this.#used + bytes > this.limit) return false;
    this.#used += bytes;
    return true;
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.#used = Math.max(0, this.#used - bytes);
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after every release; returns the function that stops it. */
  onRelease(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * One stream's batches that are out: published and not yet granted back. The reader grants
 * batches back in the order it read them, so a grant of n releases the n oldest.
 */
export class OutstandingBatches {
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;

  get count(): number {
    return this.#sizes.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  sent(bytes: number): void {
    this.#sizes.push(bytes);
    this.#bytes += bytes;
  }

  /** Records a grant of `n` batches; returns the bytes it frees (never more than are out). */
  granted(n: number): number {
    const end = Math.min(this.#sizes.length, this.#head + Math.max(0, n));
    let freed = 0;
    for (let i = this.#head; i < end; i++) freed += this.#sizes[i]!;
    this.#head = end;
    this.#bytes -= freed;
    // Drop the granted prefix now and then, so a long stream keeps a short array.
    if (this.#head > 1024 && this.#head * 2 > this.#sizes.length) {
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return freed;
  }

  /** Forgets every batch (the stream ended); returns the bytes that frees. */
  clear(): number {
    const freed = this.#bytes;
    this.#sizes = [];
    this.#head = 0;
    this.#bytes = 0;
    return freed;
  }
}

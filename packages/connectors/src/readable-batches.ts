import type { Readable } from "node:stream";

/**
 * Reads an object-mode stream in batches of up to `size` items, pulling only as fast as
 * batches are asked for, so the stream's backpressure holds the rest on the server.
 */
export class ReadableBatches<T> {
  readonly #stream: Readable;
  readonly #size: number;
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;

  constructor(stream: Readable, size: number) {
    this.#stream = stream;
    this.#size = size;
    stream.on("readable", () => this.#notify());
    stream.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    stream.on("error", (err) => {
      this.#error ??= err;
      this.#notify();
    });
    stream.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** The next batch; empty at the end. Throws the stream's error. */
  async read(): Promise<T[]> {
    const batch: T[] = [];
    while (batch.length < this.#size) {
      if (this.#error !== undefined) throw this.#error;
      const item = this.#stream.read() as T | null;
      if (item !== null) {
        batch.push(item);
        continue;
      }
      if (this.#ended) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    if (this.#error !== undefined) throw this.#error;
    return batch;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

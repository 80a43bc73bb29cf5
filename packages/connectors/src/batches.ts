import type { Row } from "./types.ts";

/** How one open result is read and released; a connector supplies these for its driver. */
export interface BatchReader {
  /** The next batch; an empty array at the end. */
  read(): Promise<Row[]>;
  /** Releases the result and its connection; `failed` says the connection may be unusable. */
  release(failed: boolean): Promise<void>;
}

export interface BatchStreamOptions {
  /** Rows already read (the first batch, read up front so the columns are known). */
  first?: Row[];
  signal?: AbortSignal | undefined;
  /** The error a stream ends with once `signal` aborted. */
  cancelled: () => Error;
  /** Any read failure as the connector's error. */
  mapError: (err: unknown) => Error;
}

/**
 * One-shot async iterable over a reader. It releases the reader at the end, on the first
 * error, on abort and when the consumer stops early (`break` calls `return`).
 */
export function batchStream(
  reader: BatchReader,
  options: BatchStreamOptions,
): AsyncIterable<Row[]> {
  let first = options.first;
  let finished = false;
  let started = false;
  const finish = async (failed: boolean) => {
    if (finished) return;
    finished = true;
    await reader.release(failed).catch(() => {});
  };
  const iterator: AsyncIterator<Row[]> = {
    async next() {
      if (finished) return { done: true, value: undefined };
      if (options.signal?.aborted) {
        await finish(true);
        throw options.cancelled();
      }
      if (first !== undefined) {
        const rows = first;
        first = undefined;
        if (rows.length > 0) return { done: false, value: rows };
      }
      let rows: Row[];
      try {
        rows = await reader.read();
      } catch (err) {
        await finish(true);
        throw options.signal?.aborted ? options.cancelled() : options.mapError(err);
      }
      if (options.signal?.aborted) {
        await finish(true);
        throw options.cancelled();
      }
      if (rows.length === 0) {
        await finish(false);
        return { done: true, value: undefined };
      }
      return { done: false, value: rows };
    },
    async return() {
      await finish(false);
      return { done: true, value: undefined };
    },
  };
  return {
    [Symbol.asyncIterator]() {
      if (started) throw new Error("a query result can be iterated once");
      started = true;
      return iterator;
    },
  };
}

export const DEFAULT_BATCH_ROWS = 10_000;

export function batchSize(options: { batchRows?: number } | undefined): number {
  const n = options?.batchRows ?? DEFAULT_BATCH_ROWS;
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_BATCH_ROWS;
}

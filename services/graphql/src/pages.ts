/**
 * Results kept for their later pages. The first page of a statement runs it once; when the
 * result has more rows than the page, the whole result is kept here for `ttlMs` after its last
 * read, and a cursor names a position in it. Later pages are slices of that one execution, so
 * no row is lost or repeated whatever the statement's order. Kept results share one byte budget
 * with the results still being read (see {@link KeptResults.reserve}); the least recently read
 * kept results go first when it is full. Pure: the clock is handed in.
 */
import { EntenteError } from "@entente/protocol";

/**
 * What a result's rows are taken to cost in memory for each byte of their JSON: parsed rows
 * (arrays, boxed numbers, strings) take a few times their text, and the budget is of memory.
 */
export const HEAP_BYTES_PER_JSON_BYTE = 3;

/** A share of one byte budget, taken as a result streams in and given back when it is done. */
export interface ByteBudget {
  /** The whole budget, in bytes. */
  readonly limit: number;
  /** Takes `bytes`; false (taking nothing) when the budget cannot hold them. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
}

export interface KeptResult<T> {
  id: string;
  /** The statement and parameters it answered: a cursor is good only for the same. */
  key: string;
  rows: unknown[][];
  /** What the rows are taken to cost in memory (see {@link HEAP_BYTES_PER_JSON_BYTE}). */
  bytes: number;
  /** Everything else about the result (columns, stats), as the caller wants it. */
  meta: T;
  expiresAt: number;
}

export interface Cursor {
  id: string;
  offset: number;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.id}:${cursor.offset}`, "utf8").toString("base64url");
}

export function decodeCursor(text: string): Cursor {
  const decoded = /^[A-Za-z0-9_-]{1,400}$/.test(text)
    ? Buffer.from(text, "base64url").toString("utf8")
    : "";
  const match = /^([A-Za-z0-9]{1,64}):(\d{1,12})$/.exec(decoded);
  if (!match) {
    throw new EntenteError(
      "BAD_REQUEST",
      "after: not a cursor of this API (pass a page's pageInfo.endCursor)",
    );
  }
  return { id: match[1] as string, offset: Number(match[2]) };
}

export class KeptResults<T> {
  readonly #entries = new Map<string, KeptResult<T>>();
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  #bytes = 0;
  /** Bytes taken by results still being read (see {@link reserve}). */
  #reserved = 0;

  constructor(options: { ttlMs: number; maxBytes: number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxBytes = options.maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Bytes of the results kept. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes taken by the results still being read. */
  get reserved(): number {
    return this.#reserved;
  }

  /** Whether `bytes` more fit, once the least recently read kept results are dropped as needed. */
  #makeRoom(bytes: number, now: number): boolean {
    if (this.#bytes + this.#reserved + bytes <= this.#maxBytes) return true;
    this.sweep(now);
    if (this.#reserved + bytes > this.#maxBytes) return false;
    for (const [id, old] of this.#entries) {
      if (this.#bytes + this.#reserved + bytes <= this.#maxBytes) break;
      this.#drop(id, old);
    }
    return true;
  }

  /**
   * Takes `bytes` of the budget for a result being read, dropping the least recently read kept
   * results to make room: results being read come before results kept for later pages. False
   * (taking nothing) when the results being read already hold too much of it.
   */
  reserve(bytes: number, now: number): boolean {
    if (!this.#makeRoom(bytes, now)) return false;
    this.#reserved += bytes;
    return true;
  }

  /** Gives back what {@link reserve} took. */
  release(bytes: number): void {
    this.#reserved = Math.max(0, this.#reserved - bytes);
  }

  /** This budget as a {@link ByteBudget}, on the given clock. */
  budget(now: () => number): ByteBudget {
    return {
      limit: this.#maxBytes,
      reserve: (bytes) => this.reserve(bytes, now()),
      release: (bytes) => this.release(bytes),
    };
  }

  /** Keeps a result, making room by dropping the least recently read; false if it cannot fit. */
  keep(entry: Omit<KeptResult<T>, "expiresAt">, now: number): boolean {
    if (!this.#makeRoom(entry.bytes, now)) return false;
    this.#entries.set(entry.id, { ...entry, expiresAt: now + this.#ttlMs });
    this.#bytes += entry.bytes;
    return true;
  }

  /** The result a cursor names, its life extended; NOT_FOUND once it is gone. */
  read(cursor: Cursor, key: string, now: number): KeptResult<T> {
    this.sweep(now);
    const entry = this.#entries.get(cursor.id);
    if (!entry) {
      throw new EntenteError(
        "NOT_FOUND",
        "after: this cursor's result is no longer kept (it expired, or another worker issued it); run the query again from the first page",
      );
    }
    if (entry.key !== key) {
      throw new EntenteError(
        "BAD_REQUEST",
        "after: this cursor belongs to another statement; send the sql and params of its first page",
      );
    }
    if (cursor.offset > entry.rows.length) {
      throw new EntenteError("BAD_REQUEST", "after: the cursor is past the result's end");
    }
    // Most recently read last, so the budget drops the others first.
    this.#entries.delete(cursor.id);
    entry.expiresAt = now + this.#ttlMs;
    this.#entries.set(cursor.id, entry);
    return entry;
  }

  sweep(now: number): void {
    for (const [id, entry] of this.#entries) if (entry.expiresAt <= now) this.#drop(id, entry);
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  #drop(id: string, entry: KeptResult<T>): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }
}

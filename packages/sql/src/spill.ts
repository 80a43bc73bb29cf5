/**
 * Spilling: what an operator cannot hold within the statement's memory budget goes to local disk
 * in runs — sorted runs read back merged (ORDER BY, GROUP BY), or a join's and DISTINCT's
 * partitions (spill-partitions.ts) read back one at a time. Runs are MessagePack frames (a
 * length, then a chunk of entries), written under the statement's disk budget to a directory of
 * this process's own inside `dir` (readable by its user only), and removed when the operator is
 * done. Values keep their types through a run: 64-bit integers stay bigints.
 */
import { randomUUID } from "node:crypto";
import { type FileHandle, mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { EntenteError } from "@entente/protocol";
import { decodeSpilled, encodeSpilled } from "./spill-codec.ts";

export interface SpillLimits {
  /** Where runs are written. */
  dir: string;
  /** Most bytes one statement may write; 0 turns spilling off. */
  maxBytes: number;
}

/** Entries per frame: large enough to amortize a write, small enough to read back a few. */
const FRAME_ENTRIES = 1024;

/** One statement's disk space for spilled runs. */
export class SpillSpace {
  readonly limits: SpillLimits;
  #written = 0;

  constructor(limits: SpillLimits) {
    this.limits = limits;
  }

  get written(): number {
    return this.#written;
  }

  /** Writes sorted entries as one run. */
  writeRun<T>(what: string, entries: readonly T[]): Promise<SpillRun<T>> {
    return this.writeStream(what, framesOf(entries));
  }

  /** Writes a sorted stream of entries (merged runs, say) as one run. */
  async writeStream<T>(what: string, chunks: AsyncIterable<readonly T[]>): Promise<SpillRun<T>> {
    const writer = await this.openWriter<T>(what);
    try {
      for await (const chunk of chunks) await writer.append(chunk);
    } catch (err) {
      await writer.abandon();
      throw err;
    }
    return writer.finish();
  }

  /** A run written a chunk at a time, for an operator that fills several runs at once. */
  async openWriter<T>(what: string): Promise<SpillWriter<T>> {
    const dir = await processDir(this.limits.dir);
    const path = join(dir, `run-${randomUUID()}.msgpack`);
    const file = await open(path, "wx", 0o600);
    return new SpillWriter<T>(path, file, (bytes) => this.charge(what, bytes));
  }

  private charge(what: string, bytes: number): void {
    this.#written += bytes;
    if (this.#written <= this.limits.maxBytes) return;
    throw new EntenteError(
      "TOO_LARGE",
      `${what} spilled more than the statement's disk budget (sqlJoin.maxSpillBytes ` +
        `${this.limits.maxBytes}) to ${this.limits.dir}: add a filter or raise the budget`,
      {
        details: {
          operator: what,
          spilledBytes: this.#written,
          maxSpillBytes: this.limits.maxBytes,
        },
      },
    );
  }
}

async function* framesOf<T>(entries: readonly T[]): AsyncGenerator<readonly T[]> {
  yield entries;
}

/**
 * This process's directory under the spill directory, readable by its user only, made once.
 * Directories left by processes that no longer run (a crashed worker's runs) are removed then.
 */
const processDirs = new Map<string, Promise<string>>();

function processDir(base: string): Promise<string> {
  let dir = processDirs.get(base);
  if (!dir) {
    dir = (async () => {
      await mkdir(base, { recursive: true, mode: 0o700 });
      await removeDeadProcessDirs(base);
      const own = join(base, `${process.pid}-${randomUUID()}`);
      await mkdir(own, { mode: 0o700 });
      return own;
    })();
    processDirs.set(base, dir);
    // A failure (a read-only disk) is tried again by the next statement.
    dir.catch(() => processDirs.delete(base));
  }
  return dir;
}

async function removeDeadProcessDirs(base: string): Promise<void> {
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await rm(join(base, name), { recursive: true, force: true }).catch(() => {});
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** One run being written: frames appended in order, then finished or abandoned (removed). */
export class SpillWriter<T> {
  readonly #path: string;
  readonly #file: FileHandle;
  readonly #charge: (bytes: number) => void;
  #entries = 0;

  constructor(path: string, file: FileHandle, charge: (bytes: number) => void) {
    this.#path = path;
    this.#file = file;
    this.#charge = charge;
  }

  /** Entries appended so far. */
  get entries(): number {
    return this.#entries;
  }

  async append(chunk: readonly T[]): Promise<void> {
    for (let i = 0; i < chunk.length; i += FRAME_ENTRIES) {
      const body = encodeSpilled(chunk.slice(i, i + FRAME_ENTRIES));
      this.#charge(body.length + 4);
      const header = Buffer.alloc(4);
      header.writeUInt32LE(body.length);
      await this.#file.write(header);
      await this.#file.write(body);
    }
    this.#entries += chunk.length;
  }

  async finish(): Promise<SpillRun<T>> {
    await this.#file.close();
    return new SpillRun<T>(this.#path);
  }

  async abandon(): Promise<void> {
    await this.#file.close().catch(() => {});
    await rm(this.#path, { force: true });
  }
}

/** A run on disk (sorted, or one partition of a join's rows), read back a frame at a time. */
export class SpillRun<T> {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async *read(): AsyncGenerator<T[]> {
    const file: FileHandle = await open(this.path, "r");
    try {
      const header = Buffer.alloc(4);
      for (let position = 0; ; ) {
        const got = await file.read(header, 0, 4, position);
        if (got.bytesRead < 4) return;
        const length = header.readUInt32LE(0);
        const body = Buffer.alloc(length);
        await file.read(body, 0, length, position + 4);
        position += 4 + length;
        yield decodeSpilled<T>(body);
      }
    } finally {
      await file.close();
    }
  }

  remove(): Promise<void> {
    return rm(this.path, { force: true });
  }
}

/**
 * Sorted streams merged into one sorted stream of batches (a binary heap over the streams'
 * heads), `pause` called between batches so a long merge hands the event loop back.
 */
export async function* mergeSorted<T>(
  streams: AsyncIterator<T[]>[],
  compare: (a: T, b: T) => number,
  batchSize: number,
  pause: (n: number) => Promise<void>,
): AsyncGenerator<T[]> {
  interface Head {
    chunk: T[];
    at: number;
    stream: AsyncIterator<T[]>;
  }
  const heap: Head[] = [];
  const less = (a: Head, b: Head) => compare(a.chunk[a.at] as T, b.chunk[b.at] as T) < 0;
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i] as Head, heap[parent] as Head)) return;
      [heap[i], heap[parent]] = [heap[parent] as Head, heap[i] as Head];
      i = parent;
    }
  };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l] as Head, heap[m] as Head)) m = l;
      if (r < heap.length && less(heap[r] as Head, heap[m] as Head)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as Head, heap[i] as Head];
      i = m;
    }
  };
  const nextChunk = async (stream: AsyncIterator<T[]>): Promise<T[] | undefined> => {
    for (;;) {
      const next = await stream.next();
      if (next.done) return undefined;
      if (next.value.length > 0) return next.value;
    }
  };
  try {
    for (const stream of streams) {
      const chunk = await nextChunk(stream);
      if (chunk) {
        heap.push({ chunk, at: 0, stream });
        up(heap.length - 1);
      }
    }
    yield* mergeHeads();
  } finally {
    // Ended early (a LIMIT above): the runs' files are closed before they are removed.
    await Promise.all(streams.map((s) => s.return?.(undefined)));
  }

  async function* mergeHeads(): AsyncGenerator<T[]> {
    let out: T[] = [];
    while (heap.length > 0) {
      const head = heap[0] as Head;
      out.push(head.chunk[head.at] as T);
      head.at++;
      if (head.at === head.chunk.length) {
        const chunk = await nextChunk(head.stream);
        if (chunk) {
          head.chunk = chunk;
          head.at = 0;
        } else {
          const last = heap.pop() as Head;
          if (heap.length > 0 && last !== head) heap[0] = last;
        }
      }
      if (heap.length > 0) down(0);
      if (out.length >= batchSize) {
        yield out;
        await pause(out.length);
        out = [];
      }
    }
    if (out.length > 0) yield out;
  }
}

/**
 * Statements parsed on worker threads. node-sql-parser is a backtracking parser: a megabyte of
 * text takes it seconds, and a few dozen bytes of nested parentheses around a mistake can take
 * it minutes. On a thread of its own that time never holds the event loop, and a parse past its
 * budget or its request's deadline is stopped by ending the thread.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";
import { EntenteError, type ErrorBody } from "@entente/protocol";
import type { ParsedStatement, ParseLimits } from "./parse.ts";

/** What the pool sends a thread, and what the thread answers; first it says it has loaded. */
export interface ParseJob {
  sql: string;
  limits: ParseLimits;
}
export type ParseAnswer = { parsed: ParsedStatement } | { error: ErrorBody };
export type ThreadMessage = ParseAnswer | { loaded: true };

export interface ParsePoolOptions {
  /** Statements parsed at once, each on its own thread. */
  threads: number;
  /** Longest one statement may parse (`sqlJoin.parseTimeoutMs`) before its thread is ended. */
  timeoutMs: number;
  limits?: ParseLimits;
  /**
   * Parsed statements kept by their text, so a statement sent again (the same text, other
   * parameters, as applications send them) is not parsed again; 0 keeps none.
   */
  cacheEntries?: number;
}

/** Statements longer than this are not kept: repeated statements are short. */
const CACHED_TEXT_MAX = 8 * 1024;
const DEFAULT_CACHE_ENTRIES = 512;

interface Job {
  sql: string;
  resolve(parsed: ParsedStatement): void;
  reject(reason: unknown): void;
  /** Stops listening for the request's abort. */
  release(): void;
}

interface Running {
  job: Job;
  timer: NodeJS.Timeout;
}

// From source (tests, `pnpm entente`) the thread runs the TypeScript too, so it must resolve the
// workspace packages to their sources as well.
const fromSource = import.meta.url.endsWith(".ts");
const WORKER_URL = new URL(fromSource ? "./parse-worker.ts" : "./parse-worker.js", import.meta.url);
const WORKER_OPTIONS: WorkerOptions = fromSource
  ? { execArgv: ["--conditions=@entente/source"] }
  : {};

export class ParsePool {
  readonly #options: ParsePoolOptions;
  /** Threads still loading the parser: a statement waits for a loaded one rather than these. */
  readonly #starting = new Set<Worker>();
  readonly #idle: Worker[] = [];
  readonly #running = new Map<Worker, Running>();
  readonly #queue: Job[] = [];
  /** Threads the pool ended itself, whose exit is no news. */
  readonly #ended = new WeakSet<Worker>();
  readonly #loaded: Promise<void>;
  /** Parsed statements by text, least recently used first. Callers get copies. */
  readonly #cache = new Map<string, ParsedStatement>();
  /** Set when a thread could not even load the parser: another would fail the same way. */
  #broken: EntenteError | undefined;
  #closed = false;

  constructor(options: ParsePoolOptions) {
    this.#options = options;
    // Threads start now, so the first statement does not wait for one to load the parser.
    this.#loaded = Promise.all(this.#refill()).then(() => {});
    this.#loaded.catch(() => {}); // reported by ready(), to whoever asks
  }

  /** Resolves once the first threads have loaded the parser; rejects if one could not. */
  ready(): Promise<void> {
    return this.#loaded;
  }

  /** Parses on a thread; rejects with the statement's error, or the signal's reason on abort. */
  parse(sql: string, signal: AbortSignal): Promise<ParsedStatement> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#broken) return Promise.reject(this.#broken);
    if (signal.aborted) return Promise.reject(signal.reason);
    const cached = this.#cache.get(sql);
    if (cached) {
      this.#cache.delete(sql);
      this.#cache.set(sql, cached);
      return Promise.resolve(structuredClone(cached));
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#abandon(job, signal.reason);
      const job: Job = {
        sql,
        resolve: (parsed) => {
          this.#remember(sql, parsed);
          resolve(structuredClone(parsed));
        },
        reject,
        release: () => signal.removeEventListener("abort", onAbort),
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(job);
      this.#dispatch();
    });
  }

  /** Keeps a parsed statement; the least recently used goes when the cache is full. */
  #remember(sql: string, parsed: ParsedStatement): void {
    const limit = this.#options.cacheEntries ?? DEFAULT_CACHE_ENTRIES;
    if (limit === 0 || sql.length > CACHED_TEXT_MAX) return;
    this.#cache.set(sql, parsed);
    if (this.#cache.size > limit) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  /** Fails what is queued or parsing and ends every thread. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) fail(job, closedError());
    const threads = [...this.#starting, ...this.#idle, ...this.#running.keys()];
    await Promise.all(threads.map((worker) => this.#end(worker, closedError())));
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#idle.length > 0) {
      const worker = this.#idle.pop() as Worker;
      const job = this.#queue.shift() as Job;
      const timer = setTimeout(
        () => void this.#end(worker, this.#tooSlow()),
        this.#options.timeoutMs,
      );
      this.#running.set(worker, { job, timer });
      worker.postMessage({ sql: job.sql, limits: this.#options.limits ?? {} } satisfies ParseJob);
    }
  }

  /** Starts threads until there are as many as configured; each promise settles once loaded. */
  #refill(): Promise<void>[] {
    const loading: Promise<void>[] = [];
    while (!this.#closed && this.#threadCount() < this.#options.threads) {
      loading.push(this.#spawn());
    }
    return loading;
  }

  #threadCount(): number {
    return this.#starting.size + this.#idle.length + this.#running.size;
  }

  #spawn(): Promise<void> {
    const worker = new Worker(WORKER_URL, WORKER_OPTIONS);
    this.#starting.add(worker);
    // An idle thread must not keep the process alive.
    worker.unref();
    let hasLoaded = false;
    const loaded = new Promise<void>((resolve, reject) => {
      worker.on("message", (message: ThreadMessage) => {
        if ("loaded" in message) {
          hasLoaded = true;
          resolve();
          if (this.#ended.has(worker)) return; // closed while it was loading
          this.#starting.delete(worker);
          this.#idle.push(worker);
          this.#dispatch();
        } else this.#answered(worker, message);
      });
      const lost = (reason: EntenteError) => {
        reject(reason);
        if (this.#ended.has(worker)) return;
        if (!hasLoaded) {
          this.#broken = new EntenteError(
            "INTERNAL",
            `SQL parse threads cannot start: ${reason.message}`,
          );
        }
        void this.#end(worker, reason);
      };
      worker.on("error", (err) => lost(threadFailure(err)));
      worker.on("exit", (code) =>
        lost(new EntenteError("INTERNAL", `SQL parse thread exited with code ${code}`)),
      );
    });
    loaded.catch(() => {}); // a thread started later has nobody waiting for it to load
    return loaded;
  }

  #answered(worker: Worker, answer: ParseAnswer): void {
    const running = this.#running.get(worker);
    // A thread being ended may still deliver an answer nobody waits for.
    if (!running) return;
    this.#running.delete(worker);
    clearTimeout(running.timer);
    this.#idle.push(worker);
    running.job.release();
    if ("error" in answer) running.job.reject(EntenteError.fromBody(answer.error));
    else running.job.resolve(answer.parsed);
    this.#dispatch();
  }

  /** Ends a thread — the only way to stop a parse in progress — failing its statement. */
  #end(worker: Worker, reason: unknown): Promise<unknown> {
    if (this.#ended.has(worker)) return Promise.resolve();
    this.#ended.add(worker);
    this.#starting.delete(worker);
    const idle = this.#idle.indexOf(worker);
    if (idle >= 0) this.#idle.splice(idle, 1);
    const running = this.#running.get(worker);
    this.#running.delete(worker);
    if (running) {
      clearTimeout(running.timer);
      fail(running.job, reason);
    }
    const terminated = worker.terminate();
    const broken = this.#broken;
    if (broken) for (const job of this.#queue.splice(0)) fail(job, broken);
    else {
      this.#refill();
      this.#dispatch();
    }
    return terminated;
  }

  /** A request that gave up: out of the queue, or its parse stopped. */
  #abandon(job: Job, reason: unknown): void {
    const queued = this.#queue.indexOf(job);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      fail(job, reason);
      return;
    }
    for (const [worker, running] of this.#running) {
      if (running.job === job) void this.#end(worker, reason);
    }
  }

  #tooSlow(): EntenteError {
    const { timeoutMs } = this.#options;
    return new EntenteError(
      "TOO_LARGE",
      `statement took more than ${timeoutMs} ms to parse (sqlJoin.parseTimeoutMs); deeply ` +
        "nested parentheses around a mistake are a common cause",
      { details: { parseTimeoutMs: timeoutMs } },
    );
  }
}

function fail(job: Job, reason: unknown): void {
  job.release();
  job.reject(reason);
}

function closedError(): EntenteError {
  return new EntenteError("SHUTTING_DOWN", "the SQL parser is closed");
}

function threadFailure(err: Error & { code?: string }): EntenteError {
  if (err.code === "ERR_WORKER_OUT_OF_MEMORY") {
    return new EntenteError("TOO_LARGE", "statement needs more memory to parse than a thread has");
  }
  return new EntenteError("INTERNAL", `SQL parse thread failed: ${err.message}`);
}

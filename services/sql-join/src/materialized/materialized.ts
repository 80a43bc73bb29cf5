/**
 * Materialized results: a SELECT's result kept as a cold store table (`mat_<id>`, Parquet) with a
 * time to live, and answered from there when the same statement comes again while it is fresh.
 *
 * The record of each result is in the JetStream KV bucket `<deployment>_materialized`, keyed by
 * the id (a prefix of the statement's key, see key.ts). Every worker keeps a copy of the bucket
 * (a watch), so looking a statement up costs a hash and a map lookup, and nothing at all while
 * nothing is materialized.
 *
 * Writing a result: the statement runs, its rows go into new Parquet files (each row numbered,
 * so the stored order is the order read back), and one cold store commit replaces the table's
 * files with them; that commit numbers the result's version. The KV record is then written by a
 * compare-and-set on its revision, and only ever moves to a higher version: two workers
 * refreshing one result at once commit two versions one after the other, and the record ends
 * at the later one. A reader reads the table's current snapshot: the result it looked up or a
 * later one of the same statement, never a mix of two. A worker refreshes one
 * result at most once at a time; an expired result is refreshed in the background when its
 * statement comes again (that statement runs normally meanwhile), and stays listed, not fresh,
 * until then.
 */
import {
  bucketNameOf,
  EntenteError,
  type MaterializedInfo,
  type SqlColumn,
  type SqlType,
} from "@entente/protocol";
import { isKvConflict } from "@entente/runtime";
import type { ParsedStatement, Row } from "@entente/sql";
import { jetstream } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm } from "@nats-io/kv";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import type { MaterializeSettings } from "./config.ts";
import {
  decodeParams,
  encodeParams,
  normalizeSqlText,
  type StoredParam,
  statementKey,
} from "./key.ts";
import type { MaterializeColdSource } from "./source.ts";

/** What the statement gave: its columns, and its rows in batches. */
export interface MaterializeRunResult {
  columns: SqlColumn[];
  rows: AsyncIterable<Row[]>;
}

/**
 * Runs a SELECT for real (parse, plan, execute), never answering it from a materialized
 * result, and stops when `signal` aborts.
 */
export type MaterializeRun = (
  sql: string,
  params: unknown[],
  signal: AbortSignal,
) => Promise<MaterializeRunResult>;

/** Parses a statement as the engine does (`parse(engine, sql, signal)` in service.ts). */
export type MaterializeParse = (sql: string, signal: AbortSignal) => Promise<ParsedStatement>;

/** What the KV bucket holds per result. */
export interface MaterializedRecord {
  id: string;
  /** The full key (SHA-256 hex) the id is a prefix of. */
  key: string;
  /** The statement, normalized (comments and extra whitespace gone); what a refresh runs. */
  sql: string;
  params: StoredParam[];
  columns: SqlColumn[];
  rows: number;
  createdAt: string;
  expiresAt: string;
  ttlMs: number;
  /** The cold store source and its table (`mat_<id>` in schema `main`). */
  source: string;
  table: string;
  /** Counts the results written for this id; the cold table's commits number it. */
  version: number;
  snapshotId?: number;
  /**
   * Columns typed bigint or timestamp whose values the statement gave as JS numbers (the
   * engine's counts and sums do): the store gives bigints back, so these are read as numbers.
   */
  numberColumns?: number[];
}

/** A fresh result for a statement: what it is, and its rows. */
export interface MaterializedHit {
  info: MaterializedInfo;
  /** The stored rows in their stored order, with the stored columns. */
  read(
    signal: AbortSignal,
    options?: { batchRows?: number; timeoutMs?: number },
  ): Promise<{ columns: SqlColumn[]; batches: AsyncIterable<Row[]> }>;
}

/** Something like the runtime's logger: only warnings are written. */
export interface MaterializeLogger {
  warn(details: object, message: string): void;
}

export interface MaterializedOptions {
  nc: NatsConnection;
  deployment: string;
  settings: MaterializeSettings;
  /** The cold store source `settings.source` names; see `materializeSourceOf`. */
  source: MaterializeColdSource;
  run: MaterializeRun;
  parse: MaterializeParse;
  logger?: MaterializeLogger;
  /** The clock freshness is judged by (ms since the epoch). */
  now?: () => number;
}

/** The bucket's name within a deployment: `<deployment>_materialized`. */
export const MATERIALIZED_BUCKET = "materialized";

/** The cold table property holding the version of the result its current snapshot is. */
const VERSION_PROPERTY = "entente.materialized.version";
const KEY_PROPERTY = "entente.materialized.key";
/** The column numbering rows, so they read back in the order the statement gave them. */
const ROW_COLUMN = "_row";
const MAX_TTL_MS = 366 * 86_400_000;
/** After a background refresh failed, the next statements wait this long before another. */
/** Most refreshes one worker runs in the background at once. */
const BACKGROUND_REFRESHES = 2;

export const REFRESH_RETRY_MS = 30_000;

interface RunSignal {
  signal: AbortSignal;
  /** Whether the run was stopped by its time limit. */
  timedOut(): boolean;
  /** Stops the time limit's timer. */
  done(): void;
}

interface Known {
  record: MaterializedRecord;
  revision: number;
}

export class MaterializedResults {
  readonly #kv: KV;
  readonly #options: MaterializedOptions;
  readonly #now: () => number;
  /** The bucket as last seen: from the watch and from this worker's own writes. */
  readonly #known = new Map<string, Known>();
  /** Refreshes running on this worker, by id. */
  readonly #refreshing = new Map<string, Promise<MaterializedInfo>>();
  /** When a background refresh last failed, by id: a failing statement is not run every time. */
  readonly #failedAt = new Map<string, number>();
  readonly #life = new AbortController();
  #watch: { stop(): void } | undefined;
  #watching: Promise<void> = Promise.resolve();

  private constructor(kv: KV, options: MaterializedOptions) {
    this.#kv = kv;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  static async open(options: MaterializedOptions): Promise<MaterializedResults> {
    const kv = await new Kvm(jetstream(options.nc)).create(
      bucketNameOf(options.deployment, MATERIALIZED_BUCKET),
      { history: 1, replicas: options.settings.replicas },
    );
    const results = new MaterializedResults(kv, options);
    await results.#follow();
    return results;
  }

  /** The cold store source results are written to. */
  get source(): string {
    return this.#options.source.name;
  }

  /**
   * Runs a SELECT and stores its result for `ttlMs`, replacing any result of the same statement.
   * Only SELECTs (not EXPLAIN) can be materialized; more than `maxRows` rows is TOO_LARGE.
   */
  async materialize(
    sql: string,
    params: readonly unknown[],
    ttlMs: number,
    signal?: AbortSignal,
  ): Promise<MaterializedInfo> {
    checkTtl(ttlMs);
    const run = this.#runSignal(signal);
    try {
      return await this.#materialize(sql, params, ttlMs, run);
    } finally {
      run.done();
    }
  }

  async #materialize(
    sql: string,
    params: readonly unknown[],
    ttlMs: number,
    run: RunSignal,
  ): Promise<MaterializedInfo> {
    const parsed = await this.#options.parse(sql, run.signal);
    if (parsed.kind !== "select" || parsed.explain) {
      const what = parsed.explain ? "EXPLAIN" : parsed.kind.toUpperCase();
      throw new EntenteError(
        "BAD_REQUEST",
        `only a SELECT can be materialized; this statement is ${what}`,
        { details: { statement: what } },
      );
    }
    const { key, id } = statementKey(parsed.ast, params);
    const known = this.#known.get(id)?.record ?? (await this.#get(id))?.record;
    if (known && known.key !== key) throw collision(id);
    const { maxResults } = this.#options.settings;
    if (!known && this.#known.size >= maxResults) {
      throw new EntenteError(
        "TOO_LARGE",
        `${this.#known.size} materialized results are kept, the most materialize.maxResults allows (${maxResults}): refresh or replace one`,
      );
    }
    const text = await this.#normalized(sql, params, key, run.signal);
    return this.#write({ id, key, sql: text, params: encodeParams(params), ttlMs }, run);
  }

  /**
   * A fresh result for this parsed statement and these parameters, or undefined. An expired one
   * is refreshed in the background (once per worker at a time, not for an EXPLAIN) and answers
   * nothing meanwhile. Call it with the statement as parsed, before planning; an EXPLAIN finds
   * the result its statement would be answered from.
   */
  lookup(statement: ParsedStatement, params: readonly unknown[]): MaterializedHit | undefined {
    if (this.#known.size === 0 || statement.kind !== "select") return undefined;
    const { key, id } = statementKey(statement.ast, params);
    const known = this.#known.get(id);
    if (!known || known.record.key !== key || known.record.source !== this.source) {
      return undefined;
    }
    const info = this.#info(known.record);
    if (!info.fresh) {
      // The statement itself runs; an EXPLAIN of it changes nothing.
      if (!statement.explain) this.#refreshInBackground(id);
      return undefined;
    }
    const record = known.record;
    return { info, read: (signal, options) => this.#read(record, signal, options) };
  }

  /**
   * Runs a materialized statement again and replaces its result; a refresh of the same id
   * already running on this worker is joined instead. NOT_FOUND for an unknown id.
   */
  refresh(id: string, signal?: AbortSignal): Promise<MaterializedInfo> {
    let running = this.#refreshing.get(id);
    if (running === undefined) {
      const started = this.#refreshNow(id);
      running = started.finally(() => {
        if (this.#refreshing.get(id) === running) this.#refreshing.delete(id);
      });
      this.#refreshing.set(id, running);
    }
    return signal ? untilAborted(running, signal) : running;
  }

  /** Every materialized result, fresh or expired, newest first. */
  async list(): Promise<MaterializedInfo[]> {
    const ids: string[] = [];
    for await (const id of await this.#kv.keys()) ids.push(id);
    const infos: MaterializedInfo[] = [];
    for (const id of ids) {
      const found = await this.#get(id);
      if (found) infos.push(this.#info(found.record));
    }
    return infos.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  /** The result as it stands, or undefined. */
  async info(id: string): Promise<MaterializedInfo | undefined> {
    const found = await this.#get(id);
    return found ? this.#info(found.record) : undefined;
  }

  explainLine(info: MaterializedInfo): string {
    return explainLine(info);
  }

  /** Stops watching the bucket and the refreshes running in the background. */
  async close(): Promise<void> {
    this.#life.abort(new EntenteError("SHUTTING_DOWN", "materialized results are closing"));
    this.#watch?.stop();
    await this.#watching;
    await Promise.allSettled([...this.#refreshing.values()]);
  }

  async #refreshNow(id: string): Promise<MaterializedInfo> {
    const found = await this.#get(id);
    if (!found) {
      throw new EntenteError("NOT_FOUND", `no materialized result ${JSON.stringify(id)}`, {
        details: { id },
      });
    }
    const { key, sql, params, ttlMs } = found.record;
    const run = this.#runSignal();
    try {
      return await this.#write({ id, key, sql, params, ttlMs }, run);
    } finally {
      run.done();
    }
  }

  #refreshInBackground(id: string): void {
    if (this.#refreshing.has(id) || this.#life.signal.aborted) return;
    // Expired results refresh a few at a time: a burst of them must not run every statement at once.
    if (this.#refreshing.size >= BACKGROUND_REFRESHES) return;
    const failedAt = this.#failedAt.get(id);
    if (failedAt !== undefined && this.#now() - failedAt < REFRESH_RETRY_MS) return;
    this.refresh(id).then(
      () => this.#failedAt.delete(id),
      (err: unknown) => {
        if (this.#life.signal.aborted) return;
        this.#failedAt.set(id, this.#now());
        this.#options.logger?.warn({ err, id }, "materialized result: refresh failed");
      },
    );
  }

  /** Runs the statement, stores its rows as the table's next snapshot, then records it. */
  async #write(
    spec: { id: string; key: string; sql: string; params: StoredParam[]; ttlMs: number },
    run: RunSignal,
  ): Promise<MaterializedInfo> {
    const { settings, source } = this.#options;
    const table = tableOf(spec.id);
    checkRecordSize(this.#options.nc, spec);
    try {
      const startedAt = this.#now();
      const result = await this.#options.run(spec.sql, decodeParams(spec.params), run.signal);
      const columns = result.columns.map((c) => ({ ...c }));
      const counted = new Counted(columns);
      let files: Awaited<ReturnType<MaterializeColdSource["store"]["writeFiles"]>>;
      try {
        await this.#createTable(table, columns);
        files = await source.store.writeFiles(
          table,
          numbered(result.rows, settings.maxRows, counted),
          { prefix: `r-${nuid.next()}`, signal: run.signal },
        );
      } finally {
        // Whatever stopped the writing, the statement's own stream ends with it.
        await (result.rows as Partial<AsyncGenerator<Row[]>>).return?.(undefined).catch(() => {});
      }
      let version = 0;
      const committed = await source.store.commit(table, "replace", (current) => {
        version = Number(current.properties[VERSION_PROPERTY] ?? "0") + 1;
        return {
          files,
          properties: {
            ...current.properties,
            [VERSION_PROPERTY]: String(version),
            [KEY_PROPERTY]: spec.key,
          },
          summary: { "materialized-version": String(version) },
        };
      });
      const record: MaterializedRecord = {
        ...spec,
        columns,
        rows: counted.rows,
        createdAt: new Date(startedAt).toISOString(),
        expiresAt: new Date(startedAt + spec.ttlMs).toISOString(),
        source: source.name,
        table,
        version,
        ...(counted.numberColumns().length > 0 ? { numberColumns: counted.numberColumns() } : {}),
        ...(committed.currentSnapshotId === undefined
          ? {}
          : { snapshotId: committed.currentSnapshotId }),
      };
      const standing = await this.#publish(record);
      this.#expireOldSnapshots(table);
      return this.#info(standing);
    } catch (err) {
      if (run.timedOut()) {
        throw new EntenteError(
          "DEADLINE_EXCEEDED",
          `materializing ${table} ran longer than materialize.runTimeoutMs (${settings.runTimeoutMs} ms)`,
          { details: { runTimeoutMs: settings.runTimeoutMs }, cause: err },
        );
      }
      throw err;
    }
  }

  async #createTable(table: string, columns: SqlColumn[]): Promise<void> {
    try {
      await this.#options.source.store.create(table, coldColumnsOf(columns), []);
    } catch (err) {
      if (err instanceof EntenteError && /exists with other columns/.test(err.message)) {
        throw new EntenteError(
          "UNSUPPORTED",
          `materialized result ${table}: the statement's columns are not those stored any more (${columns
            .map((c) => `${c.name} ${c.type}`)
            .join(", ")}); its cold table must be removed before it can be stored again`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Writes the record unless the bucket holds this version or a later one already; returns the
   * record that stands.
   */
  async #publish(record: MaterializedRecord): Promise<MaterializedRecord> {
    const value = JSON.stringify(record);
    for (;;) {
      const entry = await this.#kv.get(record.id);
      const standing = recordOf(entry);
      if (entry && standing) {
        if (standing.key !== record.key) throw collision(record.id);
        if (standing.version >= record.version) {
          this.#remember(standing, entry.revision);
          return standing;
        }
      }
      try {
        // Over a record (even one that cannot be read) by its revision; where there is none, or
        // only a deletion, as a new key.
        const revision =
          entry?.operation === "PUT"
            ? await this.#kv.update(record.id, value, entry.revision)
            : await this.#kv.create(record.id, value);
        this.#remember(record, revision);
        return record;
      } catch (err) {
        if (!isKvConflict(err)) throw err;
      }
    }
  }

  /** Snapshots of earlier results, once the store's retention has passed for their readers. */
  #expireOldSnapshots(table: string): void {
    this.#options.source.store.expireSnapshots(table).catch((err: unknown) => {
      this.#options.logger?.warn({ err, table }, "materialized result: expiring snapshots failed");
    });
  }

  async #read(
    record: MaterializedRecord,
    signal: AbortSignal,
    options: { batchRows?: number; timeoutMs?: number } = {},
  ): Promise<{ columns: SqlColumn[]; batches: AsyncIterable<Row[]> }> {
    const list = record.columns.map((_, i) => `"c${i}"`).join(", ");
    const result = await this.#options.source.query(
      { sql: `SELECT ${list} FROM "main"."${record.table}" ORDER BY "${ROW_COLUMN}"`, params: [] },
      { signal, ...options },
    );
    const asNumbers = record.numberColumns ?? [];
    return {
      columns: record.columns.map((c) => ({ ...c })),
      batches: asNumbers.length === 0 ? result.batches : withNumbers(result.batches, asNumbers),
    };
  }

  /** The record as the bucket holds it now, or undefined. */
  async #get(id: string): Promise<Known | undefined> {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) return undefined;
    const entry = await this.#kv.get(id);
    const record = recordOf(entry);
    if (!entry || !record) {
      if (entry) this.#forget(id, entry.revision);
      return undefined;
    }
    this.#remember(record, entry.revision);
    return { record, revision: entry.revision };
  }

  #remember(record: MaterializedRecord, revision: number): void {
    const known = this.#known.get(record.id);
    if (known && known.revision >= revision) return;
    this.#known.set(record.id, { record, revision });
  }

  #forget(id: string, revision: number): void {
    const known = this.#known.get(id);
    if (known && known.revision < revision) this.#known.delete(id);
  }

  /** Loads the bucket, then follows its changes until closed. */
  async #follow(): Promise<void> {
    const watch = await this.#kv.watch();
    this.#watch = watch;
    this.#watching = (async () => {
      try {
        for await (const entry of watch) {
          const record = recordOf(entry);
          if (record) this.#remember(record, entry.revision);
          else this.#forget(entry.key, entry.revision);
        }
      } catch (err) {
        if (!this.#life.signal.aborted) {
          this.#options.logger?.warn({ err }, "materialized results: the bucket's watch ended");
        }
      }
    })();
    // The watch delivers the same, but this way the bucket is known before the first lookup.
    for await (const id of await this.#kv.keys()) await this.#get(id);
  }

  /** The normalized text, when it parses to the same key; the original text otherwise. */
  async #normalized(
    sql: string,
    params: readonly unknown[],
    key: string,
    signal: AbortSignal,
  ): Promise<string> {
    const text = normalizeSqlText(sql);
    if (text === sql) return sql;
    try {
      const again = await this.#options.parse(text, signal);
      if (
        again.kind === "select" &&
        !again.explain &&
        statementKey(again.ast, params).key === key
      ) {
        return text;
      }
    } catch (err) {
      if (signal.aborted) throw err;
    }
    return sql;
  }

  #info(record: MaterializedRecord): MaterializedInfo {
    return {
      id: record.id,
      sql: record.sql,
      table: `${record.source}.main.${record.table}`,
      rows: record.rows,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
      fresh: this.#now() < Date.parse(record.expiresAt),
    };
  }

  /** A run's signal: this object's life, the run's time limit and the caller's signal. */
  #runSignal(caller?: AbortSignal): RunSignal {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new EntenteError("DEADLINE_EXCEEDED", "materialize ran out of time")),
      this.#options.settings.runTimeoutMs,
    );
    timer.unref?.();
    const signals = [this.#life.signal, timeout.signal, ...(caller ? [caller] : [])];
    return {
      signal: AbortSignal.any(signals),
      timedOut: () => timeout.signal.aborted,
      done: () => clearTimeout(timer),
    };
  }
}

/** The EXPLAIN line of a statement answered from a materialized result. */
export function explainLine(info: MaterializedInfo): string {
  const table = info.table.slice(info.table.lastIndexOf(".") + 1);
  return `Materialized ${table} (rows ${info.rows}, created ${info.createdAt}, expires ${info.expiresAt}): answered from the stored result`;
}

export function tableOf(id: string): string {
  return `mat_${id}`;
}

function recordOf(entry: KvEntry | null | undefined): MaterializedRecord | undefined {
  if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
  try {
    const record = entry.json<MaterializedRecord>();
    return typeof record?.key === "string" && typeof record.version === "number"
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) {
    throw new EntenteError(
      "BAD_REQUEST",
      `ttlMs must be a whole number of milliseconds from 1 to ${MAX_TTL_MS} (366 days)`,
      { details: { ttlMs, max: MAX_TTL_MS } },
    );
  }
}

function collision(id: string): EntenteError {
  return new EntenteError(
    "INTERNAL",
    `materialized result ${id} holds another statement with the same id prefix`,
    { details: { id } },
  );
}

/** The KV record must fit in one NATS message. */
function checkRecordSize(nc: NatsConnection, spec: { sql: string; params: StoredParam[] }): void {
  const max = (nc.info?.max_payload ?? 1024 * 1024) - 64 * 1024;
  const bytes = Buffer.byteLength(spec.sql) + Buffer.byteLength(JSON.stringify(spec.params));
  if (bytes > max) {
    throw new EntenteError(
      "TOO_LARGE",
      `statement and parameters too large to materialize: ${bytes} bytes, at most ${max}`,
      { details: { bytes, max } },
    );
  }
}

/** Result columns as cold store columns: numbered (names may repeat or be anything), typed. */
function coldColumnsOf(columns: readonly SqlColumn[]) {
  return [
    { name: ROW_COLUMN, type: "integer" as const, nullable: false },
    ...columns.map((c, i) => ({ name: `c${i}`, type: coldTypeOf(c.type), nullable: true })),
  ];
}

/**
 * A decimal column is kept as its exact text: the cold store's decimals are doubles, and one
 * result column's values may each have their own scale (`12.50`, `3.1`).
 */
function coldTypeOf(type: SqlType): Exclude<SqlType, "null"> {
  if (type === "decimal") return "text";
  return type === "null" ? "unknown" : type;
}

/** Rows counted, and how the statement gave its 64-bit integer columns. */
class Counted {
  rows = 0;
  /** Per column: "number" while every value so far was a JS number, undefined when not watched. */
  readonly #kinds: Array<"number" | "bigint" | undefined>;

  constructor(columns: readonly SqlColumn[]) {
    this.#kinds = columns.map((c) =>
      c.type === "bigint" || c.type === "timestamp" ? "number" : undefined,
    );
  }

  see(batch: Row[]): void {
    for (let i = 0; i < this.#kinds.length; i++) {
      if (this.#kinds[i] !== "number") continue;
      for (const row of batch) {
        const v = row[i];
        if (v !== null && v !== undefined && typeof v !== "number") {
          this.#kinds[i] = "bigint";
          break;
        }
      }
    }
  }

  numberColumns(): number[] {
    return this.#kinds.flatMap((k, i) => (k === "number" ? [i] : []));
  }
}

/** Bigints read back as the numbers they were given as. */
async function* withNumbers(
  batches: AsyncIterable<Row[]>,
  columns: readonly number[],
): AsyncGenerator<Row[]> {
  for await (const batch of batches) {
    for (const row of batch) {
      for (const i of columns) {
        const v = row[i];
        if (typeof v === "bigint") row[i] = Number(v);
      }
    }
    yield batch;
  }
}

/** The rows with their number in front; past `maxRows` the result is refused. */
async function* numbered(
  rows: AsyncIterable<Row[]>,
  maxRows: number,
  counted: Counted,
): AsyncGenerator<Row[]> {
  for await (const batch of rows) {
    if (counted.rows + batch.length > maxRows) {
      throw new EntenteError(
        "TOO_LARGE",
        `result too large to materialize: more than ${maxRows} rows (materialize.maxRows)`,
        { details: { maxRows } },
      );
    }
    counted.see(batch);
    const base = counted.rows;
    yield batch.map((row, i) => [base + i, ...row]);
    counted.rows += batch.length;
  }
}

/** The promise, or the signal's reason once it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", stop);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", stop);
        reject(e);
      },
    );
  });
}

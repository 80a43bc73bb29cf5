import {
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  type DuckDBResult,
} from "@duckdb/node-api";
import { EntenteError } from "@entente/protocol";
import { cancelOnAbort } from "./abort.ts";
import { batchSize, batchStream } from "./batches.ts";
import { duckdbCapabilities } from "./capabilities.ts";
import { duckdbDialect } from "./dialects.ts";
import { collatedColumns, collationProbes } from "./duckdb-collations.ts";
import {
  duckdbCatalogType,
  duckdbValueConverter,
  duckdbValueType,
  toDuckdbValue,
} from "./duckdb-values.ts";
import {
  cancelledError,
  closedError,
  notFoundError,
  type SourceRef,
  tooLargeError,
  toSourceError,
} from "./errors.ts";
import { guardedRunner } from "./session.ts";
import type {
  AppendOptions,
  BoundStatement,
  ColumnMeta,
  Connector,
  DuckdbSourceConfig,
  QueryOptions,
  QueryResult,
  Row,
  SourceSession,
  TableInfo,
  TableStats,
  TableStatsOptions,
  Value,
} from "./types.ts";

/** Connections on the one instance; each runs one statement at a time. */
const POOL_SIZE = 4;
/** Longest a statement waits for a free connection before failing with UNAVAILABLE. */
const ACQUIRE_WAIT_MS = 60_000;

/** A table's column names in order ($1 schema, $2 table). */
const COLUMN_NAMES_SQL = `SELECT column_name FROM duckdb_columns()
  WHERE schema_name = $1 AND table_name = $2 ORDER BY column_index`;

/**
 * Embedded DuckDB. Statements are prepared and bound; results stream chunk by chunk and are
 * re-cut into batches of the requested size. Files named in the config become temporary
 * views on every connection (so a read-only database file stays untouched). Aborting calls
 * `interrupt()` on the running connection.
 */
export class DuckdbConnector implements Connector {
  readonly kind = "duckdb" as const;
  readonly dialect = duckdbDialect;
  readonly capabilities = duckdbCapabilities();
  readonly name: string;
  readonly #instance: DuckDBInstance;
  readonly #files: Record<string, string>;
  readonly #ref: SourceRef;
  readonly #idle: DuckDBConnection[] = [];
  readonly #waiting: Array<(connection: DuckDBConnection) => void> = [];
  #created = 0;
  #closed = false;

  private constructor(name: string, instance: DuckDBInstance, files: Record<string, string>) {
    this.name = name;
    this.#instance = instance;
    this.#files = files;
    this.#ref = { name, kind: "duckdb" };
  }

  static async open(name: string, config: DuckdbSourceConfig): Promise<DuckdbConnector> {
    const ref: SourceRef = { name, kind: "duckdb" };
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(
        config.path ?? ":memory:",
        config.readOnly ? { access_mode: "READ_ONLY" } : {},
      );
    } catch (err) {
      throw toSourceError(ref, err, classifyDuckdb);
    }
    const connector = new DuckdbConnector(name, instance, config.files ?? {});
    try {
      // Opens the first connection now, so a bad file glob fails at startup.
      const connection = await connector.#acquire(undefined);
      connector.#release(connection);
    } catch (err) {
      await connector.close();
      throw err;
    }
    return connector;
  }

  async query(statement: BoundStatement, options?: QueryOptions): Promise<QueryResult> {
    const signal = options?.signal;
    const connection = await this.#acquire(signal);
    const stopCancelling = cancelOnAbort(signal, () => connection.interrupt());
    let prepared: DuckDBPreparedStatement | undefined;
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      stopCancelling();
      prepared?.destroySync();
      this.#release(connection);
    };
    let result: DuckDBResult;
    try {
      prepared = await connection.prepare(statement.sql);
      bindParams(prepared, statement.params);
      result = await prepared.stream();
      if (signal?.aborted) throw cancelledError(this.#ref);
    } catch (err) {
      await release();
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    }
    const columns = columnsOf(result);
    const reader = new ChunkBatches(result, batchSize(options));
    const batches = batchStream(
      { read: () => reader.read(), release },
      { signal, cancelled: () => cancelledError(this.#ref), mapError: (e) => this.#error(e) },
    );
    return { columns, batches };
  }

  async execute(statement: BoundStatement, options?: QueryOptions): Promise<number> {
    const signal = options?.signal;
    const connection = await this.#acquire(signal);
    const stopCancelling = cancelOnAbort(signal, () => connection.interrupt());
    try {
      return await runStatement(connection, statement);
    } catch (err) {
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    } finally {
      stopCancelling();
      this.#release(connection);
    }
  }

  /**
   * Bulk load through DuckDB's appender: far faster than INSERTs. `columns` names the
   * table's columns the rows carry, in row order; columns not named get their defaults.
   * Values are in the engine's normal form (timestamps as ns bigints, dates as strings).
   */
  async appendRows(
    table: string,
    columns: readonly string[],
    rows: readonly Row[],
    options: AppendOptions = {},
  ): Promise<number> {
    const connection = await this.#acquire(undefined);
    try {
      const appender = await connection.createAppender(table, options.schema ?? null);
      try {
        const count = appender.columnCount;
        const types = Array.from({ length: count }, (_, i) => appender.columnType(i));
        const names = await this.#columnNames(connection, options.schema ?? "main", table);
        const positions = columns.map((column) => {
          const at = names.indexOf(column);
          if (at < 0) {
            throw notFoundError(this.#ref, `table ${table} has no column ${column}`);
          }
          return at;
        });
        const complete = positions.length === count && positions.every((p, i) => p === i);
        if (complete) {
          // Whole chunks at a time: the fast path when the rows carry every column in order.
          for (let start = 0; start < rows.length; start += 2048) {
            const slice = rows.slice(start, start + 2048);
            const chunk = DuckDBDataChunk.create(types, slice.length);
            for (let c = 0; c < count; c++) {
              const type = types[c];
              if (type === undefined) continue;
              chunk.setColumnValues(
                c,
                slice.map((row) => toDuckdbValue(row[c] as Value, type)),
              );
            }
            appender.appendDataChunk(chunk);
          }
        } else {
          // For each table column, where the rows carry it (-1: not carried, gets its default).
          const carried = types.map((_, c) => positions.indexOf(c));
          for (const row of rows) {
            for (let c = 0; c < count; c++) {
              const at = carried[c] ?? -1;
              const type = types[c];
              if (at < 0 || type === undefined) appender.appendDefault();
              else appender.appendValue(toDuckdbValue(row[at] as Value, type), type);
            }
            appender.endRow();
          }
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      return rows.length;
    } catch (err) {
      throw this.#error(err);
    } finally {
      this.#release(connection);
    }
  }

  async listTables(): Promise<TableInfo[]> {
    const rows = await this.#rows(
      `SELECT c.schema_name, c.table_name, c.column_name, c.data_type, c.is_nullable
         FROM duckdb_columns() c
        WHERE NOT c.internal AND c.schema_name NOT IN ('information_schema', 'pg_catalog')
          AND c.database_name NOT IN ('system')
        ORDER BY c.database_name, c.schema_name, c.table_name, c.column_index`,
    );
    const keys = await this.#rows(
      `SELECT schema_name, table_name, constraint_column_names
         FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'`,
    );
    const collated = await this.#collatedColumns(rows);
    const tables = new Map<string, TableInfo>();
    for (const [schema, table, column, dataType, nullable] of rows) {
      const key = `${schema}.${table}`;
      let info = tables.get(key);
      if (info === undefined) {
        info = { schema: String(schema), name: String(table), columns: [], primaryKey: [] };
        tables.set(key, info);
      }
      const native = String(dataType);
      const ownCollation = collated.get(key)?.has(String(column)) ?? false;
      info.columns.push({
        name: String(column),
        type: duckdbCatalogType(native),
        nativeType: native,
        nullable: Boolean(nullable),
        ...duckdbTextCompare(native, ownCollation),
        ...(native === "FLOAT" ? { singlePrecision: true as const } : {}),
      });
    }
    for (const [schema, table, names] of keys) {
      const info = tables.get(`${schema}.${table}`);
      if (info !== undefined && Array.isArray(names)) info.primaryKey = names.map(String);
    }
    return [...tables.values()];
  }

  /**
   * By `schema.table`, the columns with a collation of their own (NOCASE and the like): a
   * table's as its CREATE text declares them, a view's as a probe finds them. `columns` are
   * listTables' rows (schema, table, column, type).
   */
  async #collatedColumns(columns: unknown[][]): Promise<Map<string, Set<string>>> {
    const tables = await this.#rows(
      `SELECT schema_name, table_name, sql FROM duckdb_tables()
        WHERE NOT internal AND contains(upper(sql), 'COLLATE')`,
    );
    const out = new Map(tables.map(([s, t, sql]) => [`${s}.${t}`, collatedColumns(String(sql))]));
    // Temporary: the views of the configuration's files, over Parquet, CSV or JSON, which have
    // no collations.
    const views = await this.#rows(
      "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND NOT temporary",
    );
    const textColumns = new Map<string, string[]>();
    for (const [schema, table, column, type] of columns) {
      if (type !== "VARCHAR") continue;
      const key = `${schema}.${table}`;
      const known = textColumns.get(key);
      if (known) known.push(String(column));
      else textColumns.set(key, [String(column)]);
    }
    for (const [schema, view] of views) {
      const text = textColumns.get(`${schema}.${view}`);
      if (text)
        out.set(
          `${schema}.${view}`,
          await this.#probeCollations(String(schema), String(view), text),
        );
    }
    return out;
  }

  /** Which of a view's text `columns` compare otherwise than by code point. */
  async #probeCollations(schema: string, view: string, columns: string[]): Promise<Set<string>> {
    const q = this.dialect.quoteIdentifier;
    const collated = new Set<string>();
    try {
      for (const probe of collationProbes(q, `${q(schema)}.${q(view)}`, columns))
        for (const column of probe.collated(await this.#rows(probe.sql))) collated.add(column);
      return collated;
    } catch (err) {
      if (this.#closed || (err instanceof EntenteError && err.code === "CANCELLED")) throw err;
      // A view that cannot be bound (a table or file it reads is gone or may not be read) fails
      // when read anyway; compared in C, it could not answer otherwise than the engine.
      return new Set(columns);
    }
  }

  /**
   * Base tables: `estimated_size` from duckdb_tables() (exact after inserts in one process) and
   * the distinct counts DuckDB keeps in each column's statistics (a HyperLogLog estimate, read
   * through `stats()` without a scan); `computeDistinct` counts them with a scan instead.
   * Views (files included): no statistics; counting would read the files.
   */
  async tableStats(
    schema: string,
    table: string,
    options: TableStatsOptions = {},
  ): Promise<TableStats> {
    const found = await this.#rows(
      `SELECT estimated_size FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2`,
      [schema, table],
    );
    if (found.length > 0) {
      const size = found[0]?.[0];
      const distinct = options.computeDistinct
        ? await this.#approxDistinct(schema, table)
        : await this.#keptDistinct(schema, table);
      const source = options.computeDistinct
        ? "duckdb_tables.estimated_size, approx_count_distinct"
        : "duckdb_tables.estimated_size, column statistics";
      return { rowCount: Number(size), distinct, source };
    }
    const views = await this.#rows(
      `SELECT 1 FROM duckdb_views() WHERE schema_name = $1 AND view_name = $2`,
      [schema, table],
    );
    if (views.length === 0) {
      throw notFoundError(this.#ref, `table ${schema}.${table} does not exist`);
    }
    return { distinct: {}, source: "view (no statistics)" };
  }

  /** One scan estimating every column's distinct values (HyperLogLog). */
  async #approxDistinct(schema: string, table: string): Promise<Record<string, number>> {
    const names = await this.#tableColumns(schema, table);
    if (names.length === 0) return {};
    const q = this.dialect.quoteIdentifier;
    const [row] = await this.#rows(
      `SELECT ${names.map((n) => `approx_count_distinct(${q(n)})`).join(", ")} FROM ${q(schema)}.${q(table)}`,
    );
    return Object.fromEntries(names.map((name, i) => [name, Number(row?.[i] ?? 0)]));
  }

  /**
   * The distinct counts in the columns' statistics ("[Approx Unique: 25]" in what `stats()`
   * prints), which DuckDB keeps as it writes; an empty table has none. Advisory: when they
   * cannot be read, the row count stands alone.
   */
  async #keptDistinct(schema: string, table: string): Promise<Record<string, number>> {
    const names = await this.#tableColumns(schema, table);
    if (names.length === 0) return {};
    const q = this.dialect.quoteIdentifier;
    const [row] = await this.#rows(
      `SELECT ${names.map((n) => `stats(${q(n)})`).join(", ")} FROM ${q(schema)}.${q(table)} LIMIT 1`,
    ).catch(() => [] as unknown[][]);
    const distinct: Record<string, number> = {};
    names.forEach((name, i) => {
      const unique = /Approx Unique: (\d+)/.exec(String(row?.[i] ?? ""))?.[1];
      if (unique !== undefined) distinct[name] = Number(unique);
    });
    return distinct;
  }

  /** A table's column names, in order, read through the pool. */
  async #tableColumns(schema: string, table: string): Promise<string[]> {
    const rows = await this.#rows(COLUMN_NAMES_SQL, [schema, table]);
    return rows.map((row) => String(row[0]));
  }

  /**
   * A connection of its own on the instance, outside the pool (which stays free for reads);
   * releasing closes it, which rolls back a transaction left open on it.
   */
  async openSession(signal?: AbortSignal): Promise<SourceSession> {
    if (this.#closed) throw closedError(this.#ref);
    if (signal?.aborted) throw cancelledError(this.#ref);
    let connection: DuckDBConnection;
    try {
      connection = await this.#connect();
    } catch (err) {
      throw this.#error(err);
    }
    let released = false;
    const run = guardedRunner({
      ref: this.#ref,
      closed: () => released || this.#closed,
      cancel: () => connection.interrupt(),
      mapError: (err) => this.#error(err),
    });
    return {
      execute: (statement, signal) => run(signal, () => runStatement(connection, statement)),
      queryAll: (statement, options = {}) =>
        run(options.signal, () => this.#readAll(connection, statement, options.maxRows)),
      release: async () => {
        if (released) return;
        released = true;
        // Closed with the instance already when the connector was closed first.
        if (!this.#closed) connection.closeSync();
      },
    };
  }

  /** Every row, read chunk by chunk so that a result over `maxRows` is refused, not held. */
  async #readAll(
    connection: DuckDBConnection,
    statement: BoundStatement,
    maxRows = Number.POSITIVE_INFINITY,
  ): Promise<{ columns: ColumnMeta[]; rows: Row[] }> {
    const prepared = await connection.prepare(statement.sql);
    try {
      bindParams(prepared, statement.params);
      const result = await prepared.stream();
      const reader = new ChunkBatches(result, Math.min(maxRows + 1, 10_000));
      const rows: Row[] = [];
      for (let batch = await reader.read(); batch.length > 0; batch = await reader.read()) {
        rows.push(...batch);
        if (rows.length > maxRows) throw tooLargeError(this.#ref, maxRows);
      }
      return { columns: columnsOf(result), rows };
    } finally {
      prepared.destroySync();
    }
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.execute({ sql: "SELECT 1", params: [] }, signal ? { signal } : {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of this.#idle.splice(0)) connection.closeSync();
    // Busy connections close with the instance.
    this.#instance.closeSync();
  }

  async #columnNames(connection: DuckDBConnection, schema: string, table: string) {
    const reader = await connection.runAndReadAll(COLUMN_NAMES_SQL, [schema, table]);
    return reader.getRows().map((row) => String(row[0]));
  }

  async #rows(sql: string, params: Value[] = []): Promise<unknown[][]> {
    const result = await this.query({ sql, params });
    const rows: unknown[][] = [];
    for await (const batch of result.batches) rows.push(...batch);
    return rows;
  }

  async #acquire(signal: AbortSignal | undefined): Promise<DuckDBConnection> {
    if (this.#closed) throw closedError(this.#ref);
    if (signal?.aborted) throw cancelledError(this.#ref);
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle;
    if (this.#created < POOL_SIZE) {
      this.#created++;
      try {
        return await this.#connect();
      } catch (err) {
        this.#created--;
        throw this.#error(err);
      }
    }
    // All connections busy: wait in line for one, leaving the line on abort and after a bounded
    // wait (a holder that never gives one back must not stall every later statement for ever).
    return new Promise<DuckDBConnection>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter = (connection: DuckDBConnection) => {
        done();
        if (signal?.aborted) {
          this.#release(connection);
          reject(cancelledError(this.#ref));
        } else {
          resolve(connection);
        }
      };
      const leave = (err: EntenteError) => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        done();
        reject(err);
      };
      const onAbort = () => leave(cancelledError(this.#ref));
      const timer = setTimeout(
        () =>
          leave(
            toSourceError(
              this.#ref,
              new Error(
                `no connection free after ${ACQUIRE_WAIT_MS} ms (all ${POOL_SIZE} busy); try again`,
              ),
              () => ({ code: "UNAVAILABLE", retryable: true }),
            ),
          ),
        ACQUIRE_WAIT_MS,
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  async #connect(): Promise<DuckDBConnection> {
    const connection = await this.#instance.connect();
    try {
      for (const [name, path] of Object.entries(this.#files)) {
        await connection.run(
          `CREATE OR REPLACE TEMP VIEW ${this.dialect.quoteIdentifier(name)} AS SELECT * FROM ${fileReader(path)}`,
        );
      }
    } catch (err) {
      connection.closeSync();
      throw err;
    }
    return connection;
  }

  #release(connection: DuckDBConnection): void {
    if (this.#closed) {
      connection.closeSync();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter !== undefined) waiter(connection);
    else this.#idle.push(connection);
  }

  #error(err: unknown): EntenteError {
    return toSourceError(this.#ref, err, classifyDuckdb);
  }
}

/**
 * A chunk's rows, converted column by column: each column's vector and type are looked up once,
 * where DuckDB's own `convertRows` looks them up again for every value.
 */
function convertChunk(chunk: DuckDBDataChunk): Row[] {
  const rowCount = chunk.rowCount;
  const columnCount = chunk.columnCount;
  const rows: unknown[][] = new Array(rowCount);
  for (let r = 0; r < rowCount; r++) rows[r] = new Array(columnCount);
  for (let c = 0; c < columnCount; c++) {
    const vector = chunk.getColumnVector(c);
    const type = vector.type;
    for (let r = 0; r < rowCount; r++) {
      (rows[r] as unknown[])[c] = duckdbValueConverter(
        vector.getItem(r),
        type,
        duckdbValueConverter,
      );
    }
  }
  return rows as Row[];
}

/** Re-cuts DuckDB's chunks (2048 rows) into batches of `size` rows. */
class ChunkBatches {
  readonly #result: DuckDBResult;
  readonly #size: number;
  readonly #jsonColumns: number[];
  /** Rows read and not yet handed out start at `#start`; earlier ones are dropped lazily. */
  #pending: Row[] = [];
  #start = 0;
  #done = false;

  constructor(result: DuckDBResult, size: number) {
    this.#result = result;
    this.#size = size;
    // Chunk vectors drop the JSON alias, so JSON columns are parsed by position.
    this.#jsonColumns = result
      .columnTypes()
      .flatMap((type, i) => (type.alias === "JSON" ? [i] : []));
  }

  async read(): Promise<Row[]> {
    while (!this.#done && this.#pending.length - this.#start < this.#size) {
      const chunk = await this.#result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) {
        this.#done = true;
        break;
      }
      const rows = convertChunk(chunk);
      for (const c of this.#jsonColumns) {
        for (const row of rows) {
          const value = row[c];
          if (typeof value === "string") row[c] = JSON.parse(value);
        }
      }
      if (this.#start > 0) {
        this.#pending = this.#pending.slice(this.#start);
        this.#start = 0;
      }
      if (this.#pending.length === 0) this.#pending = rows;
      else for (const row of rows) this.#pending.push(row);
    }
    const end = Math.min(this.#start + this.#size, this.#pending.length);
    const batch =
      this.#start === 0 && end === this.#pending.length
        ? this.#pending
        : this.#pending.slice(this.#start, end);
    if (end === this.#pending.length) {
      this.#pending = [];
      this.#start = 0;
    } else {
      this.#start = end;
    }
    return batch;
  }
}

function columnsOf(result: DuckDBResult): ColumnMeta[] {
  const types = result.columnTypes();
  return result.columnNames().map((name, i) => {
    const type = types[i];
    return {
      name,
      type: type === undefined ? "unknown" : duckdbValueType(type),
      nativeType: type === undefined ? "UNKNOWN" : (type.alias ?? type.toString()),
    };
  });
}

/** Runs a statement for its effect; returns changed rows. */
async function runStatement(
  connection: DuckDBConnection,
  statement: BoundStatement,
): Promise<number> {
  if (statement.params.length === 0) {
    // Without parameters the text may hold several statements (a schema script).
    const result = await connection.run(statement.sql);
    return result.rowsChanged;
  }
  const prepared = await connection.prepare(statement.sql);
  try {
    bindParams(prepared, statement.params);
    const result = await prepared.run();
    return result.rowsChanged;
  } finally {
    prepared.destroySync();
  }
}

function bindParams(prepared: DuckDBPreparedStatement, params: readonly Value[]): void {
  params.forEach((value, i) => {
    const index = i + 1;
    if (value === null || value === undefined) prepared.bindNull(index);
    else if (typeof value === "boolean") prepared.bindBoolean(index, value);
    else if (typeof value === "bigint") {
      if (value >= -(2n ** 63n) && value < 2n ** 63n) prepared.bindBigInt(index, value);
      else prepared.bindHugeInt(index, value);
    } else if (typeof value === "number") {
      if (Number.isInteger(value) && Math.abs(value) <= 2_147_483_647) {
        prepared.bindInteger(index, value);
      } else if (Number.isSafeInteger(value)) prepared.bindBigInt(index, BigInt(value));
      else prepared.bindDouble(index, value);
    } else if (typeof value === "string") prepared.bindVarchar(index, value);
    else if (value instanceof Uint8Array) prepared.bindBlob(index, value);
    else prepared.bindVarchar(index, JSON.stringify(value));
  });
}

/**
 * How DuckDB must compare a column the engine reads as text to compare it as text does: an enum
 * orders by its labels' positions, a uuid reads text compared with it as a uuid, and a collation
 * of the column's own (NOCASE and the like) matches and orders otherwise than by code point.
 */
function duckdbTextCompare(native: string, ownCollation: boolean): Pick<ColumnMeta, "textCompare"> {
  const type = native.toUpperCase();
  if (type.startsWith("ENUM")) return { textCompare: "cast" };
  if (type === "UUID") return { textCompare: "uuid" };
  return ownCollation && type === "VARCHAR" ? { textCompare: "collate" } : {};
}

/** `read_parquet` / `read_csv_auto` / `read_json_auto` by extension, for a path or glob. */
export function fileReader(path: string): string {
  const literal = `'${path.replaceAll("'", "''")}'`;
  const lower = path.toLowerCase().replace(/\.(gz|zst)$/, "");
  if (lower.endsWith(".csv") || lower.endsWith(".tsv")) return `read_csv_auto(${literal})`;
  if (lower.endsWith(".json") || lower.endsWith(".ndjson") || lower.endsWith(".jsonl")) {
    return `read_json_auto(${literal})`;
  }
  return `read_parquet(${literal})`;
}

/** DuckDB messages start with their error type: `Catalog Error: ...`, `Parser Error: ...`. */
function classifyDuckdb(err: Record<string, unknown>) {
  const message = typeof err.message === "string" ? err.message : "";
  if (/^INTERRUPT/i.test(message) || /interrupted/i.test(message)) {
    return { code: "CANCELLED" as const, retryable: false };
  }
  if (/^Catalog Error/.test(message)) return { code: "NOT_FOUND" as const, retryable: false };
  if (/^IO Error/.test(message)) return { code: "UNAVAILABLE" as const, retryable: false };
  if (
    /^(Parser|Binder|Conversion|Invalid Input|Constraint|Out of Range|Not implemented) Error/.test(
      message,
    )
  ) {
    return { code: "BAD_REQUEST" as const, retryable: false };
  }
  return undefined;
}

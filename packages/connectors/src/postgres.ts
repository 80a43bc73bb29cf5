import type { EntenteError } from "@entente/protocol";
import pg from "pg";
import Cursor from "pg-cursor";
import { cancelOnAbort } from "./abort.ts";
import { batchSize, batchStream } from "./batches.ts";
import { postgresCapabilities } from "./capabilities.ts";
import { postgresDialect } from "./dialects.ts";
import {
  type Classified,
  cancelledError,
  closedError,
  notFoundError,
  type SourceRef,
  tooLargeError,
  toSourceError,
} from "./errors.ts";
import { toInsertValue } from "./insert.ts";
import { StreamedRows } from "./postgres-stream.ts";
import {
  BLANK_PADDED_OID,
  MONEY_OID,
  postgresType,
  postgresTypeParsers,
  REAL_OID,
  UUID_OID,
} from "./postgres-types.ts";
import { guardedRunner } from "./session.ts";
import type {
  AppendOptions,
  BoundStatement,
  Capabilities,
  ColumnMeta,
  Connector,
  PostgresSourceConfig,
  QueryOptions,
  QueryResult,
  Row,
  SourceSession,
  TableInfo,
  TableStats,
  TextComparison,
  Value,
} from "./types.ts";

/** Statistics for a never-analyzed table come from a count capped at this many rows. */
const BOUNDED_COUNT_CAP = 100_000;

/** appendRows sends each column as one array parameter of this many rows. */
const APPEND_ROWS_PER_STATEMENT = 20_000;

/**
 * PostgreSQL through a `pg.Pool`. Reads stream from a server-side cursor (pg-cursor) in
 * batches, with per-query type parsers; sessions run in UTC. Aborting a query cancels it on
 * the server with `pg_cancel_backend` from a separate connection and discards its connection.
 */
export class PostgresConnector implements Connector {
  readonly kind = "postgres" as const;
  readonly dialect = postgresDialect;
  readonly capabilities: Capabilities;
  readonly name: string;
  readonly #pool: pg.Pool;
  readonly #clientConfig: pg.ClientConfig;
  readonly #ref: SourceRef;
  #closed = false;

  private constructor(
    name: string,
    pool: pg.Pool,
    clientConfig: pg.ClientConfig,
    textComparison: TextComparison,
  ) {
    this.name = name;
    this.#pool = pool;
    this.#clientConfig = clientConfig;
    this.#ref = { name, kind: "postgres" };
    this.capabilities = postgresCapabilities(textComparison);
  }

  /** Connects once to learn the database's collation; an unreachable server is UNAVAILABLE. */
  static async open(name: string, config: PostgresSourceConfig): Promise<PostgresConnector> {
    const clientConfig: pg.ClientConfig = {
      connectionString: config.url,
      // Timestamps with time zone render in UTC; the parser still honours any offset. Floats
      // print as the shortest text that reads back as the same float, whatever the server's
      // default (at 0 or below a real prints six digits, a double fifteen).
      options: "-c TimeZone=UTC -c extra_float_digits=1",
      connectionTimeoutMillis: 10_000,
    };
    const pool = new pg.Pool({ ...clientConfig, max: config.poolSize ?? 8 });
    // An idle connection the server ends (restart, idle timeout) must not crash the process;
    // the pool drops it and the next query opens a new one.
    pool.on("error", () => {});
    const ref: SourceRef = { name, kind: "postgres" };
    try {
      const result = await pool.query<{ datcollate: string }>(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()",
      );
      const collation = result.rows[0]?.datcollate ?? "";
      return new PostgresConnector(name, pool, clientConfig, textComparisonOf(collation));
    } catch (err) {
      await pool.end().catch(() => {});
      throw toSourceError(ref, err, classifyPostgres);
    }
  }

  /**
   * The statement's rows, streamed from one plain query (postgres-stream.ts): PostgreSQL may plan
   * parallel workers for it, which it never does for a cursor's portal. A reader that stops before
   * the end drops the connection and cancels the statement, which would otherwise send on.
   */
  async query(statement: BoundStatement, options?: QueryOptions): Promise<QueryResult> {
    const signal = options?.signal;
    const client = await this.#acquire(signal);
    const stopCancelling = cancelOnAbort(
      signal,
      () => void this.#cancelBackend(backendPid(client)),
    );
    const rows = new StreamedRows(
      client,
      {
        text: statement.sql,
        values: prepareParams(statement.params),
        types: postgresTypeParsers,
      },
      batchSize(options),
    );
    let released = false;
    const release = async (failed: boolean) => {
      if (released) return;
      released = true;
      stopCancelling();
      const unfinished = !rows.ended;
      rows.stop();
      if (unfinished) void this.#cancelBackend(backendPid(client));
      client.release(failed || unfinished ? true : undefined);
    };
    let columns: ColumnMeta[];
    try {
      columns = columnsOf(await rows.fields());
      if (signal?.aborted) throw cancelledError(this.#ref);
    } catch (err) {
      await release(true);
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    }
    const batches = batchStream(
      { read: () => rows.read(), release },
      { signal, cancelled: () => cancelledError(this.#ref), mapError: (err) => this.#error(err) },
    );
    return { columns, batches };
  }

  async execute(statement: BoundStatement, options?: QueryOptions): Promise<number> {
    const signal = options?.signal;
    const client = await this.#acquire(signal);
    const stopCancelling = cancelOnAbort(
      signal,
      () => void this.#cancelBackend(backendPid(client)),
    );
    let failed = false;
    try {
      const count = await runStatement(client, statement);
      if (signal?.aborted) throw cancelledError(this.#ref);
      return count;
    } catch (err) {
      failed = true;
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    } finally {
      stopCancelling();
      client.release(failed ? true : undefined);
    }
  }

  /**
   * One `INSERT ... SELECT * FROM unnest($1::type[], ...)` per 20,000 rows: each column goes
   * as one array parameter, so a batch costs one round trip and one plan, all in one
   * transaction.
   */
  async appendRows(
    table: string,
    columns: readonly string[],
    rows: readonly Row[],
    options: AppendOptions = {},
  ): Promise<number> {
    const q = this.dialect.quoteIdentifier;
    const qualified = options.schema === undefined ? q(table) : `${q(options.schema)}.${q(table)}`;
    const known = await this.#rows<{ name: string; oid: number; native: string }>(
      `SELECT attname AS name, atttypid::int AS oid, format_type(atttypid, atttypmod) AS native
         FROM pg_attribute
        WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
      [qualified],
    );
    const targets = columns.map((column) => {
      const found = known.find((k) => k.name === column);
      if (found === undefined)
        throw notFoundError(this.#ref, `table ${qualified} has no column ${column}`);
      return { type: postgresType(found.oid).type, native: found.native };
    });
    if (rows.length === 0 || columns.length === 0) return 0;
    const sql =
      `INSERT INTO ${qualified} (${columns.map(q).join(", ")}) SELECT * FROM unnest(` +
      targets.map((t, i) => `$${i + 1}::${t.native}[]`).join(", ") +
      ")";
    const client = await this.#acquire(undefined);
    let failed = false;
    try {
      await client.query("BEGIN");
      for (let start = 0; start < rows.length; start += APPEND_ROWS_PER_STATEMENT) {
        const slice = rows.slice(start, start + APPEND_ROWS_PER_STATEMENT);
        const arrays = targets.map((target, c) =>
          slice.map((row) => {
            const value = toInsertValue(row[c] ?? null, target.type);
            return typeof value === "bigint" ? value.toString() : value;
          }),
        );
        await client.query(sql, arrays);
      }
      await client.query("COMMIT");
      return rows.length;
    } catch (err) {
      failed = true;
      await client.query("ROLLBACK").catch(() => {});
      throw this.#error(err);
    } finally {
      client.release(failed ? true : undefined);
    }
  }

  async listTables(): Promise<TableInfo[]> {
    const columns = await this.#rows<{
      schema: string;
      table: string;
      column: string;
      oid: number;
      native: string;
      nullable: boolean;
      is_enum: boolean;
      own_collation: boolean;
    }>(
      // Collations 0 (none), 100 (the database's), 950 (C) and 951 (POSIX) compare as the
      // capabilities say; any other is the column's own.
      `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
              CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END::int AS oid,
              format_type(a.atttypid, a.atttypmod) AS native,
              NOT a.attnotnull AS nullable, t.typtype = 'e' AS is_enum,
              a.attcollation::int NOT IN (0, 100, 950, 951) AS own_collation
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         JOIN pg_type t ON t.oid = a.atttypid
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND NOT c.relispartition
        ORDER BY n.nspname, c.relname, a.attnum`,
    );
    const keys = await this.#rows<{ schema: string; table: string; column: string }>(
      `SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE i.indisprimary AND NOT (c.relkind = 'r' AND c.relhassubclass)
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY n.nspname, c.relname, k.ord`,
    );
    const tables = new Map<string, TableInfo>();
    for (const row of columns) {
      const key = `${row.schema}.${row.table}`;
      let table = tables.get(key);
      if (table === undefined) {
        table = { schema: row.schema, name: row.table, columns: [], primaryKey: [] };
        tables.set(key, table);
      }
      const type = row.is_enum ? "text" : postgresType(row.oid).type;
      table.columns.push({
        name: row.column,
        type,
        nativeType: row.native,
        nullable: row.nullable,
        ...(row.oid === BLANK_PADDED_OID ? { blankPadded: true as const } : {}),
        ...(row.oid === REAL_OID ? { singlePrecision: true as const } : {}),
        ...textCompare(row),
      });
    }
    for (const row of keys) tables.get(`${row.schema}.${row.table}`)?.primaryKey.push(row.column);
    return [...tables.values()];
  }

  /**
   * Row count from `pg_class.reltuples` and distinct counts from `pg_stats.n_distinct`
   * (negative values are a fraction of the rows). A table never analyzed (reltuples -1,
   * or 0 with no pages recorded) gets a count capped at 100,000 rows instead: cheap, and
   * enough for a planner to tell small from large. No ANALYZE is run: it writes, and may
   * take long on a large table.
   */
  async tableStats(schema: string, table: string): Promise<TableStats> {
    const found = await this.#rows<{ reltuples: number; relpages: number }>(
      `SELECT c.reltuples::float8 AS reltuples, c.relpages::int AS relpages
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, table],
    );
    const stats = found[0];
    if (stats === undefined)
      throw notFoundError(this.#ref, `table ${schema}.${table} does not exist`);
    let rowCount: number | undefined = stats.reltuples;
    let source = "pg_class.reltuples";
    if (stats.reltuples < 0 || (stats.reltuples === 0 && stats.relpages === 0)) {
      const q = (name: string) => this.dialect.quoteIdentifier(name);
      const counted = await this.#rows<{ n: string }>(
        `SELECT count(*) AS n FROM (SELECT 1 FROM ${q(schema)}.${q(table)} LIMIT ${BOUNDED_COUNT_CAP + 1}) s`,
      );
      const n = Number(counted[0]?.n ?? 0);
      rowCount = n > BOUNDED_COUNT_CAP ? undefined : n;
      source = n > BOUNDED_COUNT_CAP ? "never analyzed (over 100000 rows)" : "exact";
    }
    const distinctRows = await this.#rows<{ attname: string; n_distinct: number }>(
      `SELECT attname, n_distinct::float8 AS n_distinct FROM pg_stats
        WHERE schemaname = $1 AND tablename = $2`,
      [schema, table],
    );
    const distinct: Record<string, number> = {};
    for (const row of distinctRows) {
      if (row.n_distinct >= 0) distinct[row.attname] = row.n_distinct;
      else if (rowCount !== undefined) {
        distinct[row.attname] = Math.round(-row.n_distinct * rowCount);
      }
    }
    const result: TableStats = { distinct, source };
    if (rowCount !== undefined) result.rowCount = rowCount;
    return result;
  }

  /** A pooled client of its own; statements on it are cancelled like `query`'s on abort. */
  async openSession(signal?: AbortSignal): Promise<SourceSession> {
    const client = await this.#acquire(signal);
    let released = false;
    const run = guardedRunner({
      ref: this.#ref,
      closed: () => released,
      cancel: () => void this.#cancelBackend(backendPid(client)),
      mapError: (err) => this.#error(err),
    });
    return {
      execute: (statement, signal) => run(signal, () => runStatement(client, statement)),
      queryAll: (statement, options = {}) =>
        run(options.signal, () => this.#readAll(client, statement, options.maxRows)),
      release: async (discard = false) => {
        if (released) return;
        released = true;
        client.release(discard ? true : undefined);
      },
    };
  }

  /** Every row through a cursor, so that a result over `maxRows` is refused, not held. */
  async #readAll(
    client: pg.PoolClient,
    statement: BoundStatement,
    maxRows = Number.POSITIVE_INFINITY,
  ): Promise<{ columns: ColumnMeta[]; rows: Row[] }> {
    const cursor = client.query(
      new Cursor(statement.sql, prepareParams(statement.params), {
        rowMode: "array",
        types: postgresTypeParsers as unknown as pg.CustomTypesConfig,
      }),
    );
    const size = Math.min(maxRows + 1, DEFAULT_READ_ROWS);
    try {
      const first = await readWithFields(cursor, size);
      const rows = [...first.rows];
      // A short batch is the last one.
      for (let batch = first.rows; batch.length === size && rows.length <= maxRows; ) {
        batch = (await cursor.read(size)) as Row[];
        rows.push(...batch);
      }
      if (rows.length > maxRows) throw tooLargeError(this.#ref, maxRows);
      return { columns: columnsOf(first.fields), rows };
    } finally {
      // Closing the portal keeps the connection, and its transaction, usable.
      await cursor.close().catch(() => {});
    }
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.execute({ sql: "SELECT 1", params: [] }, signal ? { signal } : {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end().catch(() => {});
  }

  async #acquire(signal: AbortSignal | undefined): Promise<pg.PoolClient> {
    if (this.#closed) throw closedError(this.#ref);
    if (signal?.aborted) throw cancelledError(this.#ref);
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw this.#error(err);
    }
    if (signal?.aborted) {
      client.release();
      throw cancelledError(this.#ref);
    }
    // pg-pool listens for errors only on idle clients; a checked-out client whose connection
    // drops between statements would otherwise raise an unhandled 'error'.
    client.on("error", ignoreError);
    const release = client.release.bind(client);
    client.release = (err?: Error | boolean) => {
      client.removeListener("error", ignoreError);
      release(err);
    };
    return client;
  }

  async #rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) throw closedError(this.#ref);
    try {
      const result = await this.#pool.query(sql, params);
      return result.rows as T[];
    } catch (err) {
      throw this.#error(err);
    }
  }

  /** Cancels whatever the backend runs, from a separate connection (the pool may be full). */
  async #cancelBackend(pid: number | undefined | null): Promise<void> {
    if (pid === undefined || pid === null) return;
    const canceller = new pg.Client(this.#clientConfig);
    canceller.on("error", () => {});
    try {
      await canceller.connect();
      await canceller.query("SELECT pg_cancel_backend($1)", [pid]);
    } catch {
      // The connection is discarded anyway; a failed cancel only lets the statement run on.
    } finally {
      await canceller.end().catch(() => {});
    }
  }

  #error(err: unknown): EntenteError {
    return toSourceError(this.#ref, err, classifyPostgres);
  }
}

/** Rows a session's `queryAll` fetches per round trip. */
const DEFAULT_READ_ROWS = 10_000;

function columnsOf(fields: readonly pg.FieldDef[]): ColumnMeta[] {
  return fields.map((field) => {
    const { type, native } = postgresType(field.dataTypeID);
    return { name: field.name, type, nativeType: native };
  });
}

/** Runs a statement for its effect; returns affected rows. */
async function runStatement(client: pg.PoolClient, statement: BoundStatement): Promise<number> {
  const result = await client.query({
    text: statement.sql,
    values: prepareParams(statement.params),
    types: postgresTypeParsers as unknown as pg.CustomTypesConfig,
  });
  // A multi-statement text (no parameters) returns one result per statement.
  const results = Array.isArray(result) ? (result as pg.QueryResult[]) : [result];
  return results.reduce((sum, r) => sum + (r.rowCount ?? 0), 0);
}

/** How PostgreSQL must compare a column the engine reads as text to compare it as text does. */
function textCompare(row: {
  oid: number;
  is_enum: boolean;
  own_collation: boolean;
}): Pick<ColumnMeta, "textCompare"> {
  if (row.is_enum || row.oid === MONEY_OID) return { textCompare: "cast" };
  if (row.oid === UUID_OID) return { textCompare: "uuid" };
  return row.own_collation ? { textCompare: "collate" } : {};
}

/** The backend's process id, which pg keeps from the startup handshake. */
function backendPid(client: pg.PoolClient): number | undefined {
  return (client as unknown as { processID?: number }).processID;
}

function ignoreError(): void {}

function readWithFields(
  cursor: Cursor,
  size: number,
): Promise<{ rows: Row[]; fields: pg.FieldDef[] }> {
  return new Promise((resolve, reject) => {
    cursor.read(size, (err, rows, result) => {
      if (err) reject(err);
      else resolve({ rows: rows as Row[], fields: result?.fields ?? [] });
    });
  });
}

/** Bigints as decimal text (pg's own handling would lose nothing, but keeps them exact). */
function prepareParams(params: Value[]): unknown[] {
  return params.map((value) => (typeof value === "bigint" ? value.toString() : value));
}

/** `C`, `POSIX` and `C.UTF-8` compare bytes (code points); anything else is a locale. */
function textComparisonOf(collation: string): TextComparison {
  return /^(C|POSIX|C\.UTF-?8|ucs_basic)$/i.test(collation) ? "binary" : "case-sensitive-locale";
}

/** SQLSTATE classes: 08 connection, 57P0x shutdown, 3D000 unknown database, 42 syntax/names. */
export function classifyPostgres(err: Record<string, unknown>): Classified | undefined {
  const code = typeof err.code === "string" ? err.code : "";
  if (code === "57014") return { code: "CANCELLED", retryable: false };
  if (code.startsWith("08") || /^57P0[1-3]$/.test(code) || code === "53300") {
    return { code: "UNAVAILABLE", retryable: true };
  }
  if (code === "3D000" || code === "42P01" || code === "42883" || code === "42703") {
    return { code: "NOT_FOUND", retryable: false };
  }
  if (code === "28P01" || code === "28000") return { code: "UNAVAILABLE", retryable: false };
  if (/^[0-9A-Z]{5}$/.test(code)) return { code: "BAD_REQUEST", retryable: false };
  return undefined;
}

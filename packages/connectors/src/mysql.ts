import type { EntenteError } from "@entente/protocol";
import mysql from "mysql2";
import { cancelOnAbort } from "./abort.ts";
import { batchSize, batchStream } from "./batches.ts";
import { mysqlCapabilities } from "./capabilities.ts";
import { mysqlDialect } from "./dialects.ts";
import {
  type Classified,
  cancelledError,
  closedError,
  notFoundError,
  type SourceRef,
  tooLargeError,
  toSourceError,
} from "./errors.ts";
import { insertStatements } from "./insert.ts";
import { type MysqlColumn, type MysqlField, mysqlCatalogType, mysqlColumn } from "./mysql-types.ts";
import { ReadableBatches } from "./readable-batches.ts";
import { guardedRunner } from "./session.ts";
import type {
  AppendOptions,
  BoundStatement,
  ColumnMeta,
  Connector,
  MysqlSourceConfig,
  QueryOptions,
  QueryResult,
  Row,
  SourceSession,
  SqlDialect,
  TableInfo,
  TableStats,
  Value,
} from "./types.ts";
import { parseDatabaseUrl } from "./urls.ts";

type CoreConnection = mysql.PoolConnection;

/** MariaDB's JSON is LONGTEXT with a json_valid() check; the check marks it (column alias c). */
const IS_JSON = `EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k
  WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
    AND k.CHECK_CLAUSE = CONCAT('json_valid(\`', c.COLUMN_NAME, '\`)'))`;

/** Collations that compare text as the engine does, the first the server has chosen. */
const EXACT_TEXT_COLLATIONS = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"];

/**
 * Takes NO_BACKSLASH_ESCAPES out of a session's sql_mode. Values are bound into the statement's
 * text by the driver, escaped with backslashes (`'O\\'Brien'`), and LIKE patterns escape `%` and
 * `_` with one: a server whose mode holds NO_BACKSLASH_ESCAPES would end a string at a value's
 * quote — a syntax error, or the rest of the value read as SQL — and match `\_` as two characters.
 */
const WITHOUT_NO_BACKSLASH_ESCAPES =
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','))";

/**
 * MariaDB/MySQL through a mysql2 pool. Reads stream row by row from the text protocol
 * (`query(...).stream()`) with backpressure, so only one batch sits in memory. Parameters
 * are escaped by mysql2 on the client (`?`). Sessions run in UTC. Aborting sends
 * `KILL QUERY <thread id>` from a separate connection.
 */
export class MysqlConnector implements Connector {
  readonly kind = "mysql" as const;
  /** With the server's exact text collation, once `open` has found it. */
  #dialect: SqlDialect = mysqlDialect;
  readonly capabilities = mysqlCapabilities();
  readonly name: string;
  /** The database named in the URL, which `listTables` reports. */
  readonly database: string | undefined;
  readonly #pool: mysql.Pool;
  readonly #options: mysql.ConnectionOptions;
  readonly #ref: SourceRef;
  #closed = false;

  private constructor(
    name: string,
    pool: mysql.Pool,
    options: mysql.ConnectionOptions,
    database: string | undefined,
  ) {
    this.name = name;
    this.#pool = pool;
    this.#options = options;
    this.database = database;
    this.#ref = { name, kind: "mysql" };
  }

  static async open(name: string, config: MysqlSourceConfig): Promise<MysqlConnector> {
    const url = parseDatabaseUrl(name, config.url, ["mysql", "mariadb"], 3306);
    const options: mysql.ConnectionOptions = {
      host: url.host,
      port: url.port,
      connectTimeout: 10_000,
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      dateStrings: true,
      timezone: "Z",
      multipleStatements: false,
    };
    if (url.user !== undefined) options.user = url.user;
    if (url.password !== undefined) options.password = url.password;
    if (url.database !== undefined) options.database = url.database;
    const pool = mysql.createPool({ ...options, connectionLimit: config.poolSize ?? 8 });
    pool.on("connection", (connection) => {
      // A dropped connection emits 'error' on itself; the pool replaces it, the process lives.
      connection.on("error", () => {});
      // DATETIME and TIMESTAMP text is read as UTC.
      connection.query("SET time_zone = '+00:00'");
      connection.query(WITHOUT_NO_BACKSLASH_ESCAPES);
    });
    const connector = new MysqlConnector(name, pool, options, url.database);
    try {
      await connector.ping();
      const exactTextCollation = await connector.#exactTextCollation();
      if (exactTextCollation) connector.#dialect = { ...mysqlDialect, exactTextCollation };
    } catch (err) {
      await connector.close();
      throw err;
    }
    return connector;
  }

  get dialect(): SqlDialect {
    return this.#dialect;
  }

  async query(statement: BoundStatement, options?: QueryOptions): Promise<QueryResult> {
    const signal = options?.signal;
    const connection = await this.#acquire(signal);
    const size = batchSize(options);
    const query = connection.query({
      sql: statement.sql,
      values: prepareParams(statement.params),
      rowsAsArray: true,
    });
    let fields: MysqlField[] = [];
    query.on("fields", (received: MysqlField[]) => {
      fields = received;
    });
    const stream = query.stream({ highWaterMark: size });
    const reader = new ReadableBatches<Row>(stream, size);
    let columns: MysqlColumn[] = [];
    const stopCancelling = cancelOnAbort(signal, () => void this.#killQuery(connection.threadId));
    let released = false;
    const release = async (failed: boolean) => {
      if (released) return;
      released = true;
      stopCancelling();
      // Rows still in flight cannot be skipped on the wire: an unfinished result ends the
      // connection instead of going back to the pool. MariaDB goes on running a statement whose
      // client left until it next sends a row (an aggregate may not for long), so it is killed.
      if (failed || !ended) {
        if (!ended) void this.#killQuery(connection.threadId);
        stream.destroy();
        connection.destroy();
      } else {
        connection.release();
      }
    };
    let ended = false;
    stream.on("end", () => {
      ended = true;
    });
    const read = async (): Promise<Row[]> => {
      const rows = await reader.read();
      convertRows(rows, columns);
      return rows;
    };
    let first: Row[];
    try {
      first = await reader.read();
      columns = fields.map(mysqlColumn);
      convertRows(first, columns);
      if (signal?.aborted) throw cancelledError(this.#ref);
    } catch (err) {
      await release(true);
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    }
    const meta = columnMeta(fields, columns);
    const batches = batchStream(
      { read, release },
      {
        first,
        signal,
        cancelled: () => cancelledError(this.#ref),
        mapError: (e) => this.#error(e),
      },
    );
    return { columns: meta, batches };
  }

  async execute(statement: BoundStatement, options?: QueryOptions): Promise<number> {
    const signal = options?.signal;
    const connection = await this.#acquire(signal);
    const stopCancelling = cancelOnAbort(signal, () => void this.#killQuery(connection.threadId));
    let failed = false;
    try {
      const count = await runStatement(connection, statement);
      if (signal?.aborted) throw cancelledError(this.#ref);
      return count;
    } catch (err) {
      failed = true;
      throw signal?.aborted ? cancelledError(this.#ref) : this.#error(err);
    } finally {
      stopCancelling();
      if (failed) connection.destroy();
      else connection.release();
    }
  }

  async appendRows(
    table: string,
    columns: readonly string[],
    rows: readonly Row[],
    options: AppendOptions = {},
  ): Promise<number> {
    const q = this.dialect.quoteIdentifier;
    const qualified = options.schema === undefined ? q(table) : `${q(options.schema)}.${q(table)}`;
    const known = await this.#rows<{
      name: string;
      data_type: string;
      column_type: string;
      is_json: number | string;
    }>(
      `SELECT c.COLUMN_NAME AS name, c.DATA_TYPE AS data_type, c.COLUMN_TYPE AS column_type,
              ${IS_JSON} AS is_json
         FROM information_schema.COLUMNS c
        WHERE c.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND c.TABLE_NAME = ?`,
      [options.schema ?? null, table],
    );
    const types = columns.map((column) => {
      const found = known.find((k) => k.name === column);
      if (found === undefined) {
        throw notFoundError(this.#ref, `table ${qualified} has no column ${column}`);
      }
      return mysqlCatalogType(found.data_type, found.column_type, Number(found.is_json) === 1);
    });
    const statements = insertStatements(
      this.dialect,
      qualified,
      columns,
      types,
      rows,
      this.capabilities.maxParams,
    );
    const connection = await this.#acquire(undefined);
    const session = connection.promise();
    let failed = false;
    try {
      await session.query("START TRANSACTION");
      for (const statement of statements) {
        await session.query(statement.sql, prepareParams(statement.params));
      }
      await session.query("COMMIT");
      return rows.length;
    } catch (err) {
      failed = true;
      await session.query("ROLLBACK").catch(() => {});
      throw this.#error(err);
    } finally {
      if (failed) connection.destroy();
      else connection.release();
    }
  }

  async listTables(): Promise<TableInfo[]> {
    const columns = await this.#rows<{
      schema: string;
      table: string;
      column: string;
      data_type: string;
      column_type: string;
      nullable: string;
      is_json: number | string;
    }>(
      `SELECT c.TABLE_SCHEMA AS \`schema\`, c.TABLE_NAME AS \`table\`, c.COLUMN_NAME AS \`column\`,
              c.DATA_TYPE AS data_type, c.COLUMN_TYPE AS column_type, c.IS_NULLABLE AS nullable,
              ${IS_JSON} AS is_json
         FROM information_schema.COLUMNS c
        WHERE c.TABLE_SCHEMA = DATABASE()
        ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`,
    );
    const keys = await this.#rows<{ table: string; column: string }>(
      `SELECT TABLE_NAME AS \`table\`, COLUMN_NAME AS \`column\`
         FROM information_schema.KEY_COLUMN_USAGE
        WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY'
        ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    );
    const tables = new Map<string, TableInfo>();
    for (const row of columns) {
      let table = tables.get(row.table);
      if (table === undefined) {
        table = { schema: row.schema, name: row.table, columns: [], primaryKey: [] };
        tables.set(row.table, table);
      }
      const isJson = Number(row.is_json) === 1;
      table.columns.push({
        name: row.column,
        type: mysqlCatalogType(row.data_type, row.column_type, isJson),
        nativeType: isJson ? "json" : row.column_type,
        nullable: row.nullable === "YES",
        ...(row.data_type === "float" ? { singlePrecision: true as const } : {}),
      });
    }
    for (const row of keys) tables.get(row.table)?.primaryKey.push(row.column);
    return [...tables.values()];
  }

  /**
   * Row count from information_schema.TABLES.TABLE_ROWS (an estimate for InnoDB, exact for
   * Aria/MyISAM); distinct counts from index cardinality, for columns that lead an index.
   */
  async tableStats(schema: string, table: string): Promise<TableStats> {
    const found = await this.#rows<{ rows: string | number | null }>(
      `SELECT TABLE_ROWS AS \`rows\` FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
      [schema, table],
    );
    if (found.length === 0) {
      throw notFoundError(this.#ref, `table ${schema}.${table} does not exist`);
    }
    const cardinality = await this.#rows<{ column: string; n: string | number | null }>(
      `SELECT COLUMN_NAME AS \`column\`, MAX(CARDINALITY) AS n FROM information_schema.STATISTICS
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND SEQ_IN_INDEX = 1
        GROUP BY COLUMN_NAME`,
      [schema, table],
    );
    const distinct: Record<string, number> = {};
    for (const row of cardinality) if (row.n !== null) distinct[row.column] = Number(row.n);
    const stats: TableStats = { distinct, source: "information_schema" };
    const rows = found[0]?.rows;
    if (rows !== null && rows !== undefined) stats.rowCount = Number(rows);
    return stats;
  }

  /**
   * A pooled connection of its own. Statements go over the text protocol, which XA statements
   * need (the binary protocol cannot prepare them); aborting sends `KILL QUERY`. A connection
   * with a prepared XA transaction must be discarded (or the transaction ended on it first):
   * until then it refuses other transactions.
   */
  async openSession(signal?: AbortSignal): Promise<SourceSession> {
    const connection = await this.#acquire(signal);
    let released = false;
    const run = guardedRunner({
      ref: this.#ref,
      closed: () => released,
      cancel: () => void this.#killQuery(connection.threadId),
      mapError: (err) => this.#error(err),
    });
    return {
      execute: (statement, signal) => run(signal, () => runStatement(connection, statement)),
      queryAll: (statement, options = {}) =>
        run(options.signal, () => this.#readAll(connection, statement, options.maxRows)),
      release: async (discard = false) => {
        if (released) return;
        released = true;
        if (discard) connection.destroy();
        else connection.release();
      },
    };
  }

  /**
   * Every row, converted as `query` converts them. Rows past `maxRows` are read off the wire
   * and dropped (an unread result would leave the connection, and its transaction, unusable),
   * and the read then fails with TOO_LARGE.
   */
  #readAll(
    connection: CoreConnection,
    statement: BoundStatement,
    maxRows = Number.POSITIVE_INFINITY,
  ): Promise<{ columns: ColumnMeta[]; rows: Row[] }> {
    return new Promise((resolve, reject) => {
      const rows: Row[] = [];
      let fields: MysqlField[] = [];
      let count = 0;
      let failed = false;
      connection
        .query({ sql: statement.sql, values: prepareParams(statement.params), rowsAsArray: true })
        .on("fields", (received: MysqlField[]) => {
          fields = received;
        })
        .on("result", (row: unknown) => {
          count++;
          if (count <= maxRows) rows.push(row as Row);
        })
        .on("error", (err: unknown) => {
          failed = true;
          reject(err);
        })
        .on("end", () => {
          if (failed) return;
          if (count > maxRows) return reject(tooLargeError(this.#ref, maxRows));
          const columns = fields.map(mysqlColumn);
          convertRows(rows, columns);
          resolve({ columns: columnMeta(fields, columns), rows });
        });
    });
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.execute({ sql: "SELECT 1", params: [] }, signal ? { signal } : {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#pool.end(() => resolve()));
  }

  #acquire(signal: AbortSignal | undefined): Promise<CoreConnection> {
    if (this.#closed) return Promise.reject(closedError(this.#ref));
    if (signal?.aborted) return Promise.reject(cancelledError(this.#ref));
    // The pool queues a request while every connection is taken, with no timeout of its own:
    // an abort ends the wait, and a connection that arrives after it goes straight back.
    return new Promise((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        reject(cancelledError(this.#ref));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pool.getConnection((err, connection) => {
        signal?.removeEventListener("abort", onAbort);
        if (settled) {
          if (!err) connection.release();
          return;
        }
        settled = true;
        if (err) return reject(this.#error(err));
        resolve(connection);
      });
    });
  }

  /**
   * The server's code-point collation without trailing-blank padding: MariaDB's
   * `utf8mb4_nopad_bin`, MySQL 8's `utf8mb4_0900_bin`; undefined where it has neither.
   */
  async #exactTextCollation(): Promise<string | undefined> {
    const rows = await this.#rows<{ name: string }>(
      "SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?, ?)",
      EXACT_TEXT_COLLATIONS,
    );
    return EXACT_TEXT_COLLATIONS.find((c) => rows.some((r) => r.name === c));
  }

  async #rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) throw closedError(this.#ref);
    try {
      const [rows] = await this.#pool.promise().query(sql, params);
      return rows as T[];
    } catch (err) {
      throw this.#error(err);
    }
  }

  /** Stops the statement a connection runs, from a separate connection (the pool may be full). */
  async #killQuery(threadId: number | null): Promise<void> {
    if (threadId === null) return;
    const killer = mysql.createConnection(this.#options);
    killer.on("error", () => {});
    try {
      await killer.promise().query(`KILL QUERY ${Number(threadId)}`);
    } catch {
      // The connection is destroyed anyway, which ends the statement soon after.
    } finally {
      killer.destroy();
    }
  }

  #error(err: unknown): EntenteError {
    return toSourceError(this.#ref, err, classifyMysql);
  }
}

/** Runs a statement for its effect on the text protocol; returns affected rows. */
async function runStatement(connection: CoreConnection, statement: BoundStatement) {
  const [result] = await connection
    .promise()
    .query({ sql: statement.sql, values: prepareParams(statement.params) });
  return typeof result === "object" && result !== null && "affectedRows" in result
    ? Number(result.affectedRows)
    : 0;
}

function columnMeta(fields: readonly MysqlField[], columns: readonly MysqlColumn[]): ColumnMeta[] {
  return fields.map((field, i) => ({
    name: field.name,
    type: columns[i]?.type ?? "unknown",
    nativeType: columns[i]?.native ?? "unknown",
  }));
}

function convertRows(rows: Row[], columns: MysqlColumn[]): void {
  for (let c = 0; c < columns.length; c++) {
    const convert = columns[c]?.convert;
    if (convert === undefined) continue;
    for (const row of rows) {
      const value = row[c];
      if (value !== null && value !== undefined) row[c] = convert(value);
    }
  }
}

/**
 * One placeholder, one value, as in the other dialects: binary values as Buffers (mysql2
 * escapes those as hex); objects and arrays as JSON text (mysql2 would otherwise expand them
 * to `key = value` or `a, b` lists).
 */
function prepareParams(params: Value[]): unknown[] {
  return params.map((value) => {
    if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value);
    if (typeof value === "object" && value !== null) return JSON.stringify(value);
    return value;
  });
}

/** mysql2 error names: connection failures retry, unknown names are NOT_FOUND, SQL is bad. */
export function classifyMysql(err: Record<string, unknown>): Classified | undefined {
  const code = typeof err.code === "string" ? err.code : "";
  if (code === "ER_QUERY_INTERRUPTED") return { code: "CANCELLED", retryable: false };
  if (
    code === "ER_BAD_DB_ERROR" ||
    code === "ER_NO_SUCH_TABLE" ||
    code === "ER_BAD_FIELD_ERROR" ||
    code === "ER_SP_DOES_NOT_EXIST"
  ) {
    return { code: "NOT_FOUND", retryable: false };
  }
  if (code === "ER_ACCESS_DENIED_ERROR" || code === "ER_DBACCESS_DENIED_ERROR") {
    return { code: "UNAVAILABLE", retryable: false };
  }
  if (code === "ER_LOCK_DEADLOCK" || code === "ER_LOCK_WAIT_TIMEOUT") {
    return { code: "UNAVAILABLE", retryable: true };
  }
  if (code.startsWith("ER_") && typeof err.sqlState === "string") {
    return { code: "BAD_REQUEST", retryable: false };
  }
  return undefined;
}

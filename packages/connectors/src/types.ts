/**
 * The connector contract: one database behind one interface (Kysely's shape — a driver, a
 * dialect that writes SQL, an introspector), with what it can run declared up front so a
 * planner asks instead of guessing (Trino's connector SPI). A connector knows its database
 * and nothing about NATS.
 */
import type { SqlType } from "@entente/protocol";

/** The databases behind connectors, each with its own SQL dialect. */
export type SourceKind = "postgres" | "mysql" | "duckdb";

/** Every kind of connector: the databases, and the cold store (Parquet files read with DuckDB's SQL). */
export type ConnectorKind = SourceKind | "coldstore";

/**
 * Column types as the engine sees them, whatever the database calls them. Values arrive as:
 * - `boolean` → boolean
 * - `integer` (8–32 bit) → number
 * - `bigint` (64 bit) → bigint
 * - `double` (float, real, double) → number
 * - `decimal` (numeric, decimal) → string, the exact decimal text with the column's scale
 *   (`12.50`), as PostgreSQL prints it; `NaN` and `±Infinity` where numeric holds them. The
 *   cold store keeps decimals as doubles and gives them as numbers.
 * - `text` (char, varchar, text, enum, uuid) → string
 * - `date` → string `YYYY-MM-DD`
 * - `timestamp` (with or without time zone) → bigint nanoseconds since the Unix epoch, UTC
 * - `json` → the parsed value
 * - `blob` → Uint8Array
 * - `unknown` → whatever the driver gave, as a string where it is not one of the above
 * and SQL NULL → null, in every type.
 */
export type ValueType = Exclude<SqlType, "null">;

export type Value = null | boolean | number | bigint | string | Uint8Array | unknown;

export interface ColumnMeta {
  name: string;
  type: ValueType;
  /** The database's own spelling, e.g. `character varying(64)`. */
  nativeType: string;
  /**
   * Stored blank-padded to a fixed length (PostgreSQL `char(n)`), whose trailing blanks are not
   * part of the value: it is read without them, as PostgreSQL's own cast to text does.
   */
  blankPadded?: true;
  /**
   * Where the source compares the column otherwise than as its text (by code point, exactly), and
   * how it is made to: `cast` — an enum, ordered by its labels and an unknown label an error, or
   * money, compared by amount: compared as its text; `collate` — a collation of the column's own
   * (ordering otherwise, or matching case-insensitively; PostgreSQL's, or DuckDB's NOCASE and the
   * like): compared in the C collation; `uuid` — read as its canonical text, while the source
   * reads text compared with it as a uuid (any case, braces; other text an error): compared as
   * stored only with canonical uuid text.
   */
  textCompare?: "cast" | "collate" | "uuid";
  /**
   * A 32-bit float (PostgreSQL `real`, MySQL `FLOAT`, DuckDB `FLOAT`), read as a short decimal
   * (`0.1`, not 0.10000000149011612: PostgreSQL's and DuckDB's shortest text, MySQL's six
   * digits), which the database compares and computes with as the float itself.
   */
  singlePrecision?: true;
}

/** A result row: values in the order of the result's columns. */
export type Row = Value[];

export interface QueryOptions {
  /** Aborting stops the query on the database (cancel request / KILL QUERY / interrupt). */
  signal?: AbortSignal;
  /** Rows per batch the stream yields; the connector fetches from a cursor in this size. */
  batchRows?: number;
  /**
   * What is left of the statement's time. A source that forwards the statement to another
   * worker (another region's) passes it on as that request's budget; databases rely on `signal`.
   */
  timeoutMs?: number;
}

export interface QueryResult {
  columns: ColumnMeta[];
  /** Rows in batches, read from a server-side cursor: memory stays bounded by one batch. */
  batches: AsyncIterable<Row[]>;
}

/** A fully rendered statement: SQL text with placeholders, and the values bound to them. */
export interface BoundStatement {
  sql: string;
  params: Value[];
  /**
   * For a statement over one table: what its predicates say about each column, so a source
   * that keeps its data in files (the cold store) can skip files before reading them.
   */
  scan?: ScanBounds;
}

/** What a statement's conjuncts allow a column to hold: values in the engine's normal form. */
export interface ColumnBounds {
  /** Only these values (an equality or an IN list). */
  values?: Value[];
  lo?: { v: Value; inclusive: boolean };
  hi?: { v: Value; inclusive: boolean };
}

export interface ScanBounds {
  /** The table as the statement names it: schema and name. */
  table: string[];
  /** By column name; a column with no bound is absent. */
  bounds: Record<string, ColumnBounds>;
}

export interface ColumnInfo extends ColumnMeta {
  nullable: boolean;
}

export interface TableInfo {
  /** `public` in PostgreSQL, the database name in MySQL, `main` in DuckDB. */
  schema: string;
  name: string;
  columns: ColumnInfo[];
  /**
   * The primary key's columns, in key order, where it holds for every row a SELECT of the table
   * reads (not a PostgreSQL table with inheritance children, whose rows its key does not cover).
   */
  primaryKey: string[];
}

export interface TableStats {
  /** Estimated or exact row count; undefined when the database does not know. */
  rowCount?: number;
  /** Estimated distinct values per column, where the database keeps them. */
  distinct: Record<string, number>;
  /** Where the figures came from, e.g. `pg_class.reltuples`, `information_schema`, `exact`. */
  source: string;
}

export interface AppendOptions {
  /** The table's schema; the connection's default schema when absent. */
  schema?: string;
}

export interface TableStatsOptions {
  /**
   * Compute distinct counts where the database keeps none (DuckDB: approx_count_distinct,
   * a full scan). Off by default so that statistics stay cheap.
   */
  computeDistinct?: boolean;
}

/** How the database compares text, which decides whether string predicates may be pushed down. */
export type TextComparison =
  /** Byte-wise, case-sensitive: `'a' < 'B'` is false, `'a' = 'A'` is false (DuckDB, PostgreSQL "C"). */
  | "binary"
  /** Case-sensitive but ordered by a locale collation (PostgreSQL default): `=` pushes, `<` does not. */
  | "case-sensitive-locale"
  /** Case-insensitive collation (MySQL/MariaDB defaults): neither `=` nor `<` on text is pushed. */
  | "case-insensitive";

export interface Capabilities {
  /** Comparison, IN, BETWEEN, IS NULL, AND/OR/NOT on non-text columns. */
  filters: boolean;
  textComparison: TextComparison;
  /** LIKE with the engine's semantics (case-sensitive). */
  like: boolean;
  /** GROUP BY with COUNT, SUM, MIN, MAX, AVG. */
  aggregates: boolean;
  /** COUNT(DISTINCT x). */
  countDistinct: boolean;
  /** Joins between two tables of this same source. */
  joins: boolean;
  /** ORDER BY with NULLS FIRST/LAST as written (MySQL cannot: it sorts NULL first ascending). */
  orderByNullsOrdering: boolean;
  /** LIMIT/OFFSET. */
  limit: boolean;
  /** Most parameters one statement may bind (PostgreSQL 65535, MySQL 65535). */
  maxParams: number;
  /** Keeps DECIMAL columns as doubles (the cold store): its sums and arithmetic on them are not exact. */
  decimalsAsDoubles?: true;
}

/** How a database writes SQL: the one dialect type the engine, query federation and connectors share. */
export interface SqlDialect {
  kind: SourceKind;
  /** Quotes one identifier part: `"a""b"` for PostgreSQL/DuckDB, `` `a``b` `` for MySQL. */
  quoteIdentifier(name: string): string;
  /** The placeholder for the 1-based parameter `index`: `$1` or `?`. */
  placeholder(index: number): string;
  /**
   * A collation that compares text by code point with trailing blanks significant, as the engine
   * does, where the source's own collations do not (MariaDB's `utf8mb4_nopad_bin`): text
   * comparisons and LIKE are sent with it, `CONVERT(x USING utf8mb4) COLLATE …`.
   */
  exactTextCollation?: string;
}

export interface Connector {
  readonly name: string;
  readonly kind: ConnectorKind;
  readonly dialect: SqlDialect;
  readonly capabilities: Capabilities;
  /** Runs a read statement and streams its rows. Values are normalized as documented on ValueType. */
  query(statement: BoundStatement, options?: QueryOptions): Promise<QueryResult>;
  /** Runs a statement for its effect (DDL, inserts); returns affected rows where known. */
  execute(statement: BoundStatement, options?: QueryOptions): Promise<number>;
  /**
   * Bulk-loads rows in the engine's normal form (as `query` returns them) into an existing
   * table: DuckDB's appender, batched multi-row INSERTs in one transaction elsewhere.
   * `columns` names the table's columns the rows carry, in row order. Returns rows written.
   */
  appendRows(
    table: string,
    columns: readonly string[],
    rows: readonly Row[],
    options?: AppendOptions,
  ): Promise<number>;
  /** Tables and views the source exposes, with their columns and keys. */
  listTables(): Promise<TableInfo[]>;
  tableStats(schema: string, table: string, options?: TableStatsOptions): Promise<TableStats>;
  /**
   * A connection of its own, for a transaction: its statements run one after another on it and
   * see each other's effects. It must be released, discarded when a transaction on it may still
   * be open.
   */
  openSession(signal?: AbortSignal): Promise<SourceSession>;
  /** A cheap round trip, for health checks. */
  ping(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** A dedicated connection; see `Connector.openSession`. */
export interface SourceSession {
  /** Runs a statement for its effect; returns affected rows where known (0 otherwise). */
  execute(statement: BoundStatement, signal?: AbortSignal): Promise<number>;
  /**
   * Runs a read and returns every row, normalized as `Connector.query` does; more than
   * `maxRows` rows fails with TOO_LARGE instead of holding them all.
   */
  queryAll(
    statement: BoundStatement,
    options?: { signal?: AbortSignal; maxRows?: number },
  ): Promise<{ columns: ColumnMeta[]; rows: Row[] }>;
  /**
   * Gives the connection back. `discard` closes it instead: after a failure, or while a
   * transaction on it is neither committed nor rolled back (closing rolls it back).
   */
  release(discard?: boolean): Promise<void>;
}

export interface PostgresSourceConfig {
  kind: "postgres";
  url: string;
  /** Most pooled connections (default 8). */
  poolSize?: number;
}

export interface MysqlSourceConfig {
  kind: "mysql";
  url: string;
  poolSize?: number;
}

export interface DuckdbSourceConfig {
  kind: "duckdb";
  /** A database file; in memory when absent. */
  path?: string;
  /** Parquet or CSV files exposed as views: table name → file path or glob. */
  files?: Record<string, string>;
  /** Opens the database read-only (many processes may then share one file). */
  readOnly?: boolean;
}

export interface ColdstoreSourceConfig {
  kind: "coldstore";
  /** The store's root directory: `<path>/main/<table>/{metadata,data}`. */
  path: string;
  /** Size data files are written and compacted to (default 128 MiB). */
  targetFileBytes?: number;
  /** How long expired snapshots' files are kept for readers that still hold them. */
  snapshotRetentionMs?: number;
  /** Files in no snapshot are removed only once older than this (default 1 day): a write in progress keeps its files. */
  orphanMinAgeMs?: number;
  /** Most partitions a table may have (default 10,000). */
  maxPartitions?: number;
}

export type SourceConfig =
  | PostgresSourceConfig
  | MysqlSourceConfig
  | DuckdbSourceConfig
  | ColdstoreSourceConfig;

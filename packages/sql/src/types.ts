/**
 * The engine's view of the world: value types, tables in a catalog, and what a source can run.
 * The dialect is the connectors' own type (a type import: no connector code is loaded).
 */
import type { ScanBounds, SqlDialect } from "@entente/connectors";
import type { SqlType } from "@entente/protocol";

export type { SqlDialect } from "@entente/connectors";
export type { SqlType } from "@entente/protocol";

export type Value = unknown;
export type Row = Value[];

export interface ColumnDef {
  name: string;
  type: SqlType;
  /**
   * A PostgreSQL `char(n)` column: read without its padding, so the engine's text semantics hold
   * only where the source compares it as text too (see `columnSql`).
   */
  blankPadded?: boolean;
  /**
   * Where the source compares the column otherwise than as text (a PostgreSQL enum or money
   * column, a uuid, or a column with a collation of its own): cast to text, cast unless compared
   * with canonical uuid text, or compared in the C collation (see `columnSql`).
   */
  textCompare?: "cast" | "collate" | "uuid";
  /**
   * A 32-bit float, read as a short decimal that the source compares otherwise: named as that
   * number where the source can say it, and kept from the source where not (see `floatSql`,
   * `computesWithFloat`).
   */
  singlePrecision?: boolean;
}

export type TextComparison = "binary" | "case-sensitive-locale" | "case-insensitive";

export interface SourceCapabilities {
  filters: boolean;
  textComparison: TextComparison;
  like: boolean;
  aggregates: boolean;
  countDistinct: boolean;
  joins: boolean;
  orderByNullsOrdering: boolean;
  limit: boolean;
  maxParams: number;
  /** Keeps DECIMAL columns as doubles: sums and arithmetic of decimals stay in the engine. */
  decimalsAsDoubles?: true;
}

export interface SourceInfo {
  name: string;
  dialect: SqlDialect;
  capabilities: SourceCapabilities;
}

/** A physical table in one source. */
export interface CatalogTable {
  source: string;
  schema: string;
  name: string;
  /**
   * The table's full name in its source when that is not `schema.name`: another region's table,
   * named as that region's catalog names it (`source.schema.table`).
   */
  path?: string[];
  columns: ColumnDef[];
  /** The primary key's columns, where the source declares one. */
  primaryKey?: string[];
  /** Estimated rows, from the source's statistics. */
  rowCount?: number;
  /** Estimated distinct values per column. */
  distinct?: Record<string, number>;
}

/** A bound statement for one source: SQL text with placeholders and the values bound to them. */
export interface SourceStatement {
  sql: string;
  params: Value[];
  /** What the statement's predicates allow each column of its one table to hold. */
  scan?: ScanBounds;
}

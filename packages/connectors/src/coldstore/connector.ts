/**
 * The cold store as a read-only source: statements written for DuckDB against `"main"."<table>"`
 * run on the store's embedded DuckDB with each table replaced by the Parquet files of its current
 * snapshot, pruned by the statement's bounds before any file is opened.
 */
import { EntenteError } from "@entente/protocol";
import { duckdbCapabilities } from "../capabilities.ts";
import { duckdbDialect } from "../dialects.ts";
import type {
  AppendOptions,
  BoundStatement,
  ColdstoreSourceConfig,
  Connector,
  QueryOptions,
  QueryResult,
  Row,
  SourceSession,
  TableInfo,
  TableStats,
} from "../types.ts";
import { type ColdTableMetadata, currentFiles, type DataFile } from "./model.ts";
import { filesRelation } from "./parquet.ts";
import { ColdStore } from "./store.ts";
import { duckdbTypeOf } from "./values.ts";

/** A bound time as the engine renders it for DuckDB. */
const TIMESTAMPTZ_PARAM = /CAST\((\$\d+) AS TIMESTAMPTZ\)/g;

export class ColdstoreConnector implements Connector {
  readonly kind = "coldstore" as const;
  readonly dialect = duckdbDialect;
  readonly capabilities = {
    ...duckdbCapabilities(),
    joins: false,
    decimalsAsDoubles: true as const,
  };
  readonly name: string;
  readonly store: ColdStore;

  private constructor(name: string, store: ColdStore) {
    this.name = name;
    this.store = store;
  }

  static async open(name: string, config: ColdstoreSourceConfig): Promise<ColdstoreConnector> {
    const store = await ColdStore.open(config, name);
    return new ColdstoreConnector(name, store);
  }

  async query(statement: BoundStatement, options: QueryOptions = {}): Promise<QueryResult> {
    const { sql, read, decimals } = await this.rewrite(statement);
    const label = Object.keys(read).join(", ") || "(none)";
    let result: QueryResult;
    try {
      result = await this.store.io.duckdb.query({ sql, params: statement.params }, options);
    } catch (err) {
      throw this.store.wrapError(label, err);
    }
    // Decimals are stored as doubles (their normal form); a column read as one is still a
    // decimal, when every table read that has a column of that name has it as a decimal.
    const columns = result.columns.map((c) =>
      c.type === "double" && isDecimal(decimals, c.name) ? { ...c, type: "decimal" as const } : c,
    );
    return { columns, batches: this.store.guardBatches(label, result.batches) };
  }

  /**
   * The statement with every `"main"."<table>"` replaced by its (pruned) files; `read` names the
   * files each table is read from (this statement's: what pruning left), `decimals` each table's
   * columns by name, true for decimals.
   */
  async rewrite(statement: BoundStatement): Promise<{
    sql: string;
    read: Record<string, string[]>;
    decimals: Record<string, Record<string, boolean>>;
  }> {
    const read: Record<string, string[]> = {};
    const decimals: Record<string, Record<string, boolean>> = {};
    const scanned = statement.scan?.table.at(-1);
    const pattern = /"main"\."((?:[^"]|"")+)"/g;
    const names = new Set<string>();
    for (const match of statement.sql.matchAll(pattern)) {
      names.add((match[1] as string).replaceAll('""', '"'));
    }
    const relations = new Map<string, string>();
    for (const table of names) {
      const metadata = await this.#metadata(table);
      const files: DataFile[] =
        statement.scan && scanned === table
          ? this.store.prune(metadata, statement.scan.bounds)
          : currentFiles(metadata);
      read[table] = files.map((f) => f.path);
      decimals[table] = Object.fromEntries(
        metadata.schema.columns.map((c) => [c.name, c.type === "decimal"]),
      );
      relations.set(
        table,
        `${filesRelation(
          metadata.schema.columns,
          files.map((f) => this.store.absolute(table, f)),
        )} AS ${duckdbDialect.quoteIdentifier(table)}`,
      );
    }
    const sql = statement.sql
      .replace(pattern, (_, quoted: string) => relations.get(quoted.replaceAll('""', '"')) ?? _)
      // Cold timestamps are stored as UTC TIMESTAMPs, and the engine binds times as UTC text:
      // compared as TIMESTAMP, DuckDB keeps min/max pruning inside each file and casts no row
      // (as TIMESTAMPTZ it would convert every row through the session's time zone).
      .replace(TIMESTAMPTZ_PARAM, "CAST($1 AS TIMESTAMP)");
    return { sql, read, decimals };
  }

  async #metadata(table: string): Promise<ColdTableMetadata> {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
      throw this.#notFound(`no table ${JSON.stringify(table)}`);
    }
    const metadata = await this.store.load(table);
    if (metadata === undefined) {
      const tables = await this.store.tables();
      throw this.#notFound(
        `no table ${table}; tables: ${tables.length > 0 ? tables.join(", ") : "(none)"}`,
      );
    }
    return metadata;
  }

  #notFound(message: string): EntenteError {
    return new EntenteError("NOT_FOUND", `source "${this.name}" (coldstore): ${message}`, {
      details: { source: this.name },
    });
  }

  #refuse(what: string): EntenteError {
    return new EntenteError(
      "UNSUPPORTED",
      `source "${this.name}" (coldstore): ${what} is not supported; the cold store is written only through the tier lifecycle (its snapshots are committed by moves, compaction and expiry)`,
      { details: { source: this.name } },
    );
  }

  async execute(_statement: BoundStatement, _options?: QueryOptions): Promise<number> {
    throw this.#refuse("execute");
  }

  async appendRows(
    _table: string,
    _columns: readonly string[],
    _rows: readonly Row[],
    _options?: AppendOptions,
  ): Promise<number> {
    throw this.#refuse("appendRows");
  }

  async openSession(_signal?: AbortSignal): Promise<SourceSession> {
    throw this.#refuse("a session (writes and transactions)");
  }

  async listTables(): Promise<TableInfo[]> {
    const tables: TableInfo[] = [];
    for (const name of await this.store.tables()) {
      const metadata = await this.store.load(name);
      if (metadata === undefined) continue;
      tables.push({
        schema: "main",
        name,
        columns: metadata.schema.columns.map((c) => ({
          name: c.name,
          type: c.type,
          nativeType: duckdbTypeOf(c.type),
          nullable: c.nullable,
        })),
        primaryKey: [],
      });
    }
    return tables;
  }

  /** Exact row counts from the manifest: no file is read. */
  async tableStats(schema: string, table: string): Promise<TableStats> {
    if (schema !== "main") {
      throw this.#notFound(`the cold store has one schema, main; not ${schema}`);
    }
    const metadata = await this.#metadata(table);
    const rowCount = currentFiles(metadata).reduce((n, f) => n + f.rowCount, 0);
    return { rowCount, distinct: {}, source: "coldstore manifest (exact)" };
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.store.io.duckdb.ping(signal);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/** A result column of this name is a decimal: some table read has it, every such one as a decimal. */
function isDecimal(decimals: Record<string, Record<string, boolean>>, name: string): boolean {
  const kinds = Object.values(decimals)
    .map((columns) => (Object.hasOwn(columns, name) ? columns[name] : undefined))
    .filter((kind) => kind !== undefined);
  return kinds.length > 0 && kinds.every(Boolean);
}

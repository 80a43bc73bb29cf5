/**
 * Parquet files through embedded, in-memory DuckDBs (the DuckDB connector, so values convert,
 * stream and abort exactly as they do there). Rows are staged in a DuckDB table with the
 * appender and copied out per partition, sorted so that min/max stay tight.
 *
 * Reads and writes run on two instances, each with its own pool of connections: a writer fed by
 * a read stream (a repartition, a materialization of cold rows) holds a read connection while it
 * waits for a write one, and with one shared pool enough of those at once would each hold one and
 * wait for another for ever. Every operation on the write instance takes one connection at a
 * time and never waits on a read, so neither pool can be exhausted by waiters holding it.
 */
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { EntenteError } from "@entente/protocol";
import { DuckdbConnector } from "../duckdb.ts";
import type { QueryResult, Row, Value } from "../types.ts";
import type { ColdColumn, ColumnStats, DataFile, PartitionField } from "./model.ts";
import { Partitioner, type PartitionValue, partitionHash } from "./partition.ts";
import { splitCount } from "./plan.ts";
import { duckdbTypeOf, statToJson } from "./values.ts";

/** Rows staged before they are written out, which bounds memory on large inputs. */
const FLUSH_ROWS = 250_000;
const PART = "__entente_part";
const SEQ = "__entente_seq";

/**
 * Options of every read_parquet: a file's columns are its own, whatever its directory is called
 * (DuckDB otherwise takes `col=value` directories as hive partitions, whose text replaces the
 * column's values: a hashed long value, or a value's URL encoding, would be read back instead).
 */
export const READ_OPTIONS = "union_by_name=false, hive_partitioning=false";

export const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
export const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** A column read back from Parquet as its engine type (JSON text as JSON again). */
function readColumn(column: ColdColumn): string {
  return column.type === "json"
    ? `CAST(${q(column.name)} AS JSON) AS ${q(column.name)}`
    : q(column.name);
}

/** A relation over files with the table's columns and types; empty and typed when no file is left. */
export function filesRelation(columns: readonly ColdColumn[], absPaths: readonly string[]): string {
  if (absPaths.length === 0) {
    const nulls = columns.map((c) => `CAST(NULL AS ${duckdbTypeOf(c.type)}) AS ${q(c.name)}`);
    return `(SELECT ${nulls.join(", ")} WHERE false)`;
  }
  return `(SELECT ${columns.map(readColumn).join(", ")} FROM read_parquet([${absPaths.map(literal).join(", ")}], ${READ_OPTIONS}))`;
}

/** The column files are sorted by: the first day or identity partition source, else the first time column. */
export function sortColumn(
  columns: readonly ColdColumn[],
  spec: readonly PartitionField[],
): string | undefined {
  const field =
    spec.find((f) => f.transform === "day") ?? spec.find((f) => f.transform === "identity");
  if (field) return field.source;
  return columns.find((c) => c.type === "timestamp" || c.type === "date")?.name;
}

export interface WriteRequest {
  tableDir: string;
  columns: readonly ColdColumn[];
  spec: readonly PartitionField[];
  rows: AsyncIterable<Row[]>;
  prefix: string;
  targetFileBytes: number;
  /** The spec's id, recorded on every file written. */
  specId: number;
  /** A write that would make more partitions than this is refused (BAD_REQUEST). */
  maxPartitions: number;
  /** Names the table in errors. */
  table: string;
  signal?: AbortSignal;
}

export class ParquetIO {
  /** Reads: statements on the files, streamed. */
  readonly #reader: DuckdbConnector;
  /** Writes: staging, COPY … TO, and describing the files written. */
  readonly #duck: DuckdbConnector;
  #staging = 0;

  private constructor(reader: DuckdbConnector, writer: DuckdbConnector) {
    this.#reader = reader;
    this.#duck = writer;
  }

  static async open(name: string): Promise<ParquetIO> {
    const reader = await DuckdbConnector.open(name, { kind: "duckdb" });
    try {
      return new ParquetIO(reader, await DuckdbConnector.open(name, { kind: "duckdb" }));
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

  /** The instance statements on the files run on (never the one writes use). */
  get duckdb(): DuckdbConnector {
    return this.#reader;
  }

  /** Streams a query on the reading instance. */
  query(sql: string, signal?: AbortSignal, batchRows?: number): Promise<QueryResult> {
    return this.#reader.query(
      { sql, params: [] },
      { ...(signal ? { signal } : {}), ...(batchRows ? { batchRows } : {}) },
    );
  }

  /** All rows of a query on the writing instance (consumed before anything else is asked of it). */
  async #all(sql: string, signal?: AbortSignal): Promise<Row[]> {
    const result = await this.#duck.query({ sql, params: [] }, signal ? { signal } : {});
    const rows: Row[] = [];
    for await (const batch of result.batches) rows.push(...batch);
    return rows;
  }

  /** Writes rows into Parquet files, one or more per partition; returns them with their statistics. */
  async write(request: WriteRequest): Promise<DataFile[]> {
    const { columns, spec, signal } = request;
    const stage = `stage_${++this.#staging}_${process.pid}`;
    const partitioner = new Partitioner(columns, spec);
    const partitions = new Map<string, Record<string, PartitionValue>>();
    const counters = new Map<string, number>();
    const written: DataFile[] = [];
    const defs = columns.map((c) => `${q(c.name)} ${duckdbTypeOf(c.type)}`);
    await this.#duck.execute({
      sql: `CREATE TABLE ${q(stage)} (${defs.join(", ")}, ${q(PART)} VARCHAR, ${q(SEQ)} BIGINT)`,
      params: [],
    });
    const names = [...columns.map((c) => c.name), PART, SEQ];
    let staged = 0;
    let seq = 0;
    try {
      for await (const batch of request.rows) {
        if (signal?.aborted) throw new EntenteError("CANCELLED", "cold store: write cancelled");
        const rows = batch.map((row) => {
          if (row.length !== columns.length) {
            throw new EntenteError(
              "BAD_REQUEST",
              `cold store: a row has ${row.length} values; the table has ${columns.length} columns`,
            );
          }
          const path = partitioner.path(row);
          if (!partitions.has(path)) {
            if (partitions.size >= request.maxPartitions) {
              throw new EntenteError(
                "BAD_REQUEST",
                `cold store: table ${request.table}: the rows make more than ${request.maxPartitions} partitions (maxPartitions); partition by fewer values (fewer buckets, day instead of identity)`,
                { retryable: false },
              );
            }
            partitions.set(path, partitioner.values(row));
          }
          return [...row, path, seq++];
        });
        await this.#duck.appendRows(stage, names, rows);
        staged += rows.length;
        if (staged >= FLUSH_ROWS) {
          written.push(...(await this.#flush(stage, request, partitions, counters)));
          staged = 0;
        }
      }
      if (staged > 0) written.push(...(await this.#flush(stage, request, partitions, counters)));
    } catch (err) {
      // A failed write leaves no files behind for orphan removal to find a day later.
      await Promise.all(
        written.map((f) => rm(join(request.tableDir, f.path), { force: true }).catch(() => {})),
      );
      throw err;
    } finally {
      await this.#duck.execute({ sql: `DROP TABLE IF EXISTS ${q(stage)}`, params: [] });
    }
    return written;
  }

  async #flush(
    stage: string,
    request: WriteRequest,
    partitions: Map<string, Record<string, PartitionValue>>,
    counters: Map<string, number>,
  ): Promise<DataFile[]> {
    const { columns, spec, tableDir, signal } = request;
    const sort = sortColumn(columns, spec);
    const order = `${sort ? `${q(sort)}, ` : ""}${q(SEQ)}`;
    const select = columns.map((c) => q(c.name)).join(", ");
    const files: DataFile[] = [];
    const parts = await this.#all(
      `SELECT ${q(PART)}, count(*) FROM ${q(stage)} GROUP BY 1 ORDER BY 1`,
      signal,
    );
    for (const [part, count] of parts) {
      const path = String(part);
      const rows = Number(count);
      const from = `FROM ${q(stage)} WHERE ${q(PART)} = ${literal(path)} ORDER BY ${order}`;
      const name = () => {
        const n = counters.get(path) ?? 0;
        counters.set(path, n + 1);
        const dir = path === "" ? "data" : `data/${path}`;
        return `${dir}/${request.prefix}-${partitionHash(path)}-${n}.parquet`;
      };
      const first = name();
      await this.copyTo(`SELECT ${select} ${from}`, join(tableDir, first), signal);
      const firstFile = await this.describe(tableDir, first, columns, signal);
      const pieces = splitCount(rows, firstFile.bytes, request.targetFileBytes);
      const values = partitions.get(path) ?? {};
      if (pieces === 1) {
        files.push({ ...firstFile, partition: values, specId: request.specId });
        continue;
      }
      // Too big for one file: rewrite as `pieces` files of consecutive sorted rows.
      await rm(join(tableDir, first), { force: true });
      counters.set(path, (counters.get(path) ?? 1) - 1);
      const per = Math.ceil(rows / pieces);
      for (let offset = 0; offset < rows; offset += per) {
        const file = name();
        await this.copyTo(
          `SELECT ${select} ${from} LIMIT ${per} OFFSET ${offset}`,
          join(tableDir, file),
          signal,
        );
        files.push({
          ...(await this.describe(tableDir, file, columns, signal)),
          partition: values,
          specId: request.specId,
        });
      }
    }
    await this.#duck.execute({ sql: `DELETE FROM ${q(stage)}`, params: [] });
    return files;
  }

  /** COPY a query's rows to one Parquet file. */
  async copyTo(selectSql: string, absPath: string, signal?: AbortSignal): Promise<void> {
    await mkdir(dirname(absPath), { recursive: true });
    await this.#duck.execute(
      { sql: `COPY (${selectSql}) TO ${literal(absPath)} (FORMAT parquet)`, params: [] },
      signal ? { signal } : {},
    );
  }

  /** A written file's row count, size and per-column min/max/null counts (partition left empty). */
  async describe(
    tableDir: string,
    path: string,
    columns: readonly ColdColumn[],
    signal?: AbortSignal,
  ): Promise<DataFile> {
    const abs = join(tableDir, path);
    const items = ["count(*)"];
    for (const c of columns) {
      const ranged = c.type !== "blob" && c.type !== "json" && c.type !== "unknown";
      items.push(ranged ? `min(${q(c.name)})` : "NULL", ranged ? `max(${q(c.name)})` : "NULL");
      items.push(`count(*) - count(${q(c.name)})`);
    }
    const [row] = await this.#all(
      `SELECT ${items.join(", ")} FROM read_parquet([${literal(abs)}], ${READ_OPTIONS})`,
      signal,
    );
    const stats: Record<string, ColumnStats> = {};
    columns.forEach((c, i) => {
      stats[c.name] = {
        min: statToJson(row?.[1 + i * 3] as Value, c.type),
        max: statToJson(row?.[2 + i * 3] as Value, c.type),
        nulls: Number(row?.[3 + i * 3] ?? 0),
      };
    });
    const { size } = await stat(abs);
    return { path, partition: {}, rowCount: Number(row?.[0] ?? 0), bytes: size, columns: stats };
  }

  async close(): Promise<void> {
    await Promise.all([this.#reader.close(), this.#duck.close()]);
  }
}

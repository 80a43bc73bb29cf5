/**
 * The cold store's table metadata: kept close to Iceberg's table metadata (schema, partition
 * spec, properties, snapshots) so that a real Iceberg catalog could stand behind the same
 * interface; a snapshot's file list is inline where Iceberg keeps manifest files.
 */
import { EntenteError } from "@entente/protocol";
import type { ValueType } from "../types.ts";

export type PartitionField =
  /** A date or timestamp column's UTC day, `YYYY-MM-DD`. */
  | { source: string; transform: "day" }
  | { source: string; transform: "identity" }
  /** Integers modulo `buckets`, text by 32-bit FNV-1a modulo `buckets` (as sharded tables hash). */
  | { source: string; transform: "bucket"; buckets: number };

export interface ColdColumn {
  name: string;
  type: ValueType;
  nullable: boolean;
}

/** Per-column statistics of one file; min/max as JSON (bigints and timestamps as decimal strings). */
export interface ColumnStats {
  min: unknown;
  max: unknown;
  nulls: number;
}

export interface DataFile {
  /** Relative to the table's directory: `data/<partition path>/<name>.parquet`. */
  path: string;
  /** Values by partition field name (see partitionFieldName). */
  partition: Record<string, string | number | null>;
  rowCount: number;
  bytes: number;
  columns: Record<string, ColumnStats>;
  /**
   * The partition spec the file was written under (see specIdOf); absent means spec 0. Its
   * partition values mean something only under that spec.
   */
  specId?: number;
}

export interface ColdSnapshot {
  snapshotId: number;
  parentSnapshotId?: number;
  timestampMs: number;
  operation: "append" | "replace" | "delete";
  summary: Record<string, string>;
  files: DataFile[];
}

export interface ColdTableMetadata {
  formatVersion: 1;
  tableUuid: string;
  location: string;
  /** N of the `v<N>.metadata.json` this was read from. */
  version: number;
  lastUpdatedMs: number;
  schema: { columns: ColdColumn[] };
  /** `specId` goes up by one with each repartition; absent (metadata written before it) means 0. */
  partitionSpec: { specId?: number; fields: PartitionField[] };
  properties: Record<string, string>;
  currentSnapshotId?: number;
  snapshots: ColdSnapshot[];
}

/** Row count and order-independent checksum of one partition's rows. */
export interface PartitionCheck {
  /** The partition path, e.g. `ts_day=2025-03-01/id_bucket=3` (empty when unpartitioned). */
  partition: string;
  rowCount: number;
  /** Hex, 16 digits: the sum of the rows' 64-bit hashes modulo 2^64. */
  checksum: string;
}

export interface MaintenanceResult {
  filesBefore: number;
  filesAfter: number;
  rows: number;
  /** The snapshot committed; absent when there was nothing to do. */
  snapshotId?: number;
}

export interface ColdTableStats {
  rows: number;
  files: number;
  bytes: number;
  snapshots: number;
  currentSnapshotId?: number;
  columns: Record<string, ColumnStats>;
  partitions: Array<{ partition: string; rows: number; files: number; bytes: number }>;
}

/** What a commit's `change` returns: the next snapshot's files and the table's properties. */
export interface CommitChange {
  files: DataFile[];
  properties?: Record<string, string>;
  summary?: Record<string, string>;
  /** A new partition spec, committed with the files (repartitioning). */
  partitionSpec?: PartitionField[];
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Table and column names are plain identifiers: they become directory names and SQL. */
export function checkIdentifier(what: string, name: string): void {
  if (typeof name !== "string" || !IDENTIFIER.test(name) || name.length > 128) {
    throw new EntenteError(
      "BAD_REQUEST",
      `cold store: ${what} ${JSON.stringify(name)} must be a plain identifier (letters, digits, _)`,
    );
  }
}

const VALUE_TYPES = new Set<string>([
  "boolean",
  "integer",
  "bigint",
  "double",
  "decimal",
  "text",
  "date",
  "timestamp",
  "json",
  "blob",
  "unknown",
]);

export function checkColumns(table: string, columns: readonly ColdColumn[]): void {
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new EntenteError("BAD_REQUEST", `cold store: table ${table} needs at least one column`);
  }
  const seen = new Set<string>();
  for (const column of columns) {
    checkIdentifier("column", column.name);
    if (!VALUE_TYPES.has(column.type)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `cold store: column ${table}.${column.name} has unknown type ${JSON.stringify(column.type)}`,
      );
    }
    const key = column.name.toLowerCase();
    if (seen.has(key)) {
      throw new EntenteError("BAD_REQUEST", `cold store: column ${column.name} appears twice`);
    }
    seen.add(key);
  }
}

/** A spec must name existing columns with transforms their types allow. */
export function checkSpec(
  table: string,
  columns: readonly ColdColumn[],
  spec: readonly PartitionField[],
): void {
  if (!Array.isArray(spec)) {
    throw new EntenteError("BAD_REQUEST", `cold store: partition spec of ${table} must be a list`);
  }
  const names = new Set<string>();
  for (const field of spec) {
    const column = columns.find((c) => c.name === field?.source);
    if (column === undefined) {
      throw new EntenteError(
        "BAD_REQUEST",
        `cold store: partition field of ${table} names unknown column ${JSON.stringify(field?.source)}; columns: ${columns.map((c) => c.name).join(", ")}`,
      );
    }
    switch (field.transform) {
      case "day":
        if (column.type !== "date" && column.type !== "timestamp") {
          throw new EntenteError(
            "BAD_REQUEST",
            `cold store: day partitioning needs a date or timestamp column; ${column.name} is ${column.type}`,
          );
        }
        break;
      case "identity":
        if (column.type === "json" || column.type === "blob" || column.type === "double") {
          throw new EntenteError(
            "BAD_REQUEST",
            `cold store: identity partitioning cannot use ${column.type} column ${column.name}`,
          );
        }
        break;
      case "bucket":
        if (!Number.isInteger(field.buckets) || field.buckets < 1 || field.buckets > 65_536) {
          throw new EntenteError(
            "BAD_REQUEST",
            `cold store: bucket partitioning of ${column.name} needs buckets between 1 and 65536`,
          );
        }
        break;
      default:
        throw new EntenteError(
          "BAD_REQUEST",
          `cold store: unknown partition transform ${JSON.stringify((field as { transform: unknown }).transform)}; use day, identity or bucket`,
        );
    }
    const name = partitionFieldName(field);
    if (names.has(name)) {
      throw new EntenteError("BAD_REQUEST", `cold store: partition field ${name} appears twice`);
    }
    names.add(name);
  }
}

/** Iceberg-style field names: `ts_day`, `id_bucket`, or the column itself for identity. */
export function partitionFieldName(field: PartitionField): string {
  if (field.transform === "identity") return field.source;
  return `${field.source}_${field.transform}`;
}

/** The current snapshot, if any. */
export function currentSnapshot(metadata: ColdTableMetadata): ColdSnapshot | undefined {
  if (metadata.currentSnapshotId === undefined) return undefined;
  return metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
}

/** The id of the table's current partition spec (0 when the metadata predates spec ids). */
export function currentSpecId(metadata: Pick<ColdTableMetadata, "partitionSpec">): number {
  return metadata.partitionSpec.specId ?? 0;
}

/** The spec a file was written under (0 when it predates spec ids). */
export function specIdOf(file: Pick<DataFile, "specId">): number {
  return file.specId ?? 0;
}

export function currentFiles(metadata: ColdTableMetadata): DataFile[] {
  return currentSnapshot(metadata)?.files ?? [];
}

export function sameSchema(a: readonly ColdColumn[], b: readonly ColdColumn[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (c, i) => c.name === b[i]?.name && c.type === b[i]?.type && c.nullable === b[i]?.nullable,
    )
  );
}

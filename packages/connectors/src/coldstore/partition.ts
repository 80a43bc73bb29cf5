/** Partition values of rows under a spec, and the directory paths they map to. */
import { createHash } from "node:crypto";
import { EntenteError } from "@entente/protocol";
import type { Row, Value } from "../types.ts";
import { valueHash } from "./checksum.ts";
import { type ColdColumn, type PartitionField, partitionFieldName } from "./model.ts";
import { dayOf } from "./values.ts";

export type PartitionValue = string | number | null;

const NULL_SEGMENT = "__null__";

/** The bucket of a value: integers modulo `buckets`, anything else by 32-bit FNV-1a of its text. */
export function bucketOf(value: Value, buckets: number): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && Number.isInteger(value)) {
    return ((value % buckets) + buckets) % buckets;
  }
  if (typeof value === "bigint") {
    const b = BigInt(buckets);
    return Number(((value % b) + b) % b);
  }
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(String(value))) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % buckets;
}

/** A field's value for one column value. */
export function partitionValue(field: PartitionField, value: Value): PartitionValue {
  if (value === null || value === undefined) return null;
  switch (field.transform) {
    case "day": {
      const day = dayOf(value);
      if (day === undefined) {
        throw new EntenteError(
          "BAD_REQUEST",
          `cold store: ${field.source} value ${String(value)} is not a date or timestamp`,
        );
      }
      return day;
    }
    case "bucket":
      return bucketOf(value, field.buckets);
    case "identity":
      if (typeof value === "number" || typeof value === "string") return value;
      return String(value);
  }
}

/** Computes each row's partition path and values under one spec, for one column order. */
export class Partitioner {
  readonly #fields: Array<{ field: PartitionField; name: string; at: number; decimal: boolean }>;

  constructor(columns: readonly ColdColumn[], spec: readonly PartitionField[]) {
    this.#fields = spec.map((field) => {
      const at = columns.findIndex((c) => c.name === field.source);
      return {
        field,
        name: partitionFieldName(field),
        at,
        decimal: columns[at]?.type === "decimal",
      };
    });
  }

  values(row: Row): Record<string, PartitionValue> {
    const values: Record<string, PartitionValue> = {};
    for (const f of this.#fields) values[f.name] = partitionValue(f.field, this.#value(row, f));
    return values;
  }

  path(row: Row): string {
    return this.#fields
      .map((f) => segment(f.name, partitionValue(f.field, this.#value(row, f))))
      .join("/");
  }

  /**
   * The row's value of a field's column. A hot source's decimal is exact text; the cold store
   * keeps the double, and partitions by it as queries' bounds do.
   */
  #value(row: Row, { at, decimal }: { at: number; decimal: boolean }): Value {
    const v = row[at] as Value;
    return decimal && typeof v === "string" ? Number(v) : v;
  }
}

/**
 * Longest directory name a partition value is spelled out in (bytes): file systems allow 255 per
 * name, and a table's path holds several. Longer ones are named by a hash of the value instead.
 */
export const MAX_SEGMENT_BYTES = 100;
/**
 * Starts a hashed value's name: `@` is one encodeURIComponent always escapes, so no spelled-out
 * value can look like a hashed one (and the hash, 128 bits of SHA-256, tells long values apart).
 */
const HASHED = "@h_";

function segment(name: string, value: PartitionValue): string {
  if (value === null) return `${name}=${NULL_SEGMENT}`;
  const encoded = encodeURIComponent(String(value));
  const plain = `${name}=${encoded}`;
  // A value spelled like the null segment is hashed too: it would share null's directory.
  if (plain.length <= MAX_SEGMENT_BYTES && encoded !== NULL_SEGMENT) return plain;
  // Only the path is hashed: the file's recorded partition values keep the value itself.
  const hash = createHash("sha256").update(String(value)).digest("hex").slice(0, 32);
  return `${name}=${HASHED}${hash}`;
}

/** `ts_day=2025-03-01/id_bucket=3`: a partition's directory under `data/`, in spec order. */
export function partitionPath(
  spec: readonly PartitionField[],
  values: Record<string, PartitionValue>,
): string {
  return spec
    .map((field) => {
      const name = partitionFieldName(field);
      return segment(name, values[name] ?? null);
    })
    .join("/");
}

/**
 * The values a partition path encodes (the inverse of Partitioner.path, except for values too long
 * for a directory name, which come back as their `@h_<hash>` name: read a file's recorded values).
 */
export function parsePartitionPath(path: string): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  if (path === "") return values;
  for (const part of path.split("/")) {
    const eq = part.indexOf("=");
    const value = part.slice(eq + 1);
    values[part.slice(0, eq)] = value === NULL_SEGMENT ? null : decodeURIComponent(value);
  }
  return values;
}

/** A short stable name for a partition, used in file names. */
export function partitionHash(path: string): string {
  return valueHash(path).slice(0, 12);
}

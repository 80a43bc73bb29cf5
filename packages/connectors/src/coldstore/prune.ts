/**
 * Skipping files a statement cannot need, from partition values and min/max alone. Pruning is
 * conservative: a file is skipped only when its statistics prove that no row can match; anything
 * unknown or incomparable keeps the file.
 */
import type { ColumnBounds, Value, ValueType } from "../types.ts";
import {
  type ColdColumn,
  type DataFile,
  type PartitionField,
  partitionFieldName,
  specIdOf,
} from "./model.ts";
import { bucketOf } from "./partition.ts";
import { compareNormal, dayOf, statFromJson } from "./values.ts";

type Bound = { v: Value; inclusive: boolean };

/** Whether `[min, max]` (either may be unknown) can hold a value inside the bounds. */
export function rangeMayMatch(
  min: Value | undefined,
  max: Value | undefined,
  bounds: ColumnBounds,
): boolean {
  if (bounds.lo !== undefined && max !== undefined && belowLo(max, bounds.lo)) return false;
  if (bounds.hi !== undefined && min !== undefined && aboveHi(min, bounds.hi)) return false;
  if (bounds.values !== undefined) {
    return bounds.values.some((v) => {
      if (v === null || v === undefined) return true;
      if (bounds.lo !== undefined && belowLo(v, bounds.lo)) return false;
      if (bounds.hi !== undefined && aboveHi(v, bounds.hi)) return false;
      const geMin = min === undefined ? 0 : compareNormal(v, min);
      const leMax = max === undefined ? 0 : compareNormal(v, max);
      return (geMin === undefined || geMin >= 0) && (leMax === undefined || leMax <= 0);
    });
  }
  return true;
}

/** `value` is below the lower bound, provably. */
function belowLo(value: Value, lo: Bound): boolean {
  const c = compareNormal(value, lo.v);
  return c !== undefined && (c < 0 || (c === 0 && !lo.inclusive));
}

function aboveHi(value: Value, hi: Bound): boolean {
  const c = compareNormal(value, hi.v);
  return c !== undefined && (c > 0 || (c === 0 && !hi.inclusive));
}

/** Bounds on a column, as bounds on its day (inclusive both ends: a day holds many values). */
function dayBounds(bounds: ColumnBounds): ColumnBounds | undefined {
  const out: ColumnBounds = {};
  if (bounds.values !== undefined) {
    const days: Value[] = [];
    for (const v of bounds.values) {
      if (v === null || v === undefined) continue;
      const day = dayOf(v);
      if (day === undefined) return undefined;
      days.push(day);
    }
    out.values = days;
  }
  if (bounds.lo !== undefined) {
    const day = dayOf(bounds.lo.v);
    if (day !== undefined) out.lo = { v: day, inclusive: true };
  }
  if (bounds.hi !== undefined) {
    const day = dayOf(bounds.hi.v);
    if (day !== undefined) out.hi = { v: day, inclusive: true };
  }
  return out;
}

/** A partition value in the column's normal form, for identity partitions. */
function identityValue(value: string | number | null | undefined, type: ValueType): Value {
  if (value === null || value === undefined) return null;
  if (type === "bigint" || type === "timestamp") {
    return typeof value === "number" || /^-?\d+$/.test(value) ? BigInt(value) : undefined;
  }
  if (type === "integer" || type === "decimal") return Number(value);
  if (type === "boolean") return value === "true";
  return value;
}

function partitionMayMatch(
  field: PartitionField,
  type: ValueType,
  value: string | number | null | undefined,
  bounds: ColumnBounds,
): boolean {
  const wantsNull = bounds.values?.some((v) => v === null || v === undefined) ?? false;
  if (value === undefined) return true;
  if (value === null) return wantsNull || (bounds.values === undefined && !bounds.lo && !bounds.hi);
  switch (field.transform) {
    case "day": {
      const days = dayBounds(bounds);
      return days === undefined || rangeMayMatch(value, value, days);
    }
    case "identity": {
      const v = identityValue(value, type);
      return v === undefined || rangeMayMatch(v, v, bounds);
    }
    case "bucket": {
      if (bounds.values === undefined) return true;
      return bounds.values.some(
        (v) => v === null || v === undefined || bucketOf(v, field.buckets) === value,
      );
    }
  }
}

/**
 * Whether a file may hold rows within every column's bounds. Its partition values count only when
 * it was written under `specId`, the spec `spec` is (a file of an earlier spec, as a write that
 * raced a repartition leaves, is judged by its min/max alone).
 */
export function fileMayMatch(
  file: DataFile,
  columns: readonly ColdColumn[],
  spec: readonly PartitionField[],
  bounds: Record<string, ColumnBounds>,
  specId = 0,
): boolean {
  const fields = specIdOf(file) === specId ? spec : [];
  for (const [name, bound] of Object.entries(bounds)) {
    const column = columns.find((c) => c.name === name);
    if (column === undefined || bound === undefined) continue;
    const wantsNull = bound.values?.some((v) => v === null || v === undefined) ?? false;
    const restricts =
      bound.values !== undefined || bound.lo !== undefined || bound.hi !== undefined;
    for (const field of fields) {
      if (field.source !== name) continue;
      const value = file.partition[partitionFieldName(field)];
      if (!partitionMayMatch(field, column.type, value, bound)) return false;
    }
    const stats = file.columns[name];
    if (stats === undefined) continue;
    // A file of nulls only holds nothing a comparison or equality can match.
    if (restricts && !wantsNull && stats.nulls >= file.rowCount && file.rowCount > 0) return false;
    const min = statFromJson(stats.min, column.type);
    const max = statFromJson(stats.max, column.type);
    if (wantsNull && stats.nulls > 0) continue;
    if (!rangeMayMatch(min, max, bound)) return false;
  }
  return true;
}

export function pruneFiles(
  files: readonly DataFile[],
  columns: readonly ColdColumn[],
  spec: readonly PartitionField[],
  bounds: Record<string, ColumnBounds>,
  specId = 0,
): DataFile[] {
  return files.filter((file) => fileMayMatch(file, columns, spec, bounds, specId));
}

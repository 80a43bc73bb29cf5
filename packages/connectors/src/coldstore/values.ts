/**
 * Normal-form values (as connectors return them) for the cold store: ordering for pruning,
 * the JSON form min/max take in metadata, and days of dates and timestamps.
 */
import { dateFromDays } from "../timestamps.ts";
import type { Value, ValueType } from "../types.ts";

const NS_PER_DAY = 86_400_000_000_000n;
const encoder = new TextEncoder();

/**
 * Orders two normal-form values as DuckDB orders them (numbers numerically across number and
 * bigint, text by UTF-8 bytes, false < true); undefined when they cannot be compared, which
 * callers treat as "may match".
 */
export function compareNormal(a: Value, b: Value): number | undefined {
  if (a === null || a === undefined || b === null || b === undefined) return undefined;
  if (typeof a === "bigint" || typeof b === "bigint") {
    const x = toBigintish(a);
    const y = toBigintish(b);
    if (x === undefined || y === undefined) return undefined;
    if (typeof x === "bigint" && typeof y === "bigint") return x < y ? -1 : x > y ? 1 : 0;
    // One side is a non-integral number: compare as doubles.
    const fx = Number(x);
    const fy = Number(y);
    return fx < fy ? -1 : fx > fy ? 1 : 0;
  }
  if (typeof a === "number" && typeof b === "number") {
    if (Number.isNaN(a) || Number.isNaN(b)) return undefined;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === "string" && typeof b === "string") return compareUtf8(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return undefined;
}

function toBigintish(v: Value): bigint | number | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isFinite(v)) return Number.isInteger(v) ? BigInt(v) : v;
  return undefined;
}

/** Byte-wise UTF-8 order: code point order, which UTF-16 comparison gets wrong past U+FFFF. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
}

/** A min or max as metadata keeps it: JSON only, bigints as decimal strings; null when not kept. */
export function statToJson(value: Value, type: ValueType): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case "bigint":
    case "timestamp":
      return typeof value === "bigint" || typeof value === "number" ? String(value) : null;
    case "integer":
    case "double":
    case "decimal":
      return typeof value === "number" && Number.isFinite(value) ? value : null;
    case "text":
    case "date":
      return typeof value === "string" ? value : null;
    case "boolean":
      return typeof value === "boolean" ? value : null;
    default:
      return null;
  }
}

/** The normal-form value of a metadata min/max; undefined when absent or unreadable. */
export function statFromJson(value: unknown, type: ValueType): Value | undefined {
  if (value === null || value === undefined) return undefined;
  switch (type) {
    case "bigint":
    case "timestamp":
      if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
      if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
      return undefined;
    case "integer":
    case "double":
    case "decimal":
      return typeof value === "number" ? value : undefined;
    case "text":
    case "date":
      return typeof value === "string" ? value : undefined;
    case "boolean":
      return typeof value === "boolean" ? value : undefined;
    default:
      return undefined;
  }
}

/** The UTC day of a date (`YYYY-MM-DD`) or timestamp (ns bigint); undefined for anything else. */
export function dayOf(value: Value): string | undefined {
  if (typeof value === "bigint") {
    const q = value / NS_PER_DAY;
    const days = value % NS_PER_DAY !== 0n && value < 0n ? q - 1n : q;
    return dateFromDays(Number(days));
  }
  if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value)) return value.slice(0, 10);
  return undefined;
}

/** A normal-form value as a DuckDB SQL literal of the column's type (for COPY, which binds nothing). */
export function sqlLiteral(value: Value, type: ValueType): string {
  if (value === null || value === undefined) return "NULL";
  const text = (s: string) => `'${s.replaceAll("'", "''")}'`;
  switch (type) {
    case "timestamp":
      if (typeof value === "bigint") {
        const q = value / 1000n;
        const micros = value % 1000n !== 0n && value < 0n ? q - 1n : q;
        return `make_timestamp(${micros}::BIGINT)`;
      }
      return `CAST(${text(String(value))} AS TIMESTAMP)`;
    case "date":
      return `CAST(${text(String(value))} AS DATE)`;
    case "integer":
    case "bigint":
      return `${BigInt(value as number | bigint)}`;
    case "double":
    case "decimal":
      return `CAST(${text(String(Number(value)))} AS DOUBLE)`;
    case "boolean":
      return value ? "TRUE" : "FALSE";
    default:
      return text(String(value));
  }
}

/** The DuckDB column type a cold table stores an engine type as. */
export function duckdbTypeOf(type: ValueType): string {
  switch (type) {
    case "boolean":
      return "BOOLEAN";
    case "integer":
      return "INTEGER";
    case "bigint":
      return "BIGINT";
    case "double":
    case "decimal":
      return "DOUBLE";
    case "date":
      return "DATE";
    case "timestamp":
      return "TIMESTAMP";
    case "json":
      return "JSON";
    case "blob":
      return "BLOB";
    default:
      return "VARCHAR";
  }
}

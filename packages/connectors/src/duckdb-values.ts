import {
  arrayFromArrayValue,
  arrayFromListValue,
  bigintFromBigIntValue,
  blobValue,
  booleanFromValue,
  createDuckDBValueConverter,
  type DuckDBBlobValue,
  type DuckDBDateValue,
  type DuckDBDecimalType,
  DuckDBDecimalValue,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBTimestampNanosecondsValue,
  type DuckDBTimestampSecondsValue,
  type DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBValue,
  type DuckDBValueConverter,
  dateValue,
  numberFromValue,
  objectArrayFromMapValue,
  objectFromStructValue,
  stringFromValue,
  timestampValue,
} from "@duckdb/node-api";
import { dateFromDays } from "./timestamps.ts";
import type { Value, ValueType } from "./types.ts";

const asText = (value: DuckDBValue) => String(value);
const asJsonOrText: DuckDBValueConverter<unknown> = (value, type) =>
  type.alias === "JSON" ? JSON.parse(String(value)) : stringFromValue(value);
const bytes = (value: DuckDBValue) => new Uint8Array((value as DuckDBBlobValue).bytes);
const date = (value: DuckDBValue) => {
  const days = (value as DuckDBDateValue).days;
  // ±infinity are stored as the extreme day numbers; text keeps them readable.
  return Math.abs(days) >= 2_147_483_647 ? String(value) : dateFromDays(days);
};

/** A DECIMAL as its exact text with every place of its scale (`12.50`), as PostgreSQL prints one. */
function decimalText({ value, scale }: DuckDBDecimalValue): string {
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString();
  if (scale === 0) return negative ? `-${digits}` : digits;
  const padded = digits.padStart(scale + 1, "0");
  const point = padded.length - scale;
  return `${negative ? "-" : ""}${padded.slice(0, point)}.${padded.slice(point)}`;
}

/** Decimal text (or a number) as DuckDB's DECIMAL(width, scale): exact, rounded half away from zero. */
function decimalValueOf(value: Value, width: number, scale: number): DuckDBDecimalValue {
  const m = /^\s*([-+]?)(\d*)(?:\.(\d*))?\s*$/.exec(typeof value === "string" ? value : "");
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) {
    return DuckDBDecimalValue.fromDouble(Number(value), width, scale);
  }
  const fraction = m[3] ?? "";
  const kept = fraction.slice(0, scale).padEnd(scale, "0");
  let unscaled = BigInt(`${m[2] || "0"}${kept}`);
  // The first dropped digit decides the rounding.
  if ((fraction.charCodeAt(scale) || 48) >= 53) unscaled += 1n;
  return new DuckDBDecimalValue(m[1] === "-" ? -unscaled : unscaled, width, scale);
}

/** DuckDB values to the engine's normal form (documented on ValueType). */
export const duckdbValueConverter: DuckDBValueConverter<unknown> =
  createDuckDBValueConverter<unknown>({
    [DuckDBTypeId.INVALID]: asText,
    [DuckDBTypeId.BOOLEAN]: booleanFromValue,
    [DuckDBTypeId.TINYINT]: numberFromValue,
    [DuckDBTypeId.SMALLINT]: numberFromValue,
    [DuckDBTypeId.INTEGER]: numberFromValue,
    [DuckDBTypeId.BIGINT]: bigintFromBigIntValue,
    [DuckDBTypeId.UTINYINT]: numberFromValue,
    [DuckDBTypeId.USMALLINT]: numberFromValue,
    [DuckDBTypeId.UINTEGER]: numberFromValue,
    [DuckDBTypeId.UBIGINT]: bigintFromBigIntValue,
    [DuckDBTypeId.FLOAT]: (v) => shortestFloat32(v as number),
    [DuckDBTypeId.DOUBLE]: numberFromValue,
    [DuckDBTypeId.TIMESTAMP]: (v) => (v as DuckDBTimestampValue).micros * 1000n,
    [DuckDBTypeId.TIMESTAMP_TZ]: (v) => (v as DuckDBTimestampValue).micros * 1000n,
    [DuckDBTypeId.TIMESTAMP_S]: (v) => (v as DuckDBTimestampSecondsValue).seconds * 1_000_000_000n,
    [DuckDBTypeId.TIMESTAMP_MS]: (v) => (v as DuckDBTimestampMillisecondsValue).millis * 1_000_000n,
    [DuckDBTypeId.TIMESTAMP_NS]: (v) => (v as DuckDBTimestampNanosecondsValue).nanos,
    [DuckDBTypeId.DATE]: date,
    [DuckDBTypeId.TIME]: asText,
    [DuckDBTypeId.TIME_NS]: asText,
    [DuckDBTypeId.TIME_TZ]: asText,
    [DuckDBTypeId.INTERVAL]: asText,
    [DuckDBTypeId.HUGEINT]: bigintFromBigIntValue,
    [DuckDBTypeId.UHUGEINT]: bigintFromBigIntValue,
    [DuckDBTypeId.BIGNUM]: bigintFromBigIntValue,
    [DuckDBTypeId.VARCHAR]: asJsonOrText,
    [DuckDBTypeId.BLOB]: bytes,
    [DuckDBTypeId.DECIMAL]: (v) => decimalText(v as DuckDBDecimalValue),
    [DuckDBTypeId.ENUM]: stringFromValue,
    [DuckDBTypeId.UUID]: asText,
    [DuckDBTypeId.LIST]: arrayFromListValue,
    [DuckDBTypeId.ARRAY]: arrayFromArrayValue,
    [DuckDBTypeId.STRUCT]: objectFromStructValue,
    [DuckDBTypeId.MAP]: objectArrayFromMapValue,
    [DuckDBTypeId.UNION]: asText,
    [DuckDBTypeId.BIT]: asText,
    [DuckDBTypeId.ANY]: asText,
    [DuckDBTypeId.SQLNULL]: () => null,
    [DuckDBTypeId.STRING_LITERAL]: asText,
    [DuckDBTypeId.INTEGER_LITERAL]: asText,
    [DuckDBTypeId.GEOMETRY]: bytes,
    [DuckDBTypeId.VARIANT]: asText,
  });

/**
 * A 32-bit float as the shortest decimal that reads back as the same float, which is what
 * PostgreSQL (`real`) and MySQL (`FLOAT`) print: 1.1, not 1.100000023841858. As PostgreSQL's
 * (Ryu) does, it takes only a decimal strictly inside the float's rounding interval, the nearer
 * of the two that bracket the float, and of two as near the one whose last digit is even.
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const single = Math.fround(value);
  const magnitude = Math.abs(single);
  const down = adjacentFloat32(magnitude, -1);
  const up = adjacentFloat32(magnitude, 1);
  const below = magnitude - (magnitude - down) / 2;
  // Past the largest float, the interval is as wide above as below.
  const above = magnitude + (Number.isFinite(up) ? up - magnitude : magnitude - down) / 2;
  // Away from a power of two the interval is even about the float, so the first nearest decimal
  // inside it is the answer — unless the float lies midway between two, decided exactly below.
  if (up - magnitude === magnitude - down) {
    for (let count = 1; count <= 9; count++) {
      const nearest = Number(magnitude.toPrecision(count));
      if (!(nearest > below && nearest < above)) continue;
      const next = magnitude.toPrecision(count + 1).replace(/e.*/, "");
      if (!next.endsWith("5")) return Math.sign(single) * nearest;
      break;
    }
  }
  return Math.sign(single) * shortestInside(magnitude, below, above);
}

/** The shortest decimal strictly between `below` and `above`, found from the float's digits. */
function shortestInside(magnitude: number, below: number, above: number): number {
  const { digits, exponent } = exactDecimal(magnitude);
  for (let count = 1; count <= 9; count++) {
    const lower = BigInt(digits.slice(0, count).padEnd(count, "0"));
    const rest = digits.slice(count);
    const scale = exponent - count;
    const inside = (m: bigint) => {
      const v = Number(`${m}e${scale}`);
      return v > below && v < above ? v : undefined;
    };
    const [low, high] = [inside(lower), rest === "" ? undefined : inside(lower + 1n)];
    if (low === undefined && high === undefined) continue;
    // `rest` is the float's digits past the lower one: above, at or below the midpoint 5.
    const highNearer = rest > "5" || (rest === "5" && lower % 2n === 1n);
    return (high !== undefined && (low === undefined || highNearer) ? high : low) as number;
  }
  return magnitude;
}

/**
 * A positive double's exact decimal digits (no leading or trailing zeros) and the power of ten
 * after them: 0.375 is `{ digits: "375", exponent: 0 }`, read 0.375.
 */
function exactDecimal(positive: number): { digits: string; exponent: number } {
  // A float's exact decimal has at most 105 significant digits (2^-149); 100 are kept.
  const [mantissa, power] = positive.toExponential(99).split("e");
  const digits = (mantissa as string).replace(".", "").replace(/0+$/, "");
  return { digits, exponent: Number(power) + 1 };
}

const FLOAT32 = new Float32Array(1);
const FLOAT32_BITS = new Uint32Array(FLOAT32.buffer);

/** The next positive 32-bit float above (`step` 1) or below (-1) a positive one. */
function adjacentFloat32(positive: number, step: 1 | -1): number {
  FLOAT32[0] = positive;
  FLOAT32_BITS[0] = (FLOAT32_BITS[0] as number) + step;
  return FLOAT32[0] as number;
}

/** The engine type of a DuckDB column type. */
export function duckdbValueType(type: DuckDBType): ValueType {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return "boolean";
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return "integer";
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return "bigint";
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return "double";
    case DuckDBTypeId.DECIMAL:
      return "decimal";
    case DuckDBTypeId.VARCHAR:
      return type.alias === "JSON" ? "json" : "text";
    case DuckDBTypeId.ENUM:
    case DuckDBTypeId.UUID:
      return "text";
    case DuckDBTypeId.DATE:
      return "date";
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_NS:
      return "timestamp";
    case DuckDBTypeId.BLOB:
      return "blob";
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY:
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
      return "json";
    default:
      return "unknown";
  }
}

/** The engine type of a catalog type name (duckdb_columns().data_type). */
export function duckdbCatalogType(name: string): ValueType {
  const t = name.toUpperCase();
  if (t === "BOOLEAN") return "boolean";
  if (/^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|UINTEGER)$/.test(t)) return "integer";
  if (/^(BIGINT|UBIGINT|HUGEINT|UHUGEINT|BIGNUM|VARINT)$/.test(t)) return "bigint";
  if (t === "FLOAT" || t === "DOUBLE") return "double";
  if (t.startsWith("DECIMAL")) return "decimal";
  if (t === "JSON") return "json";
  if (t === "VARCHAR" || t === "UUID" || t.startsWith("ENUM")) return "text";
  if (t === "DATE") return "date";
  if (t.startsWith("TIMESTAMP")) return "timestamp";
  if (t === "BLOB") return "blob";
  if (t.endsWith("[]") || /^(STRUCT|MAP)\(/.test(t) || /\[\d+\]$/.test(t)) return "json";
  return "unknown";
}

/**
 * An engine value as a DuckDB value for a column of `type` (the appender's path): timestamps
 * arrive as ns bigints, dates as `YYYY-MM-DD`, JSON as parsed values.
 */
export function toDuckdbValue(value: Value, type: DuckDBType): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      if (typeof value === "bigint") return timestampValue(floorDiv(value, 1000n));
      if (typeof value === "number") return timestampValue(BigInt(Math.floor(value / 1000)));
      return String(value);
    case DuckDBTypeId.DATE:
      if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value)) {
        return dateValue(Math.round(Date.parse(`${value}T00:00:00Z`) / 86_400_000));
      }
      return String(value);
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UBIGINT:
      return typeof value === "bigint" ? value : BigInt(value as number | string);
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.FLOAT:
      return typeof value === "number" ? value : Number(value);
    case DuckDBTypeId.BOOLEAN:
      return Boolean(value);
    case DuckDBTypeId.BLOB:
      return value instanceof Uint8Array ? blobValue(value) : blobValue(String(value));
    case DuckDBTypeId.DECIMAL: {
      const { width, scale } = type as DuckDBDecimalType;
      return decimalValueOf(value, width, scale);
    }
    case DuckDBTypeId.VARCHAR:
      // JSON columns take every value as JSON text (a string too: `"x"`). Where the alias is
      // lost, structured values still go in as JSON text.
      if (type.alias === "JSON") return JSON.stringify(value);
      if (typeof value === "string") return value;
      if (typeof value === "object") return JSON.stringify(value);
      return String(value);
    default:
      return value as DuckDBValue;
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

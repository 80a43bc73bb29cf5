/** Comparing, hashing and converting values with PostgreSQL's semantics on the engine's types. */
import { Decimal } from "./decimal.ts";
import { badRequest } from "./errors.ts";
import type { SqlType, Value } from "./types.ts";

export const NUMERIC_TYPES: ReadonlySet<SqlType> = new Set([
  "integer",
  "bigint",
  "double",
  "decimal",
]);

export function isNumericType(t: SqlType): boolean {
  return NUMERIC_TYPES.has(t);
}

export function isIntegerType(t: SqlType): boolean {
  return t === "integer" || t === "bigint";
}

/** Total order for non-null values of comparable types; code point (UTF-8 byte) order for text. */
export function compareValues(a: Value, b: Value): number {
  if (typeof a === "number" && typeof b === "number") {
    if (a < b) return -1;
    if (a > b) return 1;
    // NaN is above every number and equal to itself, as PostgreSQL orders doubles.
    return a === b ? 0 : Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
  }
  if (typeof a === "string" && typeof b === "string") return compareText(a, b);
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Decimal || b instanceof Decimal) {
    const c = compareDecimal(a, b);
    if (c !== undefined) return c;
  }
  if (typeof a === "bigint" && typeof b === "number") return -compareNumberBigint(b, a);
  if (typeof a === "number" && typeof b === "bigint") return compareNumberBigint(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
    return a.length - b.length;
  }
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * Code point order, which is the UTF-8 byte order of "C" collations and DuckDB. JavaScript's `<`
 * compares UTF-16 code units, which puts astral characters (surrogate pairs) before U+E000–U+FFFF.
 */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) < codePointRank(y) ? -1 : 1;
  }
  return a.length < b.length ? -1 : 1;
}

/** Moves surrogates above U+E000–U+FFFF, keeping every other code unit's order. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

function compareNumberBigint(a: number, b: bigint): number {
  if (Number.isInteger(a)) {
    const ab = BigInt(a);
    return ab < b ? -1 : ab > b ? 1 : 0;
  }
  if (Number.isNaN(a)) return 1;
  const bn = Number(b);
  return a < bn ? -1 : a > bn ? 1 : 0;
}

/**
 * A decimal against a number: exactly against a decimal, a bigint or an integral number; against
 * any other number as doubles, as PostgreSQL compares numeric with float8 (NaN and ±Infinity
 * placed as doubles are). Undefined when `b` is not numeric.
 */
function compareDecimal(a: Value, b: Value): number | undefined {
  if (!(a instanceof Decimal)) {
    const c = compareDecimal(b, a);
    return c === undefined ? undefined : -c;
  }
  if (b instanceof Decimal) return a.compare(b);
  if (typeof b === "bigint") return a.compare(Decimal.fromInteger(b));
  if (typeof b !== "number") return undefined;
  if (Number.isInteger(b)) return a.compare(Decimal.fromInteger(b));
  const x = a.toNumber();
  if (x < b) return -1;
  if (x > b) return 1;
  return x === b ? 0 : -1; // b is NaN: above every number
}

/** Sort comparison with NULL placement: PostgreSQL puts NULLs last ascending, first descending. */
export function compareForSort(a: Value, b: Value, desc: boolean, nullsFirst: boolean): number {
  const an = a === null || a === undefined;
  const bn = b === null || b === undefined;
  if (an || bn) {
    if (an && bn) return 0;
    return an === nullsFirst ? -1 : 1;
  }
  const c = compareValues(a, b);
  return desc ? -c : c;
}

/** The bigints a double holds exactly; built once, as keys and outputs are made per value. */
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A hash key for one value: numbers and bigints that are equal map to the same key, so an int
 * column joins a bigint column. Null has no key (it never matches).
 */
export function keyOf(v: Value): unknown {
  if (typeof v === "bigint") return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : `n${v}`;
  if (typeof v === "number") {
    // Integers past 2^53 key like the bigint of the same value.
    if (!Number.isSafeInteger(v) && Number.isInteger(v)) return `n${BigInt(v)}`;
    return Object.is(v, -0) ? 0 : v;
  }
  if (v instanceof Decimal) return decimalKey(v);
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString("hex")}`;
  if (typeof v === "object" && v !== null) return `j${JSON.stringify(v)}`;
  return v;
}

/**
 * A decimal keys like the number it equals where one does (an integer, or the double whose
 * shortest text is the decimal), so decimal columns join integer and double ones; otherwise by
 * its digits, with equal decimals of different scales (`1.5`, `1.50`) keyed alike.
 */
function decimalKey(d: Decimal): unknown {
  if (d.isInteger()) return keyOf(d.round(0).unscaled);
  const n = d.toNumber();
  const shortest = Decimal.fromDouble(n);
  if (shortest && shortest.compare(d) === 0) return n;
  const reduced = d.withoutTrailingZeros();
  return `d${reduced.unscaled}e${reduced.scale}`;
}

/** A composite key for several values; undefined when any is null (SQL equality never matches). */
export function compositeKey(values: readonly Value[]): unknown {
  return tupleKey(values, false);
}

/** A grouping key, where NULLs are equal to each other (GROUP BY and DISTINCT semantics). */
export function groupKey(values: readonly Value[]): unknown {
  return tupleKey(values, true);
}

function tupleKey(values: readonly Value[], nullsEqual: boolean): unknown {
  if (values.length === 1) {
    const v = values[0];
    if (v !== null && v !== undefined) return keyOf(v);
    return nullsEqual ? NULL_KEY : undefined;
  }
  const parts: string[] = [];
  for (const v of values) {
    if (v === null || v === undefined) {
      if (!nullsEqual) return undefined;
      parts.push("∅");
    } else {
      const k = keyOf(v);
      parts.push(`${typeof k}:${String(k).length}:${String(k)}`);
    }
  }
  return parts.join("|");
}

export const NULL_KEY = Symbol("null");

/**
 * Output values: 64-bit integers that fit a double become numbers, so every path agrees, and
 * decimals their exact text (as PostgreSQL's drivers give numeric).
 */
export function normalizeOutput(v: Value): Value {
  if (v === undefined) return null;
  if (v instanceof Decimal) return v.toString();
  if (typeof v === "bigint" && v >= MIN_SAFE && v <= MAX_SAFE) return Number(v);
  return v;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP =
  /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** A text value as a date (`YYYY-MM-DD`), or an error naming the value. */
export function toDate(v: Value): string {
  if (typeof v === "bigint") return nsToIso(v).slice(0, 10);
  const s = String(v).trim();
  if (DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`))) return s;
  const m = TIMESTAMP.exec(s);
  if (m?.[1]) return m[1];
  throw badRequest(`invalid date: ${JSON.stringify(s)}`);
}

/** A text or date value as nanoseconds since the epoch, UTC. */
export function toTimestampNs(v: Value): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") return BigInt(Math.trunc(v)) * 1_000_000n;
  const s = String(v).trim();
  const m = TIMESTAMP.exec(s);
  if (!m) throw badRequest(`invalid timestamp: ${JSON.stringify(s)}`);
  const [, date, hh = "00", mm = "00", ss = "00", frac = "", zone] = m;
  let offsetMin = 0;
  if (zone && zone.toUpperCase() !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
  }
  const ms = Date.parse(`${date}T${hh}:${mm}:${ss}Z`);
  if (Number.isNaN(ms)) throw badRequest(`invalid timestamp: ${JSON.stringify(s)}`);
  const nanos = BigInt(frac.padEnd(9, "0").slice(0, 9));
  return (BigInt(ms) - BigInt(offsetMin) * 60_000n) * 1_000_000n + nanos;
}

export function nsToIso(ns: bigint): string {
  // Floor division: before 1970 the sub-millisecond part still counts forward from `ms`.
  let ms = ns / 1_000_000n;
  let rest = ns % 1_000_000n;
  if (rest < 0n) {
    ms -= 1n;
    rest += 1_000_000n;
  }
  const base = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const micros = rest / 1000n;
  return `${base.slice(0, 23)}${micros.toString().padStart(3, "0")}Z`;
}

/** Converts a value to the given type, as CAST does. */
export function castValue(v: Value, type: SqlType): Value {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "integer":
    case "bigint": {
      let n: bigint;
      if (typeof v === "bigint") n = v;
      else if (v instanceof Decimal) n = v.toBigInt();
      else if (typeof v === "number") n = BigInt(Math.round(v));
      else if (typeof v === "boolean") n = v ? 1n : 0n;
      else {
        const s = String(v).trim();
        if (!/^[+-]?\d+$/.test(s))
          throw badRequest(`invalid input for ${type}: ${JSON.stringify(s)}`);
        n = BigInt(s);
      }
      if (type === "integer") {
        if (n > 2147483647n || n < -2147483648n) throw badRequest("integer out of range");
        return Number(n);
      }
      return n;
    }
    case "double": {
      if (v instanceof Decimal) return v.toNumber();
      if (typeof v === "number") return v;
      const n = Number(typeof v === "string" ? v.trim() : v);
      if (Number.isNaN(n) && !(typeof v === "string" && v.trim().toLowerCase() === "nan")) {
        throw badRequest(`invalid input for ${type}: ${JSON.stringify(String(v))}`);
      }
      return n;
    }
    case "decimal":
      return toDecimalValue(v);
    case "text":
      if (
        typeof v === "bigint" ||
        typeof v === "number" ||
        typeof v === "boolean" ||
        v instanceof Decimal
      )
        return String(v);
      if (typeof v === "string") return v;
      return JSON.stringify(v);
    case "boolean": {
      if (typeof v === "boolean") return v;
      const s = String(v).trim().toLowerCase();
      if (["t", "true", "yes", "on", "1"].includes(s)) return true;
      if (["f", "false", "no", "off", "0"].includes(s)) return false;
      throw badRequest(`invalid input for boolean: ${JSON.stringify(String(v))}`);
    }
    case "date":
      return toDate(v);
    case "timestamp":
      return toTimestampNs(v);
    default:
      return v;
  }
}

/**
 * A value as a decimal, as a cast to numeric reads it: a double rounded to 15 significant digits
 * as PostgreSQL's cast does, text exactly. NaN and ±Infinity (which numeric also holds) stay
 * doubles.
 */
export function toDecimalValue(v: Value): Value {
  if (v === null || v === undefined || v instanceof Decimal) return v ?? null;
  if (typeof v === "bigint") return Decimal.fromInteger(v);
  if (typeof v === "number") {
    if (Number.isInteger(v)) return Decimal.fromInteger(v);
    return Decimal.fromDoubleCast(v) ?? v;
  }
  if (typeof v === "boolean") return Decimal.fromInteger(v ? 1 : 0);
  const s = String(v).trim();
  const d = Decimal.parse(s);
  if (d) return d;
  const special = SPECIAL_NUMERICS[s.toLowerCase()];
  if (special !== undefined) return special;
  throw badRequest(`invalid input for decimal: ${JSON.stringify(s)}`);
}

/** `numeric(precision, scale)`: at most `precision` digits, `scale` of them after the point. */
export interface NumericTypmod {
  precision: number;
  scale: number;
}

/** A cast to numeric(p, s): rounded to s places, refused when its integer part is too long. */
export function castToNumeric(v: Value, typmod: NumericTypmod): Value {
  if (v === null || v === undefined) return null;
  const d = toDecimalValue(v);
  if (!(d instanceof Decimal)) {
    if (Number.isNaN(d)) return d;
    throw badRequest(
      `cannot hold an infinite value in numeric(${typmod.precision}, ${typmod.scale})`,
    );
  }
  const rounded = d.round(typmod.scale);
  const integerDigits = rounded.abs().truncate(0).unscaled.toString().replace(/^0$/, "").length;
  const digits = typmod.precision - typmod.scale;
  if (integerDigits > digits) {
    throw badRequest(
      `numeric field overflow: a field with precision ${typmod.precision}, scale ${typmod.scale} must round to an absolute value less than ${digits > 0 ? `10^${digits}` : "1"}`,
    );
  }
  return rounded;
}

const SPECIAL_NUMERICS: Record<string, number> = {
  nan: Number.NaN,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};

/** A row's data size, for per-source byte counts (heap-size.ts sizes what operators hold). */
export function rowBytes(row: readonly Value[]): number {
  let n = 16;
  for (const v of row) {
    if (typeof v === "string") n += 16 + v.length;
    else if (v instanceof Decimal) n += 16;
    else if (v instanceof Uint8Array) n += 16 + v.length;
    else n += 8;
  }
  return n;
}

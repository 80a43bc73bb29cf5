import { parseTimestampNs } from "./timestamps.ts";
import type { ValueType } from "./types.ts";

/** One PostgreSQL type: how the engine sees it, its name, and how its text form is read. */
interface PgType {
  type: ValueType;
  native: string;
  parse: (text: string) => unknown;
}

const asString = (text: string) => text;
/** `char(n)` arrives padded to n blanks; the padding is not part of the value. */
const withoutPadding = (text: string) => text.replace(/ +$/, "");
const asNumber = (text: string) => Number(text);
const asFloat = (text: string) => Number.parseFloat(text);
const asTimestamp = (text: string) => parseTimestampNs(text) ?? text;
const asBytes = (text: string): Uint8Array =>
  // bytea arrives hex-encoded (`\x0a1b`), the default since PostgreSQL 9.0.
  text.startsWith("\\x")
    ? new Uint8Array(Buffer.from(text.slice(2), "hex"))
    : new Uint8Array(Buffer.from(text, "latin1"));

function t(type: ValueType, native: string, parse: (text: string) => unknown): PgType {
  return { type, native, parse };
}

/** Built-in type OIDs (pg_type.oid), stable across PostgreSQL versions. */
const TYPES = new Map<number, PgType>([
  [16, t("boolean", "boolean", (text) => text === "t" || text === "true")],
  [20, t("bigint", "bigint", (text) => BigInt(text))],
  [21, t("integer", "smallint", asNumber)],
  [23, t("integer", "integer", asNumber)],
  [26, t("integer", "oid", asNumber)],
  [700, t("double", "real", asFloat)],
  [701, t("double", "double precision", asFloat)],
  [1700, t("decimal", "numeric", asString)],
  [790, t("text", "money", asString)],
  [18, t("text", '"char"', asString)],
  [19, t("text", "name", asString)],
  [25, t("text", "text", asString)],
  [1042, t("text", "character", withoutPadding)],
  [1043, t("text", "character varying", asString)],
  [2950, t("text", "uuid", asString)],
  [1082, t("date", "date", asString)],
  [1114, t("timestamp", "timestamp without time zone", asTimestamp)],
  [1184, t("timestamp", "timestamp with time zone", asTimestamp)],
  [114, t("json", "json", (text) => JSON.parse(text))],
  [3802, t("json", "jsonb", (text) => JSON.parse(text))],
  [17, t("blob", "bytea", asBytes)],
]);

/** Names of common types the engine has no own type for (shown as `unknown`, as text). */
const OTHER_NAMES = new Map<number, string>([
  [1083, "time without time zone"],
  [1266, "time with time zone"],
  [1186, "interval"],
  [869, "inet"],
  [650, "cidr"],
  [829, "macaddr"],
  [142, "xml"],
  [1560, "bit"],
  [1562, "bit varying"],
  [3614, "tsvector"],
  [1007, "integer[]"],
  [1016, "bigint[]"],
  [1009, "text[]"],
  [1015, "character varying[]"],
  [1022, "double precision[]"],
]);

/** The OID of `character(n)` (bpchar). */
export const BLANK_PADDED_OID = 1042;

/** The OID of `money`, read as its text but compared by amount. */
export const MONEY_OID = 790;

/** The OID of `real`, a 32-bit float. */
export const REAL_OID = 700;

/** The OID of `uuid`, read as its canonical text but compared with text as a uuid. */
export const UUID_OID = 2950;

export function postgresType(oid: number): { type: ValueType; native: string } {
  const known = TYPES.get(oid);
  if (known !== undefined) return { type: known.type, native: known.native };
  return { type: "unknown", native: OTHER_NAMES.get(oid) ?? `oid ${oid}` };
}

/**
 * Per-query type parsers (the query config's `types`), so pg's process-wide parsers stay
 * untouched. Types without a parser here stay text.
 */
export const postgresTypeParsers = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (format === "binary") return asString;
    return TYPES.get(oid)?.parse ?? asString;
  },
};

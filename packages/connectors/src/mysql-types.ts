import { parseTimestampNs } from "./timestamps.ts";
import type { ValueType } from "./types.ts";

/** What the result metadata says about one column (mysql2's column definition). */
export interface MysqlField {
  name: string;
  columnType?: number | undefined;
  type?: number | undefined;
  characterSet?: number | undefined;
  columnLength?: number | undefined;
  extendedFormat?: string | undefined;
}

const BINARY_CHARSET = 63;

/** MySQL protocol column type codes. */
const T = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const NATIVE: Record<number, string> = {
  [T.DECIMAL]: "decimal",
  [T.TINY]: "tinyint",
  [T.SHORT]: "smallint",
  [T.LONG]: "int",
  [T.FLOAT]: "float",
  [T.DOUBLE]: "double",
  [T.NULL]: "null",
  [T.TIMESTAMP]: "timestamp",
  [T.LONGLONG]: "bigint",
  [T.INT24]: "mediumint",
  [T.DATE]: "date",
  [T.TIME]: "time",
  [T.DATETIME]: "datetime",
  [T.YEAR]: "year",
  [T.NEWDATE]: "date",
  [T.VARCHAR]: "varchar",
  [T.BIT]: "bit",
  [T.JSON]: "json",
  [T.NEWDECIMAL]: "decimal",
  [T.ENUM]: "enum",
  [T.SET]: "set",
  [T.TINY_BLOB]: "tinyblob",
  [T.MEDIUM_BLOB]: "mediumblob",
  [T.LONG_BLOB]: "longblob",
  [T.BLOB]: "blob",
  [T.VAR_STRING]: "varchar",
  [T.STRING]: "char",
  [T.GEOMETRY]: "geometry",
};

/** A column's engine type and a converter from what mysql2 produced (undefined: as is). */
export interface MysqlColumn {
  type: ValueType;
  native: string;
  convert: ((value: unknown) => unknown) | undefined;
}

const toBigint = (v: unknown) => (typeof v === "bigint" ? v : BigInt(String(v)));
const toNumber = (v: unknown) => (typeof v === "number" ? v : Number(v));
const toBoolean = (v: unknown) => Number(v) !== 0;
const toTimestamp = (v: unknown) => parseTimestampNs(String(v)) ?? v;
const toBytes = (v: unknown) => (v instanceof Uint8Array ? new Uint8Array(v) : v);
const toJson = (v: unknown) => (typeof v === "string" ? JSON.parse(v) : v);
const toText = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("utf8") : v);

/**
 * Expects the pool options this package sets: BIGINT as decimal strings
 * (supportBigNumbers + bigNumberStrings), DECIMAL as its exact text (no decimalNumbers), dates and
 * times as strings (dateStrings) in a UTC session.
 */
export function mysqlColumn(field: MysqlField): MysqlColumn {
  const code = field.columnType ?? field.type ?? T.VAR_STRING;
  const native = field.extendedFormat === "json" ? "json" : (NATIVE[code] ?? `type ${code}`);
  const binary = field.characterSet === BINARY_CHARSET;
  if (field.extendedFormat === "json" || code === T.JSON) {
    return { type: "json", native, convert: toJson };
  }
  switch (code) {
    case T.TINY:
      // BOOLEAN is TINYINT(1) in MySQL and MariaDB.
      if (field.columnLength === 1)
        return { type: "boolean", native: "tinyint(1)", convert: toBoolean };
      return { type: "integer", native, convert: undefined };
    case T.SHORT:
    case T.LONG:
    case T.INT24:
    case T.YEAR:
      return { type: "integer", native, convert: undefined };
    case T.LONGLONG:
      return { type: "bigint", native, convert: toBigint };
    case T.FLOAT:
    case T.DOUBLE:
      return { type: "double", native, convert: toNumber };
    case T.DECIMAL:
    case T.NEWDECIMAL:
      return { type: "decimal", native, convert: undefined };
    case T.DATE:
    case T.NEWDATE:
      return { type: "date", native, convert: undefined };
    case T.DATETIME:
    case T.TIMESTAMP:
      return { type: "timestamp", native, convert: toTimestamp };
    case T.TINY_BLOB:
    case T.MEDIUM_BLOB:
    case T.LONG_BLOB:
    case T.BLOB:
    case T.VAR_STRING:
    case T.STRING:
    case T.VARCHAR:
      if (binary) {
        const blobNative = native.replace("text", "blob").replace("varchar", "varbinary");
        return {
          type: "blob",
          native: blobNative === "char" ? "binary" : blobNative,
          convert: toBytes,
        };
      }
      return {
        type: "text",
        native: native.endsWith("blob") ? native.replace("blob", "text") : native,
        convert: undefined,
      };
    case T.ENUM:
    case T.SET:
      return { type: "text", native, convert: toText };
    case T.NULL:
      return { type: "unknown", native, convert: undefined };
    default:
      return {
        type: "unknown",
        native,
        convert: (v) => (v instanceof Uint8Array ? toBytes(v) : String(v)),
      };
  }
}

/** Engine type of a catalog column (information_schema.COLUMNS), MariaDB JSON included. */
export function mysqlCatalogType(dataType: string, columnType: string, isJson: boolean): ValueType {
  const type = dataType.toLowerCase();
  if (isJson || type === "json") return "json";
  if (type === "tinyint" && /^tinyint\(1\)/i.test(columnType)) return "boolean";
  if (type === "bool" || type === "boolean") return "boolean";
  if (["tinyint", "smallint", "mediumint", "int", "integer", "year"].includes(type))
    return "integer";
  if (type === "bigint") return "bigint";
  if (type === "float" || type === "double" || type === "real") return "double";
  if (type === "decimal" || type === "numeric") return "decimal";
  if (type === "date") return "date";
  if (type === "datetime" || type === "timestamp") return "timestamp";
  if (/blob$|^binary$|^varbinary$/.test(type)) return "blob";
  if (/char$|text$|^enum$|^set$|^uuid$|^inet[46]$/.test(type)) return "text";
  return "unknown";
}

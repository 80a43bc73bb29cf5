import type { BoundStatement, Row, SqlDialect, Value, ValueType } from "./types.ts";

/** Rows per INSERT at most, whatever the parameter limit allows: keeps statements modest. */
const MAX_ROWS_PER_INSERT = 1_000;

/**
 * Multi-row INSERTs for `rows`, each within `maxParams` bound values. `types` (the target
 * columns' engine types, in `columns` order) turns normal-form values back into what the
 * database accepts: ns timestamps become `YYYY-MM-DD HH:MM:SS.ffffff` (UTC; the sessions run
 * in UTC), JSON values (parsed, as `query` returns them) become JSON text.
 */
export function insertStatements(
  dialect: SqlDialect,
  qualifiedTable: string,
  columns: readonly string[],
  types: readonly ValueType[],
  rows: readonly Row[],
  maxParams: number,
): BoundStatement[] {
  if (columns.length === 0) return [];
  const perStatement = Math.max(
    1,
    Math.min(MAX_ROWS_PER_INSERT, Math.floor(maxParams / columns.length)),
  );
  const head = `INSERT INTO ${qualifiedTable} (${columns.map(dialect.quoteIdentifier).join(", ")}) VALUES `;
  const statements: BoundStatement[] = [];
  for (let start = 0; start < rows.length; start += perStatement) {
    const slice = rows.slice(start, start + perStatement);
    const params: Value[] = [];
    const tuples: string[] = [];
    for (const row of slice) {
      const marks: string[] = [];
      for (let c = 0; c < columns.length; c++) {
        params.push(toInsertValue(row[c] ?? null, types[c] ?? "unknown"));
        marks.push(dialect.placeholder(params.length));
      }
      tuples.push(`(${marks.join(", ")})`);
    }
    statements.push({ sql: head + tuples.join(", "), params });
  }
  return statements;
}

export function toInsertValue(value: Value, type: ValueType): Value {
  if (value === null || value === undefined) return null;
  if (type === "timestamp" && typeof value === "bigint") return timestampText(value);
  // Normal form holds the parsed value, so a JSON string `"x"` arrives as the string x.
  if (type === "json") return JSON.stringify(value);
  return value;
}

/** ns since epoch → `YYYY-MM-DD HH:MM:SS.ffffff` in UTC (microseconds, rounded down). */
export function timestampText(ns: bigint): string {
  let micros = ns / 1000n;
  if (ns % 1000n < 0n) micros -= 1n;
  let ms = micros / 1000n;
  if (micros % 1000n < 0n) ms -= 1n;
  const rest = micros - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString(); // 2024-01-02T03:04:05.678Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(rest).padStart(3, "0")}`;
}

/**
 * Reading another region's `entente.sql` reply as a source's result: checks each item's shape
 * (a worker that answers garbage is named, not trusted) and puts values back in the engine's
 * form, since a reply carries 64-bit integers that fit a double as plain numbers.
 */
import type { ColumnMeta, Row, ValueType } from "@entente/connectors";
import { EntenteError, type SqlColumn, toEntenteError } from "@entente/protocol";

const TYPES = new Set<string>([
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

/** The error a region's failure becomes: its code kept, the region named once. */
export function regionError(region: number, err: unknown): EntenteError {
  const error = toEntenteError(err);
  const prefix = `region ${region}: `;
  if (error.message.startsWith(prefix)) return error;
  return new EntenteError(error.code, `${prefix}${error.message}`, {
    retryable: error.retryable,
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: err,
  });
}

function garbage(region: number, what: string): EntenteError {
  return new EntenteError("BAD_RESPONSE", `region ${region} answered ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The columns of a reply's first item, as a connector describes them. */
export function replyColumns(region: number, item: unknown): ColumnMeta[] {
  if (!isObject(item) || !Array.isArray(item.columns)) {
    throw garbage(region, "a result without columns");
  }
  return item.columns.map((c: unknown, i) => {
    if (!isObject(c) || typeof c.name !== "string" || typeof c.type !== "string") {
      throw garbage(region, `a malformed column ${i + 1}`);
    }
    const type = (c as unknown as SqlColumn).type === "null" ? "unknown" : c.type;
    if (!TYPES.has(type)) throw garbage(region, `column ${c.name} of unknown type ${c.type}`);
    return { name: c.name, type: type as ValueType, nativeType: c.type };
  });
}

/** The rows of one reply item (none when it carries none), checked and in the engine's form. */
export function replyRows(region: number, columns: readonly ColumnMeta[], item: unknown): Row[] {
  if (!isObject(item)) throw garbage(region, "a result item that is not an object");
  if (item.rows === undefined) return [];
  if (!Array.isArray(item.rows)) throw garbage(region, "rows that are not a list");
  const widening = columns.map((c) => c.type === "bigint" || c.type === "timestamp");
  const wide = widening.some(Boolean);
  for (const row of item.rows as unknown[]) {
    if (!Array.isArray(row) || row.length !== columns.length) {
      throw garbage(
        region,
        `a row of ${Array.isArray(row) ? row.length : "no"} values for ${columns.length} columns`,
      );
    }
    if (!wide) continue;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (widening[i] && typeof v === "number") {
        if (!Number.isInteger(v))
          throw garbage(region, `${v} for 64-bit column ${columns[i]?.name}`);
        row[i] = BigInt(v);
      }
    }
  }
  return item.rows as Row[];
}

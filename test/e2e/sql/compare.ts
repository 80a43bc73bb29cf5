/**
 * Result comparison as multisets (or sequences, for a total ORDER BY) after normalizing values:
 * numbers and bigints compare as numbers, fractions rounded to 6 decimal places (a double SUM
 * or AVG depends on the order it adds in), NULL is NULL, text — decimals among it, which both
 * sides give as exact text — is compared exactly.
 */

export interface SqlResult {
  columns: { name: string; type?: string }[];
  rows: unknown[][];
}

export interface Mismatch {
  reason: string;
  /** Rows only in the expected result (with multiplicity), then only in the actual one. */
  missing: string[];
  extra: string[];
}

/** One value as a comparable string; types are tagged so `"1"` (text) differs from `1`. */
export function normalizeValue(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "bigint") return `n:${normalizeNumber(Number(value), value.toString())}`;
  if (typeof value === "number") return `n:${normalizeNumber(value, String(value))}`;
  if (typeof value === "boolean") return `b:${value}`;
  if (typeof value === "string") return `s:${JSON.stringify(value)}`;
  if (value instanceof Uint8Array) return `x:${Buffer.from(value).toString("hex")}`;
  return `j:${JSON.stringify(value)}`;
}

function normalizeNumber(value: number, exact: string): string {
  // Integers beyond 2^53 keep their exact digits; everything else is rounded.
  if (Number.isSafeInteger(value) || /^-?\d+$/.test(exact)) {
    return Number.isSafeInteger(value) ? String(value) : exact;
  }
  if (!Number.isFinite(value)) return String(value);
  const rounded = Number(value.toFixed(6));
  return String(Object.is(rounded, -0) ? 0 : rounded);
}

export function normalizeRow(row: readonly unknown[]): string {
  return row.map(normalizeValue).join(" | ");
}

function counts(rows: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const row of rows) out.set(row, (out.get(row) ?? 0) + 1);
  return out;
}

/** Rows of `a` not matched by a row of `b`, each as often as it is unmatched. */
function difference(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [row, n] of a) {
    const unmatched = n - (b.get(row) ?? 0);
    for (let i = 0; i < unmatched; i++) out.push(row);
  }
  return out;
}

export function compareResults(
  expected: SqlResult,
  actual: SqlResult,
  options: { ordered?: boolean; compareNames?: boolean } = {},
): Mismatch | undefined {
  if (expected.columns.length !== actual.columns.length) {
    return {
      reason: `column count: expected ${expected.columns.length} (${names(expected)}), got ${actual.columns.length} (${names(actual)})`,
      missing: [],
      extra: [],
    };
  }
  if (options.compareNames !== false && names(expected) !== names(actual)) {
    return {
      reason: `column names: expected ${names(expected)}, got ${names(actual)}`,
      missing: [],
      extra: [],
    };
  }
  const want = expected.rows.map(normalizeRow);
  const got = actual.rows.map(normalizeRow);
  const missing = difference(counts(want), counts(got));
  const extra = difference(counts(got), counts(want));
  if (missing.length > 0 || extra.length > 0) {
    return {
      reason: `rows: expected ${want.length}, got ${got.length}; ${missing.length} missing, ${extra.length} extra`,
      missing,
      extra,
    };
  }
  if (options.ordered) {
    const at = want.findIndex((row, i) => row !== got[i]);
    if (at >= 0) {
      return {
        reason: `order: same rows, but row ${at} is ${got[at]} where ${want[at]} was expected`,
        missing: [],
        extra: [],
      };
    }
  }
  return undefined;
}

const names = (result: SqlResult) => result.columns.map((c) => c.name.toLowerCase()).join(", ");

/** A short human-readable account of a mismatch, for test output. */
export function describeMismatch(
  sql: string,
  mismatch: Mismatch,
  params?: readonly unknown[],
  limit = 8,
): string {
  const lines = [`query: ${sql}`];
  if (params && params.length > 0) lines.push(`  params: ${JSON.stringify(params)}`);
  lines.push(`  ${mismatch.reason}`);
  const show = (label: string, rows: string[]) => {
    for (const row of rows.slice(0, limit)) lines.push(`  ${label} ${row}`);
    if (rows.length > limit) lines.push(`  ${label} … ${rows.length - limit} more`);
  };
  show("-", mismatch.missing);
  show("+", mismatch.extra);
  return lines.join("\n");
}

/**
 * Whether an answer equals the reference's: the same multiset of rows, in the same order where
 * the query orders them, decimals to the last digit and scale, doubles within 1e-9 relative (a
 * double sum depends on the order it adds in).
 */
import { compareResults, describeMismatch, type SqlResult } from "../compare.ts";

const RELATIVE_TOLERANCE = 1e-9;

const close = (a: unknown, b: unknown) =>
  typeof a === "number" &&
  typeof b === "number" &&
  Math.abs(a - b) <= RELATIVE_TOLERANCE * Math.max(1, Math.abs(b));

/** `actual` with each number close to the reference's in the same place replaced by it. */
function snapToReference(expected: SqlResult, actual: SqlResult): SqlResult {
  const rows = actual.rows.map((row, i) =>
    row.map((value, j) => {
      const want = expected.rows[i]?.[j];
      return close(value, want) ? want : value;
    }),
  );
  return { columns: actual.columns, rows };
}

/**
 * No two rows of a TPC-H answer tie on the query's sort keys in this data set, so a query that
 * orders (and cuts with LIMIT) has one right answer, in one order.
 */
const isOrdered = (sql: string) => /\border\s+by\b/i.test(sql);

/** Undefined when `actual` equals `expected`, else an account of the difference. */
export function answerMismatch(
  sql: string,
  expected: SqlResult,
  actual: SqlResult,
): string | undefined {
  const mismatch = compareResults(expected, snapToReference(expected, actual), {
    ordered: isOrdered(sql),
  });
  return mismatch && describeMismatch(sql.replace(/\s+/g, " "), mismatch);
}

/**
 * Timestamps and dates as text (PostgreSQL's and MySQL's output formats) to the engine's
 * normal form: bigint nanoseconds since the Unix epoch, UTC. Parsed by hand because a JS
 * Date keeps only milliseconds.
 */

const TIMESTAMP =
  /^(\d{4,})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?( BC)?$/;

const NS_PER_MS = 1_000_000n;

/** `YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]` → ns since epoch; undefined if not one. */
export function parseTimestampNs(text: string): bigint | undefined {
  const m = TIMESTAMP.exec(text);
  if (m === null) return undefined;
  let year = Number(m[1]);
  if (m[13] !== undefined) year = 1 - year; // 1 BC is year 0 in proleptic ISO.
  const ms = utcMillis(year, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const fraction = m[7] === undefined ? 0n : BigInt(m[7].padEnd(9, "0"));
  let offsetSeconds = 0;
  if (m[9] !== undefined) {
    const sign = m[9] === "-" ? -1 : 1;
    offsetSeconds = sign * (Number(m[10]) * 3600 + Number(m[11] ?? 0) * 60 + Number(m[12] ?? 0));
  }
  return BigInt(ms) * NS_PER_MS + fraction - BigInt(offsetSeconds) * 1_000_000_000n;
}

function utcMillis(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  const date = new Date(0);
  // setUTCFullYear keeps years 0–99 as written (Date.UTC would read them as 19xx).
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  return date.getTime();
}

/** Days since the epoch → `YYYY-MM-DD` (DuckDB's DATE payload). */
export function dateFromDays(days: number): string {
  const date = new Date(days * 86_400_000);
  const y = date.getUTCFullYear();
  const year = y < 0 ? `-${String(-y).padStart(4, "0")}` : String(y).padStart(4, "0");
  return `${year}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

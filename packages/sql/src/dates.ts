/**
 * Date and time arithmetic as PostgreSQL does it: intervals of months, days and nanoseconds added
 * to dates and timestamps (a month added to January 31st is the last day of February), the
 * difference of two dates in days, and the fields EXTRACT and date_trunc read. Dates are
 * `YYYY-MM-DD` text and timestamps nanoseconds since the epoch (UTC), as everywhere in the engine.
 */
import { Decimal } from "./decimal.ts";
import { badRequest, unsupported } from "./errors.ts";
import type { Value } from "./types.ts";
import { nsToIso, toDate, toTimestampNs } from "./values.ts";

/** An interval as PostgreSQL keeps one: months, days and the rest, which never mix. */
export interface Interval {
  months: number;
  days: number;
  ns: bigint;
}

const NS_PER: Record<string, bigint> = {
  microsecond: 1_000n,
  millisecond: 1_000_000n,
  second: 1_000_000_000n,
  minute: 60_000_000_000n,
  hour: 3_600_000_000_000n,
};

/** The unit words an interval may use, singular or plural, to their canonical names. */
function canonicalUnit(word: string): string | undefined {
  const w = word.toLowerCase().replace(/s$/, "");
  const aliases: Record<string, string> = {
    y: "year",
    yr: "year",
    mon: "month",
    d: "day",
    h: "hour",
    hr: "hour",
    min: "minute",
    m: "minute",
    sec: "second",
    ms: "millisecond",
    us: "microsecond",
  };
  const unit = aliases[w] ?? w;
  return ["year", "month", "week", "day", ...Object.keys(NS_PER)].includes(unit) ? unit : undefined;
}

/**
 * `INTERVAL '90' DAY`, `INTERVAL '3 months'`, `INTERVAL '1 year 2 days'`: the quantity text and
 * the unit written after it, if any. Whole quantities only for months and years (a fraction of a
 * month has no one meaning).
 */
export function parseInterval(text: string, unitAfter?: string): Interval {
  const interval: Interval = { months: 0, days: 0, ns: 0n };
  const words = text.trim().split(/\s+/).filter(Boolean);
  const pairs: [string, string][] = [];
  if (unitAfter) {
    if (words.length !== 1) throw badRequest(`invalid interval: ${JSON.stringify(text)}`);
    pairs.push([words[0] as string, unitAfter]);
  } else {
    if (words.length === 0 || words.length % 2 !== 0)
      throw badRequest(`invalid interval: ${JSON.stringify(text)} (write e.g. '3 months')`);
    for (let i = 0; i < words.length; i += 2)
      pairs.push([words[i] as string, words[i + 1] as string]);
  }
  for (const [quantity, word] of pairs) {
    const unit = canonicalUnit(word);
    if (!unit) throw unsupported(`interval unit ${JSON.stringify(word)} is not supported`);
    if (!/^[+-]?\d+(\.\d+)?$/.test(quantity))
      throw badRequest(`invalid interval quantity: ${JSON.stringify(quantity)}`);
    const n = Number(quantity);
    if ((unit === "year" || unit === "month") && !Number.isInteger(n))
      throw unsupported(`a fraction of a ${unit} in an interval is not supported`);
    if (unit === "year") interval.months += n * 12;
    else if (unit === "month") interval.months += n;
    else if (unit === "week" || unit === "day") {
      const days = n * (unit === "week" ? 7 : 1);
      interval.days += Math.trunc(days);
      interval.ns += BigInt(Math.round((days - Math.trunc(days)) * 86_400e9));
    } else interval.ns += BigInt(Math.round(n * Number(NS_PER[unit])));
  }
  return interval;
}

export function negateInterval(i: Interval): Interval {
  return { months: -i.months, days: -i.days, ns: -i.ns };
}

const DAY_MS = 86_400_000;

function dateToDays(d: string): number {
  return Date.parse(`${d}T00:00:00Z`) / DAY_MS;
}

function daysToDate(days: number): string {
  const iso = new Date(days * DAY_MS).toISOString();
  if (Number.isNaN(days) || iso.length !== 24) throw badRequest("date out of range");
  return iso.slice(0, 10);
}

/** Adds months as PostgreSQL does: the day of the month is kept, or cut to the month's last. */
function addMonths(date: string, months: number): string {
  if (months === 0) return date;
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const total = y * 12 + (m - 1) + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(d, last);
  return `${String(year).padStart(4, "0")}-${String(month + 1).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

/** A date plus an interval of whole days, months and years. */
export function addToDate(v: Value, i: Interval): string {
  const moved = addMonths(toDate(v), i.months);
  return i.days === 0 ? moved : daysToDate(dateToDays(moved) + i.days);
}

/** A timestamp (or a date, at midnight) plus any interval. */
export function addToTimestamp(v: Value, i: Interval): bigint {
  const ns = toTimestampNs(v);
  if (i.months === 0 && i.days === 0) return ns + i.ns;
  const iso = nsToIso(ns);
  const date = addToDate(iso.slice(0, 10), { months: i.months, days: i.days, ns: 0n });
  const dayStart = toTimestampNs(iso.slice(0, 10));
  return toTimestampNs(date) + (ns - dayStart) + i.ns;
}

/** `date - date`: the days between them. */
export function daysBetween(a: Value, b: Value): number {
  return dateToDays(toDate(a)) - dateToDays(toDate(b));
}

/** The fields EXTRACT and date_part read, and what each gives. */
export const DATE_FIELDS = [
  "year",
  "quarter",
  "month",
  "week",
  "day",
  "dow",
  "isodow",
  "doy",
  "hour",
  "minute",
  "second",
  "epoch",
  "decade",
  "century",
  "millennium",
  "isoyear",
] as const;
export type DateField = (typeof DATE_FIELDS)[number];

export function dateField(name: string): DateField {
  const f = name.toLowerCase().replace(/s$/, "") as DateField;
  if (!(DATE_FIELDS as readonly string[]).includes(f))
    throw unsupported(`date field ${JSON.stringify(name)} is not supported`);
  return f;
}

/** A date or timestamp's parts, in UTC. */
function partsOf(v: Value): { date: Date; ns: bigint } {
  const ns = typeof v === "bigint" ? v : toTimestampNs(v);
  let ms = ns / 1_000_000n;
  if (ns < 0n && ns % 1_000_000n !== 0n) ms -= 1n;
  return { date: new Date(Number(ms)), ns };
}

/** ISO 8601 week number and week-based year. */
function isoWeek(d: Date): { week: number; year: number } {
  const day = (d.getUTCDay() + 6) % 7; // Monday 0
  const thursday = new Date(
    Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3),
  );
  const year = thursday.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(year, 0, 4));
  const week =
    1 +
    Math.round(
      ((thursday.getTime() - firstThursday.getTime()) / DAY_MS -
        3 +
        ((firstThursday.getUTCDay() + 6) % 7)) /
        7,
    );
  return { week, year };
}

/** EXTRACT(field FROM v). Seconds carry their fraction; epoch is seconds since 1970. */
export function extractField(field: DateField, v: Value): number {
  const { date, ns } = partsOf(v);
  const year = date.getUTCFullYear();
  switch (field) {
    case "year":
      return year;
    case "isoyear":
      return isoWeek(date).year;
    case "quarter":
      return Math.floor(date.getUTCMonth() / 3) + 1;
    case "month":
      return date.getUTCMonth() + 1;
    case "week":
      return isoWeek(date).week;
    case "day":
      return date.getUTCDate();
    case "dow":
      return date.getUTCDay();
    case "isodow":
      return date.getUTCDay() === 0 ? 7 : date.getUTCDay();
    case "doy":
      return (
        Math.round(
          (Date.UTC(year, date.getUTCMonth(), date.getUTCDate()) - Date.UTC(year, 0, 1)) / DAY_MS,
        ) + 1
      );
    case "hour":
      return date.getUTCHours();
    case "minute":
      return date.getUTCMinutes();
    case "second": {
      const inMinute = ((ns % 60_000_000_000n) + 60_000_000_000n) % 60_000_000_000n;
      return Number(inMinute) / 1e9;
    }
    case "epoch":
      return Number(ns) / 1e9;
    case "decade":
      return Math.floor(year / 10);
    case "century":
      return year > 0 ? Math.floor((year - 1) / 100) + 1 : Math.floor(year / 100);
    case "millennium":
      return year > 0 ? Math.floor((year - 1) / 1000) + 1 : Math.floor(year / 1000);
  }
}

/**
 * EXTRACT as PostgreSQL 14+ gives it, a numeric: seconds and epochs of a timestamp to the
 * microsecond (scale 6), an epoch of a date in whole seconds, every other field an integer.
 */
export function extractNumeric(field: DateField, v: Value): Decimal {
  if (typeof v === "bigint" && (field === "second" || field === "epoch")) {
    const micros = v / 1000n - (v % 1000n < 0n ? 1n : 0n);
    const minute = 60_000_000n;
    return new Decimal(field === "epoch" ? micros : ((micros % minute) + minute) % minute, 6);
  }
  const n = extractField(field, v);
  return Number.isInteger(n) ? Decimal.fromInteger(n) : (Decimal.fromDouble(n) as Decimal);
}

const TRUNC_UNITS = [
  "year",
  "quarter",
  "month",
  "week",
  "day",
  "hour",
  "minute",
  "second",
] as const;
export type TruncUnit = (typeof TRUNC_UNITS)[number];

export function truncUnit(name: string): TruncUnit {
  const u = name.toLowerCase() as TruncUnit;
  if (!(TRUNC_UNITS as readonly string[]).includes(u))
    throw unsupported(`date_trunc unit ${JSON.stringify(name)} is not supported`);
  return u;
}

/** date_trunc(unit, v): the timestamp at the start of the unit holding `v`. */
export function truncate(unit: TruncUnit, v: Value): bigint {
  const { date, ns } = partsOf(v);
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  let ms: number;
  switch (unit) {
    case "year":
      ms = Date.UTC(y, 0, 1);
      break;
    case "quarter":
      ms = Date.UTC(y, m - (m % 3), 1);
      break;
    case "month":
      ms = Date.UTC(y, m, 1);
      break;
    case "week":
      ms = Date.UTC(y, m, date.getUTCDate() - ((date.getUTCDay() + 6) % 7));
      break;
    case "day":
      ms = Date.UTC(y, m, date.getUTCDate());
      break;
    default: {
      const step = NS_PER[unit] as bigint;
      return ns - (((ns % step) + step) % step);
    }
  }
  return BigInt(ms) * 1_000_000n;
}

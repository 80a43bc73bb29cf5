/**
 * Calendar functions (hour, day_of_week, …) on Unix seconds in UTC, as Prometheus computes them
 * with Go's `time.Unix(int64(v), 0).UTC()`: the value truncated to whole seconds, and values Go
 * cannot convert (NaN, infinities, beyond ±2^63) read as Go on amd64 reads them.
 */

export interface CivilTime {
  year: number;
  /** 1–12. */
  month: number;
  /** 1–31. */
  day: number;
  /** 1–366. */
  yearDay: number;
  /** 0 = Sunday. */
  weekday: number;
  hour: number;
  minute: number;
}

const SECONDS_PER_DAY = 86400n;
const DAYS_PER_400_YEARS = 365n * 400n + 97n;
const DAYS_PER_100_YEARS = 365n * 100n + 24n;
const DAYS_PER_4_YEARS = 365n * 4n + 1n;
const ABSOLUTE_ZERO_YEAR = -292277022399n;
/** Go's `unixToInternal + internalToAbsolute`: Unix seconds to its "absolute" seconds. */
const UNIX_TO_ABSOLUTE = 9223372028715321600n;
const UINT64 = 1n << 64n;
const MIN_INT64 = -(1n << 63n);
const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return (DAYS_BEFORE_MONTH[month] as number) - (DAYS_BEFORE_MONTH[month - 1] as number);
}

/** Go's float64 to int64 conversion on amd64: truncation, or the minimum int64 when out of range. */
function goInt64(value: number): bigint {
  if (!Number.isFinite(value) || value >= 2 ** 63 || value < -(2 ** 63)) return MIN_INT64;
  return BigInt(Math.trunc(value));
}

/** Go's date arithmetic on its unsigned "absolute" seconds, wrapping as Go's does. */
function civilFromGoSeconds(seconds: bigint): CivilTime {
  const abs = (((seconds + UNIX_TO_ABSOLUTE) % UINT64) + UINT64) % UINT64;
  let d = abs / SECONDS_PER_DAY;
  let n = d / DAYS_PER_400_YEARS;
  let y = 400n * n;
  d -= DAYS_PER_400_YEARS * n;
  n = d / DAYS_PER_100_YEARS;
  n -= n >> 2n;
  y += 100n * n;
  d -= DAYS_PER_100_YEARS * n;
  n = d / DAYS_PER_4_YEARS;
  y += 4n * n;
  d -= DAYS_PER_4_YEARS * n;
  n = d / 365n;
  n -= n >> 2n;
  y += n;
  d -= 365n * n;

  const year = Number(y + ABSOLUTE_ZERO_YEAR);
  const yearDay = Number(d);
  let day = yearDay;
  let month: number;
  if (isLeapYear(year) && day === 31 + 29 - 1) {
    month = 2;
    day = 29;
  } else {
    if (isLeapYear(year) && day > 31 + 29 - 1) day--;
    month = Math.floor(day / 31);
    const end = DAYS_BEFORE_MONTH[month + 1] as number;
    let begin: number;
    if (day >= end) {
      month++;
      begin = end;
    } else {
      begin = DAYS_BEFORE_MONTH[month] as number;
    }
    month++;
    day = day - begin + 1;
  }
  // 1 January of the absolute year zero was a Monday.
  const weekday = Number(
    (((abs + SECONDS_PER_DAY) % UINT64) % (7n * SECONDS_PER_DAY)) / SECONDS_PER_DAY,
  );
  const secondOfDay = Number(abs % SECONDS_PER_DAY);
  return {
    year,
    month,
    day,
    yearDay: yearDay + 1,
    weekday,
    hour: Math.floor(secondOfDay / 3600),
    minute: Math.floor((secondOfDay % 3600) / 60),
  };
}

/** JavaScript dates cover ±8.64e12 s; past that, Go's arithmetic is followed exactly. */
const DATE_RANGE_SECONDS = 8.64e12;

/** The UTC calendar time of `value` Unix seconds, as Go reads it. */
export function civilTime(value: number): CivilTime {
  const seconds = Math.trunc(value);
  if (!(Math.abs(seconds) <= DATE_RANGE_SECONDS)) return civilFromGoSeconds(goInt64(value));
  const date = new Date(seconds * 1000);
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + 1;
  const day = date.getUTCDate();
  const yearDay =
    (DAYS_BEFORE_MONTH[month - 1] as number) + day + (month > 2 && isLeapYear(year) ? 1 : 0);
  return {
    year,
    month,
    day,
    yearDay,
    weekday: date.getUTCDay(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
  };
}

export const DATE_FUNCTIONS: Readonly<Record<string, (time: CivilTime) => number>> = {
  day_of_month: (time) => time.day,
  day_of_week: (time) => time.weekday,
  day_of_year: (time) => time.yearDay,
  days_in_month: (time) => daysInMonth(time.year, time.month),
  hour: (time) => time.hour,
  minute: (time) => time.minute,
  month: (time) => time.month,
  year: (time) => time.year,
};

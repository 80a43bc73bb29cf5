/** Date arithmetic, EXTRACT and date_trunc; expected values are PostgreSQL 15's. */
import { describe, expect, it } from "vitest";
import {
  addToDate,
  addToTimestamp,
  dateField,
  daysBetween,
  extractField,
  parseInterval,
  truncate,
  truncUnit,
} from "../src/dates.ts";
import { nsToIso, toTimestampNs } from "../src/values.ts";
import { rowsOver } from "./helpers.ts";

const at = (ns: bigint) =>
  nsToIso(ns)
    .replace("T", " ")
    .replace(/\.000000Z$/, "");

describe("intervals", () => {
  it("reads a quantity with the unit after it, or units inside the text", () => {
    expect(parseInterval("90", "day")).toEqual({ months: 0, days: 90, ns: 0n });
    expect(parseInterval("3", "month")).toEqual({ months: 3, days: 0, ns: 0n });
    expect(parseInterval("1 year 2 months 3 days")).toEqual({ months: 14, days: 3, ns: 0n });
    expect(parseInterval("2 hours 30 mins").ns).toBe(9_000_000_000_000n);
    expect(parseInterval("1", "week").days).toBe(7);
  });

  it("refuses what it cannot read, naming it", () => {
    expect(() => parseInterval("banana")).toThrow(/invalid interval/);
    expect(() => parseInterval("1 fortnight")).toThrow(/unit "fortnight"/);
    expect(() => parseInterval("1.5 months")).toThrow(/fraction of a month/);
  });
});

describe("adding intervals", () => {
  it("keeps the day of the month, or cuts it to the month's last day", () => {
    expect(at(addToTimestamp("2024-01-31", parseInterval("1 month")))).toBe("2024-02-29 00:00:00");
    expect(at(addToTimestamp("2023-01-31", parseInterval("1", "month")))).toBe(
      "2023-02-28 00:00:00",
    );
    expect(at(addToTimestamp("1995-03-31", parseInterval("-1 year -1 month")))).toBe(
      "1994-02-28 00:00:00",
    );
  });

  it("subtracts days across months and keeps a timestamp's time", () => {
    expect(at(addToTimestamp("1998-12-01", parseInterval("-90", "day")))).toBe(
      "1998-09-02 00:00:00",
    );
    const ts = toTimestampNs("2024-03-10 10:30:00");
    expect(at(addToTimestamp(ts, parseInterval("1 day 2 hours")))).toBe("2024-03-11 12:30:00");
  });

  it("adds days to a date and counts the days between dates", () => {
    expect(addToDate("2024-02-28", { months: 0, days: 2, ns: 0n })).toBe("2024-03-01");
    expect(daysBetween("2024-03-01", "2024-02-01")).toBe(29);
  });
});

describe("EXTRACT and date_trunc", () => {
  const field = (f: string, v: string) => extractField(dateField(f), v);

  it("reads each field as PostgreSQL does", () => {
    expect(field("year", "1995-06-17")).toBe(1995);
    expect(field("dow", "2024-03-10")).toBe(0);
    expect(field("doy", "2024-12-31")).toBe(366);
    expect(field("week", "2021-01-03")).toBe(53);
    expect(field("isoyear", "2021-01-03")).toBe(2020);
    expect(field("quarter", "2024-08-15")).toBe(3);
    expect(field("century", "2000-12-31")).toBe(20);
    expect(field("epoch", "2024-01-01 00:00:01.5")).toBe(1704067201.5);
    expect(field("second", "2024-01-01 00:00:01.5")).toBe(1.5);
  });

  it("truncates to the start of the unit", () => {
    expect(at(truncate(truncUnit("quarter"), "2024-08-15"))).toBe("2024-07-01 00:00:00");
    expect(at(truncate(truncUnit("week"), toTimestampNs("2024-03-10 10:30:00")))).toBe(
      "2024-03-04 00:00:00",
    );
    expect(at(truncate(truncUnit("hour"), toTimestampNs("2024-03-10 10:30:00")))).toBe(
      "2024-03-10 10:00:00",
    );
  });

  it("names a field or unit it does not know", () => {
    expect(() => dateField("julian")).toThrow(/date field "julian"/);
    expect(() => truncUnit("fortnight")).toThrow(/date_trunc unit "fortnight"/);
  });
});

describe("through statements", () => {
  const q = rowsOver([
    { source: "s", name: "t", columns: [{ name: "d", type: "date" }], rows: [["2024-02-29"]] },
  ]);

  it("reads EXTRACT of a typed literal, and folds literal arithmetic to a date bound", async () => {
    // A numeric, as PostgreSQL 14+ gives EXTRACT; seconds and epochs of a timestamp to the µs.
    expect(
      await q(
        "SELECT EXTRACT(year FROM DATE '1995-06-17'), EXTRACT(second FROM TIMESTAMP '2024-01-01 10:11:12.5'), EXTRACT(epoch FROM TIMESTAMP '2024-01-01 00:00:00.25'), EXTRACT(epoch FROM d), date_part('year', d) FROM t",
      ),
    ).toEqual([["1995", "12.500000", "1704067200.250000", "1709164800", 2024]]);
    expect(
      await q(
        "SELECT d FROM t WHERE d < date '2024-01-31' + interval '1' month + interval '1' day",
      ),
    ).toEqual([["2024-02-29"]]);
  });
});

describe("dates beside timestamps in a correlated EXISTS", () => {
  const q = rowsOver([
    {
      source: "s",
      name: "u",
      columns: [
        { name: "id", type: "integer" },
        { name: "signup", type: "date" },
      ],
      rows: [
        [1, "2024-01-10"],
        [2, "2024-03-01"],
        [3, null],
      ],
    },
    {
      source: "s",
      name: "o",
      columns: [
        { name: "uid", type: "integer" },
        { name: "created", type: "timestamp" },
      ],
      rows: [
        [1, toTimestampNs("2024-01-09 23:00")],
        [1, toTimestampNs("2024-01-10 00:00")],
        [2, toTimestampNs("2024-03-01 10:00")],
        [3, toTimestampNs("2024-01-01")],
      ],
    },
  ]);

  it("compares the date as its midnight, as PostgreSQL does", async () => {
    expect(
      await q(
        "SELECT id FROM u WHERE EXISTS (SELECT 1 FROM o WHERE o.uid = u.id AND o.created < u.signup) ORDER BY id",
      ),
    ).toEqual([[1]]);
    expect(
      await q(
        "SELECT id FROM u WHERE NOT EXISTS (SELECT 1 FROM o WHERE o.uid = u.id AND o.created >= u.signup) ORDER BY id",
      ),
    ).toEqual([[3]]);
  });
});

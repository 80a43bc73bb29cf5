/**
 * Exact decimals: DECIMAL values keep every digit and PostgreSQL's scales through the engine.
 * The answers of statements are PostgreSQL 15's (psql) over the same rows.
 */
import { describe, expect, it } from "vitest";
import { Decimal } from "../src/decimal.ts";
import { castInto } from "../src/dml.ts";
import type { ExecLimits, Row, SourceInfo, SqlType } from "../src/index.ts";
import type { Expr } from "../src/plan.ts";
import { canPush, canPushAggregate } from "../src/pushdown.ts";
import { ParamList, renderExpr } from "../src/render.ts";
import { keyFilters } from "../src/scan-sql.ts";
import { compareValues, keyOf } from "../src/values.ts";
import {
  capabilities,
  type MemoryTable,
  mysqlDialect,
  NOTHING_PUSHED,
  pgDialect,
  rowsOver,
  rowsUnder,
  spillDirectory,
} from "./helpers.ts";

const d = (text: string) => Decimal.parse(text) as Decimal;

describe("Decimal", () => {
  it("divides at PostgreSQL's scale, rounding half away from zero", () => {
    const cases: [string, string, string][] = [
      ["1", "3", "0.33333333333333333333"],
      ["10.00", "4", "2.5000000000000000"],
      ["123456789.123", "7.1", "17388280.158169014085"],
      ["0.001", "333", "0.000003003003003003003003"],
      ["0.30", "2", "0.15000000000000000000"],
      ["12345678901234567.89", "3", "4115226300411522.6300"],
      ["-2", "3", "-0.66666666666666666667"],
    ];
    for (const [a, b, quotient] of cases) expect(d(a).divide(d(b)).toString()).toBe(quotient);
    expect(() => d("1").divide(d("0.00"))).toThrow("division by zero");
  });

  it("rounds, truncates and takes remainders as numeric does", () => {
    expect(d("2.5").round(0).toString()).toBe("3");
    expect(d("-2.5").round(0).toString()).toBe("-3");
    expect(d("1.005").round(2).toString()).toBe("1.01");
    expect(d("123.45").round(-1).toString()).toBe("120");
    expect(d("1.5").round(3).toString()).toBe("1.500");
    expect(d("-1.59").truncate(1).toString()).toBe("-1.5");
    expect([d("-1.5").floor().toString(), d("-1.5").ceil().toString()]).toEqual(["-2", "-1"]);
    expect(d("7.5").modulo(d("2")).toString()).toBe("1.5");
    expect(d("-7.5").modulo(d("2")).toString()).toBe("-1.5");
  });

  it("reads the text databases print, keeping its scale", () => {
    expect(Decimal.fromSourceText("-12.50")?.toString()).toBe("-12.50");
    expect(Decimal.fromSourceText("0.000")?.toString()).toBe("0.000");
    expect(Decimal.parse("1e5")?.toString()).toBe("100000");
    expect(Decimal.parse(".5")?.toString()).toBe("0.5");
    expect(Decimal.parse("1.2.3")).toBeUndefined();
    expect(Decimal.fromDoubleCast(1 / 3)?.toString()).toBe("0.333333333333333");
  });

  it("keys and compares equal values alike, whatever their scale or type", () => {
    expect(keyOf(d("1.50"))).toBe(keyOf(d("1.5")));
    expect(keyOf(d("5.00"))).toBe(keyOf(5));
    expect(keyOf(d("5"))).toBe(keyOf(5n));
    expect(keyOf(d("0.1"))).toBe(keyOf(0.1));
    // Past a double's digits, decimals that differ key apart.
    expect(keyOf(d("0.10000000000000000001"))).not.toBe(keyOf(d("0.1")));
    expect(compareValues(d("0.10000000000000000001"), d("0.1"))).toBe(1);
    expect(compareValues(d("2.50"), 2.5)).toBe(0);
    expect(compareValues(d("9007199254740993"), 9007199254740992n)).toBe(1);
    expect(compareValues(d("1"), Number.NaN)).toBe(-1);
  });
});

describe("decimal keys sent to a source", () => {
  it("lists whole decimal keys for an integer column as the integers they equal", () => {
    const source: SourceInfo = { name: "s", dialect: pgDialect, capabilities: capabilities() };
    const limits = { dynamicFilterMaxKeys: 100, inListChunk: 10 };
    const keys = [d("5.00"), d("2.5"), d("9999999999"), d("-3")];
    expect(keyFilters(0, "integer", keys, source, limits, 0)).toEqual([
      { column: 0, values: [-3, 5] },
    ]);
    expect(keyFilters(0, "bigint", keys, source, limits, 0)).toEqual([
      { column: 0, values: [-3n, 5n, 9999999999n] },
    ]);
  });

  it("binds a decimal for PostgreSQL as the column beside it reads it", () => {
    const column = (type: SqlType): Expr => ({ k: "col", i: 0, type, name: "c" });
    const literal = (v: string): Expr => ({ k: "lit", v: d(v), type: "decimal" });
    const rendered = (type: SqlType, v: string) => {
      const params = new ParamList(pgDialect);
      const text = renderExpr(
        { k: "cmp", op: "=", l: column(type), r: literal(v), type: "boolean" },
        () => '"c"',
        params,
      );
      return params.statement(text);
    };
    // PostgreSQL reads an untyped "2.0" beside an integer column as an integer, and refuses it.
    expect(rendered("integer", "2.0")).toEqual({ sql: '("c" = $1)', params: [2n] });
    expect(rendered("integer", "2.5")).toEqual({
      sql: '("c" = CAST($1 AS NUMERIC))',
      params: ["2.5"],
    });
    expect(rendered("decimal", "2.50")).toEqual({ sql: '("c" = $1)', params: ["2.50"] });
  });

  it("keeps sums and arithmetic of decimals from a source that stores them as doubles", () => {
    const amount: Expr = { k: "col", i: 0, type: "decimal", name: "amount" };
    const sum = { fn: "sum" as const, arg: amount, distinct: false, type: "decimal" as const };
    const cold: SourceInfo = {
      name: "cold",
      dialect: pgDialect,
      capabilities: capabilities({ decimalsAsDoubles: true }),
    };
    const hot: SourceInfo = { name: "hot", dialect: pgDialect, capabilities: capabilities() };
    expect([canPushAggregate(sum, cold), canPushAggregate(sum, hot)]).toEqual([false, true]);
    const doubled: Expr = { k: "arith", op: "*", l: amount, r: amount, type: "decimal" };
    expect([canPush(doubled, cold), canPush(doubled, hot)]).toEqual([false, true]);
  });

  it("reads a selected decimal's text back as a decimal when inserting it", () => {
    const column = { name: "n", type: "integer" as const };
    expect(castInto("5.50", column, "SELECT row 1", "decimal")).toBe(6);
    expect(castInto("2.50", { name: "d", type: "decimal" }, "SELECT row 1", "decimal")).toBe(
      "2.50",
    );
  });

  it("binds a decimal in MySQL and DuckDB as a DECIMAL of its own digits", () => {
    const params = new ParamList(mysqlDialect);
    const text = `${params.add(d("-0.050"), "decimal")} ${params.add(d("12.5"), "decimal")}`;
    expect(params.statement(text)).toEqual({
      sql: "CAST(? AS DECIMAL(4, 3)) CAST(? AS DECIMAL(3, 1))",
      params: ["-0.050", "12.5"],
    });
  });
});

describe("decimals through the engine", () => {
  const tables: MemoryTable[] = [
    {
      source: "s",
      name: "ledger",
      columns: [
        { name: "id", type: "integer" },
        { name: "amount", type: "decimal" },
      ],
      // As sources send them: exact text.
      rows: [
        [1, "0.10"],
        [2, "0.20"],
        [3, "12345678901234567.89"],
        [4, "-0.05"],
        [5, null],
        [6, "1.50"],
        [7, "1.5"],
      ],
    },
  ];
  const q = rowsOver(tables);

  it("sums and averages exactly, past a double's 17 digits", async () => {
    expect(
      await q(
        "SELECT sum(amount), avg(amount), min(amount), max(amount), count(DISTINCT amount) FROM ledger",
      ),
    ).toEqual([
      ["12345678901234571.14", "2057613150205761.8567", "-0.05", "12345678901234567.89", 5],
    ]);
    expect(await q("SELECT avg(amount) FROM ledger WHERE id < 3")).toEqual([
      ["0.15000000000000000000"],
    ]);
  });

  it("computes at numeric's scales", async () => {
    expect(
      await q(
        "SELECT amount * 3, amount / 3, amount % 1, round(amount, 1), -amount, amount + 0.1, CAST(amount AS double precision) FROM ledger WHERE id = 3",
      ),
    ).toEqual([
      [
        "37037036703703703.67",
        "4115226300411522.6300",
        "0.89",
        "12345678901234567.9",
        "-12345678901234567.89",
        "12345678901234567.99",
        12345678901234568,
      ],
    ]);
  });

  it("compares, orders and groups by value, not by text", async () => {
    expect(await q("SELECT id FROM ledger WHERE amount > 0.15 ORDER BY amount, id")).toEqual([
      [2],
      [6],
      [7],
      [3],
    ]);
    expect(await q("SELECT count(*) FROM ledger GROUP BY amount HAVING count(*) > 1")).toEqual([
      [2],
    ]);
    expect(
      await q(
        "SELECT a.id, b.id FROM ledger a JOIN ledger b ON a.amount = b.amount AND a.id < b.id",
      ),
    ).toEqual([[6, 7]]);
  });

  it("casts to numeric(p, s) rounding to its scale, and names an overflow", async () => {
    expect(
      await q("SELECT CAST(amount AS numeric(4, 1)) FROM ledger WHERE id IN (1, 4, 6) ORDER BY id"),
    ).toEqual([["0.1"], ["-0.1"], ["1.5"]]);
    const err = await q("SELECT CAST(amount AS numeric(4, 1)) FROM ledger WHERE id = 3").catch(
      (e: unknown) => e,
    );
    expect(String(err)).toContain("numeric field overflow");
    const bad = await q("SELECT CAST(amount AS numeric(0, 1)) FROM ledger").catch(
      (e: unknown) => e,
    );
    expect(String(bad)).toContain("NUMERIC precision 0 must be between 1 and 1000");
  });

  it("answers numeric's NaN as its text", async () => {
    const q2 = rowsOver([
      {
        source: "s",
        name: "n",
        columns: [{ name: "x", type: "decimal" }],
        rows: [["NaN"], ["1.5"]],
      },
    ]);
    expect(await q2("SELECT x FROM n ORDER BY x")).toEqual([["1.5"], ["NaN"]]);
    expect(await q2("SELECT sum(x), CAST(max(x) AS double precision) FROM n")).toEqual([
      ["NaN", Number.NaN],
    ]);
  });

  it("refuses a number past numeric's digits, and bounds round()'s places, without freezing", async () => {
    const err = await q("SELECT 1e999999999 FROM ledger").catch((e: unknown) => e);
    expect(String(err)).toContain("value overflows numeric format");
    const [[rounded]] = (await q("SELECT round(1.5, 1000000000) FROM ledger WHERE id = 1")) as [
      [string],
    ];
    expect(rounded.length).toBe("1.".length + 2000);
  });

  it("refuses a division by zero by name", async () => {
    const err = await q("SELECT amount / 0 FROM ledger WHERE id = 1").catch((e: unknown) => e);
    expect(String(err)).toContain("division by zero");
  });
});

describe("decimals beside doubles", () => {
  const q = rowsOver([
    {
      source: "s",
      name: "m",
      columns: [
        { name: "i", type: "integer" },
        { name: "d", type: "decimal" },
        { name: "f", type: "double" },
      ],
      rows: [
        [1, "1.50", 2.25],
        [2, null, 0.5],
        [3, "1.5", null],
      ],
    },
  ]);

  it("gives a double-typed expression's decimal branches as doubles", async () => {
    expect(await q("SELECT sum(coalesce(d, f)), avg(greatest(d, f)) FROM m")).toEqual([
      [3.5, 1.4166666666666667],
    ]);
    expect(
      await q(
        "SELECT coalesce(d, f), greatest(d, f), CASE WHEN i > 2 THEN f ELSE d END FROM m ORDER BY i",
      ),
    ).toEqual([
      [1.5, 2.25, 1.5],
      [0.5, 0.5, null],
      [1.5, 1.5, null],
    ]);
    expect(
      await q("SELECT x FROM (SELECT d AS x FROM m UNION ALL SELECT f FROM m) s ORDER BY x"),
    ).toEqual([[0.5], [1.5], [1.5], [2.25], [null], [null]]);
  });

  it("casts a set operation's decimal members to its double column before matching", async () => {
    expect(await q("SELECT f FROM m INTERSECT SELECT d + 0.75 FROM m ORDER BY 1")).toEqual([
      [2.25],
      [null],
    ]);
    expect(
      await q("SELECT f FROM m EXCEPT SELECT d + 0.75000000000000000001 FROM m ORDER BY 1"),
    ).toEqual([[0.5]]);
  });

  it("keeps the last of equal values in a window frame read from its end", async () => {
    expect(
      await q(
        "SELECT min(d) OVER (ORDER BY i ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM m ORDER BY i",
      ),
    ).toEqual([["1.5"], ["1.5"], ["1.5"]]);
  });

  it("compares a decimal literal with a double as the double, as PostgreSQL does", async () => {
    expect(await q("SELECT i FROM m WHERE f + 0.75 = 3.00000000000000000001")).toEqual([[1]]);
  });

  it("keeps the last of equal values in min and max, and rounds integers as doubles", async () => {
    expect(await q("SELECT max(d), min(d) FROM m")).toEqual([["1.5", "1.5"]]);
    expect(await q("SELECT round(i) / 2, floor(7) / 2, round(i, 2) FROM m WHERE i = 1")).toEqual([
      [0.5, 3.5, "1.00"],
    ]);
  });

  it("refuses EXTRACT of a time of day from a date, as PostgreSQL does", async () => {
    const q2 = rowsOver([
      { source: "s", name: "t", columns: [{ name: "d", type: "date" }], rows: [["2024-01-02"]] },
    ]);
    expect(await q2("SELECT EXTRACT(epoch FROM d) FROM t")).toEqual([["1704153600"]]);
    const err = await q2("SELECT EXTRACT(second FROM d) FROM t").catch((e: unknown) => e);
    expect(String(err)).toContain('unit "second" not supported for type date');
  });

  it("keeps every digit of a decimal literal, past a double's", async () => {
    expect(
      await q(
        "SELECT 0.30000000000000001, 123.4567890123456789, .10000000000000000001 FROM m WHERE i = 1",
      ),
    ).toEqual([["0.30000000000000001", "123.4567890123456789", "0.10000000000000000001"]]);
    expect(await q("SELECT i FROM m WHERE i = 1.0000000000000001")).toEqual([]);
    const err = await q("SELECT 0.30000000000000001, 0.29999999999999999 FROM m").catch(
      (e: unknown) => e,
    );
    expect(String(err)).toContain("equal to a double's precision");
  });
});

describe("decimals spilled to disk", () => {
  const sources: SourceInfo[] = [{ name: "s", dialect: pgDialect, capabilities: NOTHING_PUSHED }];
  /** 4,000 amounts of 20 digits, scrambled, with a few scales of the same values. */
  const tables: MemoryTable[] = [
    {
      source: "s",
      name: "payments",
      columns: [
        { name: "id", type: "integer" },
        { name: "amount", type: "decimal" },
      ],
      rows: Array.from({ length: 4000 }, (_, i) => {
        const id = (i * 7919) % 4000;
        const cents = `${id % 500}`.padStart(3, "0");
        return [
          id,
          `123456789012345${cents.slice(0, 1)}.${cents.slice(1)}${id % 3 === 0 ? "0" : ""}`,
        ];
      }),
    },
  ];
  const spillDir = spillDirectory();

  const rows = (sql: string, limits: Partial<ExecLimits>) =>
    rowsUnder(tables, sources, sql, limits);

  it("sorts and groups them exactly when the runs go to disk", async () => {
    // A sort holds at least a batch (300 rows); the aggregate holds its 500 groups.
    for (const [sql, maxBuildRows] of [
      ["SELECT amount, id FROM payments ORDER BY amount DESC, id", 1000],
      ["SELECT amount, count(*), sum(amount) FROM payments GROUP BY amount", 200],
    ] as const) {
      const ordered = sql.includes("ORDER BY");
      const inOrder = (r: Row[]) => (ordered ? r : r.map((row) => row.join(" ")).sort());
      const inMemory = await rows(sql, {});
      const tight = { maxBuildRows };
      await expect(rows(sql, tight)).rejects.toMatchObject({ code: "TOO_LARGE" });
      const spilled = await rows(sql, { ...tight, spill: spillDir.limits(50_000_000) });
      expect(inOrder(spilled)).toEqual(inOrder(inMemory));
      expect(spilled.every((row) => typeof row[0] === "string")).toBe(true);
    }
    const [total] = await rows("SELECT sum(amount) FROM payments", {});
    // 4,000 values of 1234567890123450.00 to …4.99, summed with Python's decimal module.
    expect(total).toEqual(["4938271560493809980.000"]);
    expect(await spillDir.runFiles()).toEqual([]);
  });
});

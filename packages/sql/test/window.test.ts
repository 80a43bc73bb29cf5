/** Window functions on hand-checked inputs; every expected answer is PostgreSQL 15's. */
import type { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { type MemoryTable, rowsOver } from "./helpers.ts";

const tables: MemoryTable[] = [
  {
    source: "s",
    name: "staff",
    columns: [
      { name: "id", type: "integer" },
      { name: "dept", type: "text" },
      { name: "pay", type: "integer" },
    ],
    rows: [
      [1, "a", 10],
      [2, "a", 20],
      [3, "a", 20],
      [4, "b", 5],
      [5, "b", null],
      [6, "c", 7],
    ],
  },
];
const q = rowsOver(tables);

describe("window functions", () => {
  it("ranks within partitions and sums over partitions and running frames", async () => {
    expect(
      await q(`SELECT id,
        row_number() OVER (PARTITION BY dept ORDER BY pay DESC, id),
        rank() OVER (PARTITION BY dept ORDER BY pay DESC),
        dense_rank() OVER (ORDER BY pay),
        sum(pay) OVER (PARTITION BY dept),
        sum(pay) OVER (ORDER BY id),
        count(*) OVER (ORDER BY pay NULLS FIRST)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 3, 3, 3, 50, 10, 4],
      [2, 1, 1, 4, 50, 30, 6],
      [3, 2, 1, 4, 50, 50, 6],
      [4, 2, 2, 1, 5, 55, 2],
      [5, 1, 1, 5, 5, 55, 1],
      [6, 1, 1, 2, 7, 62, 3],
    ]);
  });

  it("reads other rows: lag, lead, first and last value, ROWS frames, ntile", async () => {
    const rows = await q(`SELECT id,
        lag(pay) OVER (ORDER BY id),
        lead(pay, 2, -1) OVER (ORDER BY id),
        first_value(pay) OVER (PARTITION BY dept ORDER BY id),
        last_value(pay) OVER (PARTITION BY dept ORDER BY id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),
        ntile(4) OVER (ORDER BY id),
        avg(pay) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING)
      FROM staff ORDER BY id`);
    expect(rows.map((r) => r.slice(0, 6))).toEqual([
      [1, null, 20, 10, 20, 1],
      [2, 10, 5, 10, 20, 1],
      [3, 20, null, 10, 20, 2],
      [4, 20, 7, 5, null, 2],
      [5, 5, -1, 5, null, 3],
      [6, null, -1, 7, 7, 4],
    ]);
    const averages = [15, 50 / 3, 15, 12.5, 6, 7];
    rows.forEach((r, i) => {
      expect(r[6]).toBeCloseTo(averages[i] as number, 6);
    });
  });

  it("frames from the current row forward, and nth_value within a growing frame", async () => {
    expect(
      await q(`SELECT id,
        max(pay) OVER (PARTITION BY dept ORDER BY id ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING),
        nth_value(id, 2) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 20, null],
      [2, 20, 2],
      [3, 20, 2],
      [4, 5, 2],
      [5, null, 2],
      [6, 7, 2],
    ]);
  });

  it("ranks groups by an aggregate in a grouped query", async () => {
    expect(
      await q(
        "SELECT dept, sum(pay), rank() OVER (ORDER BY sum(pay) DESC) FROM staff GROUP BY dept ORDER BY dept",
      ),
    ).toEqual([
      ["a", 50, 1],
      ["b", 5, 3],
      ["c", 7, 2],
    ]);
  });

  it("takes aggregates inside a window aggregate in a grouped query", async () => {
    expect(
      await q(
        "SELECT dept, count(*), sum(count(*)) OVER (), max(sum(pay)) OVER () FROM staff GROUP BY dept ORDER BY dept",
      ),
    ).toEqual([
      ["a", 3, "6", 50],
      ["b", 2, "6", 50],
      ["c", 1, "6", 50],
    ]);
  });

  it("frames by ROWS n PRECEDING alone, to the current row", async () => {
    expect(
      await q("SELECT id, sum(pay) OVER (ORDER BY id ROWS 2 PRECEDING) FROM staff ORDER BY id"),
    ).toEqual([
      [1, 10],
      [2, 30],
      [3, 50],
      [4, 45],
      [5, 25],
      [6, 12],
    ]);
  });

  it("gives percent_rank() and cume_dist() by peers, over the partition", async () => {
    expect(
      await q(`SELECT id, percent_rank() OVER (ORDER BY pay), cume_dist() OVER (ORDER BY pay),
        percent_rank() OVER (PARTITION BY dept ORDER BY pay DESC), cume_dist() OVER ()
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 0.4, 0.5, 1, 1],
      [2, 0.6, 0.8333333333333334, 0, 1],
      [3, 0.6, 0.8333333333333334, 0, 1],
      [4, 0, 0.16666666666666666, 1, 1],
      [5, 1, 1, 0, 1],
      [6, 0.2, 0.3333333333333333, 0, 1],
    ]);
  });

  it("frames RANGE by the ORDER BY value's distance, both ways, a NULL framing its peers", async () => {
    expect(
      await q(`SELECT id,
        sum(pay) OVER (ORDER BY pay RANGE BETWEEN 5 PRECEDING AND 5 FOLLOWING),
        count(*) OVER (ORDER BY pay DESC RANGE BETWEEN 3 PRECEDING AND CURRENT ROW),
        sum(pay) OVER (ORDER BY pay NULLS FIRST RANGE BETWEEN CURRENT ROW AND 10 FOLLOWING)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 22, 1, 50],
      [2, 40, 2, 40],
      [3, 40, 2, 40],
      [4, 22, 2, 22],
      [5, null, 1, null],
      [6, 22, 2, 17],
    ]);
  });

  it("frames GROUPS by peer groups, RANGE from the current row's peers, ROWS ending PRECEDING", async () => {
    expect(
      await q(`SELECT id,
        sum(pay) OVER (ORDER BY pay GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW),
        count(*) OVER (ORDER BY dept GROUPS BETWEEN 1 FOLLOWING AND 1 FOLLOWING),
        sum(pay) OVER (ORDER BY pay RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 17, 2, 50],
      [2, 50, 2, 40],
      [3, 50, 2, 40],
      [4, 5, 1, 62],
      [5, 40, 1, null],
      [6, 12, 0, 57],
    ]);
    expect(
      await q(`SELECT id,
        sum(pay) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING),
        sum(pay) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, null, null],
      [2, 10, 10],
      [3, 30, 30],
      [4, 40, 50],
      [5, 25, 55],
      [6, 5, 55],
    ]);
  });

  it("measures RANGE offsets exactly: decimals as decimals, bigints past 2^53, NaN as its own peer", async () => {
    const amounts = rowsOver([
      {
        source: "s",
        name: "amounts",
        columns: [
          { name: "id", type: "integer" },
          { name: "x", type: "decimal" },
          { name: "big", type: "bigint" },
          { name: "f", type: "double" },
          { name: "groups", type: "integer" },
        ],
        rows: [
          [1, 0.7, 9007199254740993n, 1, 1],
          [2, 0.8, 9007199254740994n, 2, 1],
          [3, 0.9, 9007199254740996n, Number.NaN, 2],
          [4, null, null, null, 2],
        ],
      },
    ]);
    expect(
      await amounts(`SELECT id,
        count(*) OVER (ORDER BY x RANGE BETWEEN CURRENT ROW AND 0.1 FOLLOWING),
        count(*) OVER (ORDER BY x RANGE BETWEEN 0.1 PRECEDING AND CURRENT ROW),
        count(*) OVER (ORDER BY big RANGE BETWEEN 1 PRECEDING AND CURRENT ROW),
        count(*) OVER (ORDER BY f RANGE BETWEEN 1 PRECEDING AND CURRENT ROW),
        count(*) OVER (ORDER BY f DESC RANGE BETWEEN CURRENT ROW AND 1 FOLLOWING)
      FROM amounts ORDER BY id`),
    ).toEqual([
      [1, 2, 1, 1, 1, 1],
      [2, 2, 2, 2, 2, 2],
      [3, 1, 2, 1, 1, 1],
      [4, 1, 1, 1, 1, 1],
    ]);
    // Infinities of a numeric column lie beyond every offset.
    const infinities = rowsOver([
      {
        source: "s",
        name: "infs",
        columns: [
          { name: "id", type: "integer" },
          { name: "v", type: "decimal" },
        ],
        rows: [
          [1, Number.NEGATIVE_INFINITY],
          [2, -1],
          [3, -0],
          [4, 0],
          [5, 0.1],
          [6, 0.2],
          [7, 0.3],
          [8, Number.POSITIVE_INFINITY],
        ],
      },
    ]);
    expect(
      await infinities(`SELECT id,
        count(*) OVER (ORDER BY v RANGE BETWEEN 1 PRECEDING AND 1 FOLLOWING),
        count(*) OVER (ORDER BY v DESC RANGE BETWEEN 1 PRECEDING AND CURRENT ROW)
      FROM infs ORDER BY id`),
    ).toEqual([
      [1, 1, 1],
      [2, 3, 3],
      [3, 6, 5],
      [4, 6, 5],
      [5, 5, 3],
      [6, 5, 2],
      [7, 5, 1],
      [8, 1, 1],
    ]);
    // NaN sorts above every number, and is the largest value, as in PostgreSQL.
    expect(await amounts("SELECT f FROM amounts ORDER BY f DESC")).toEqual([
      [null],
      [Number.NaN],
      [2],
      [1],
    ]);
    expect(await amounts("SELECT max(f), min(f) FROM amounts")).toEqual([[Number.NaN, 1]]);
    // A column named like a frame unit is a column.
    expect(
      await amounts(
        "SELECT id, sum(id) OVER (PARTITION BY groups ORDER BY groups ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM amounts ORDER BY id",
      ),
    ).toEqual([
      [1, 1],
      [2, 3],
      [3, 3],
      [4, 7],
    ]);
  });

  it("refines a named window in OVER (name …) with an ORDER BY and a frame", async () => {
    expect(
      await q(`SELECT id, sum(pay) OVER (w ORDER BY pay),
        count(*) OVER (w ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), rank() OVER (w)
      FROM staff WINDOW w AS (PARTITION BY dept) ORDER BY id`),
    ).toEqual([
      [1, 10, 1, 1],
      [2, 50, 2, 1],
      [3, 50, 2, 1],
      [4, 5, 1, 1],
      [5, 5, 2, 1],
      [6, 7, 1, 1],
    ]);
  });

  it("partitions by any expression, as ORDER BY orders by one", async () => {
    expect(
      await q(`SELECT id, sum(pay) OVER (PARTITION BY id % 2 ORDER BY id),
        count(*) OVER (PARTITION BY CASE WHEN pay > 9 THEN 'hi' END, dept || 'x'),
        rank() OVER (PARTITION BY (id + 1) / 3 ORDER BY pay DESC NULLS LAST
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 10, 3, 1],
      [2, 20, 3, 1],
      [3, 30, 3, 1],
      [4, 25, 2, 3],
      [5, 30, 2, 2],
      [6, 32, 1, 1],
    ]);
    await expect(q("SELECT sum(pay) OVER (PARTITION BY dept DESC) FROM staff")).rejects.toThrow(
      "ASC, DESC or NULLS in PARTITION BY is not supported",
    );
    // A column named over or rows is a column.
    expect(
      await q(
        "SELECT id, rank() OVER (PARTITION BY dept ORDER BY id) AS over FROM staff ORDER BY id",
      ),
    ).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 1],
      [5, 2],
      [6, 1],
    ]);
    expect(
      await q(
        "SELECT id, sum(pay) OVER (PARTITION BY NOT rows BETWEEN 2 AND 3 ORDER BY id) FROM (SELECT id, pay, id AS rows FROM staff) s ORDER BY id",
      ),
    ).toEqual([
      [1, 10],
      [2, 20],
      [3, 40],
      [4, 15],
      [5, 15],
      [6, 22],
    ]);
  });

  it("keeps the ORDER BY and LIMIT written after a WINDOW clause", async () => {
    expect(
      await q(
        "SELECT dept, sum(pay) OVER (w ORDER BY pay) FROM staff WINDOW w AS (PARTITION BY dept) ORDER BY dept, 2 LIMIT 2",
      ),
    ).toEqual([
      ["a", 10],
      ["a", 50],
    ]);
  });

  it("leaves out the current row, its group or its ties with EXCLUDE", async () => {
    expect(
      await q(`SELECT id,
        sum(pay) OVER (ORDER BY pay ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
          EXCLUDE CURRENT ROW),
        count(*) OVER (ORDER BY pay RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP),
        sum(pay) OVER (ORDER BY pay GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE TIES),
        first_value(id) OVER (ORDER BY pay, id ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING
          EXCLUDE CURRENT ROW),
        last_value(id) OVER (PARTITION BY dept ORDER BY pay, id
          ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE NO OTHERS)
      FROM staff ORDER BY id`),
    ).toEqual([
      [1, 52, 2, 57, 2, 3],
      [2, 42, 3, 30, 3, 3],
      [3, 42, 3, 30, 5, 3],
      [4, 57, 0, 12, 6, 5],
      [5, 62, 5, 40, null, 5],
      [6, 55, 1, 22, 1, 6],
    ]);
  });

  it("reads OVER name from the WINDOW clause", async () => {
    expect(
      await q(`SELECT id, sum(pay) OVER w, rank() OVER w, count(*) OVER v FROM staff
        WINDOW w AS (PARTITION BY dept ORDER BY pay), v AS (ORDER BY id ROWS 1 PRECEDING)
        ORDER BY id`),
    ).toEqual([
      [1, 10, 1, 1],
      [2, 50, 2, 2],
      [3, 50, 2, 2],
      [4, 5, 1, 2],
      [5, 5, 2, 2],
      [6, 7, 1, 2],
    ]);
  });

  it("refuses window calls where SQL does not allow them, and frames it cannot run", async () => {
    const fail = (sql: string) => q(sql).catch((e: EntenteError) => e);
    expect(await fail("SELECT id FROM staff WHERE row_number() OVER () > 1")).toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringContaining("window functions are not allowed in WHERE"),
    });
    expect(await fail("SELECT id FROM staff ORDER BY rank() OVER (ORDER BY pay)")).toMatchObject({
      code: "UNSUPPORTED",
      message: expect.stringContaining("in ORDER BY"),
    });
    expect(
      await fail(
        "SELECT sum(pay) OVER (ORDER BY dept RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) FROM staff",
      ),
    ).toMatchObject({
      code: "UNSUPPORTED",
      message:
        "RANGE with offset PRECEDING/FOLLOWING over text is not supported (only over numbers)",
    });
    // PostgreSQL's own refusals.
    const refused: [string, string][] = [
      ["ORDER BY id, pay RANGE 1 PRECEDING", "requires exactly one ORDER BY column"],
      ["ORDER BY id RANGE 1.5 PRECEDING", "for column type integer and offset type numeric"],
      ["GROUPS 1 PRECEDING", "GROUPS mode requires an ORDER BY clause"],
      ["ORDER BY id ROWS BETWEEN CURRENT ROW AND 1 PRECEDING", "cannot have preceding rows"],
      ["ORDER BY id ROWS BETWEEN CURRENT ROW AND 0 PRECEDING", "cannot have preceding rows"],
      ["ORDER BY id ROWS 0 FOLLOWING", "cannot end with current row"],
      ["ORDER BY id RANGE 1.0 PRECEDING", "for column type integer and offset type numeric"],
      [
        "ORDER BY id ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW",
        "cannot be UNBOUNDED FOLLOWING",
      ],
    ];
    for (const [frame, message] of refused)
      expect(await fail(`SELECT sum(pay) OVER (${frame}) FROM staff`)).toMatchObject({
        code: "BAD_REQUEST",
        message: expect.stringContaining(message),
      });
    expect(await fail("SELECT rank() OVER x FROM staff WINDOW w AS (ORDER BY pay)")).toMatchObject({
      code: "BAD_REQUEST",
      message: 'window "x" does not exist',
    });
    expect(
      await fail("SELECT sum(pay) OVER (w ORDER BY id) FROM staff WINDOW w AS (ORDER BY pay)"),
    ).toMatchObject({
      code: "BAD_REQUEST",
      message: 'cannot override ORDER BY clause of window "w"',
    });
    expect(
      await fail("SELECT sum(pay) OVER (w) FROM staff WINDOW w AS (ORDER BY pay ROWS 1 PRECEDING)"),
    ).toMatchObject({
      code: "BAD_REQUEST",
      message: 'cannot copy window "w" because it has a frame clause',
    });
  });
});

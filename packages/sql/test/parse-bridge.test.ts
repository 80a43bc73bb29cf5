/** The same-length rewrites that let the parser read PostgreSQL syntax it does not take. */
import { describe, expect, it } from "vitest";
import { parseSql } from "../src/index.ts";
import { bridgeSyntax } from "../src/parse-bridge.ts";
import { refusal } from "./helpers.ts";

describe("bridgeSyntax", () => {
  it("keeps every position, and leaves quoted text and comments alone", () => {
    const sql = `SELECT 'INTERSECT ALL', "range" -- EXCEPT ALL ()
      FROM t INTERSECT ALL SELECT percent_rank() OVER (ORDER BY a RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING), 1
      FROM t /* GROUPING SETS */ GROUP BY GROUPING   SETS ((a), ( ))`;
    const { text } = bridgeSyntax(sql);
    expect(text.length).toBe(sql.length);
    expect(text).toContain(`SELECT 'INTERSECT ALL', "range" -- EXCEPT ALL ()`);
    expect(text).toContain("/* GROUPING SETS */");
    expect(text).toContain("FROM t INTERSECT     SELECT ntile(1.25)");
    expect(text).toContain("ROWS  BETWEEN 1 PRECEDING AND 1 FOLLOWING");
    expect(text).toContain("GROUP BY GROUPING_SETS   ((a), '' )");
    expect(bridgeSyntax("SELECT a IS NOT\n DISTINCT FROM b, a IS DISTINCT FROM b").text).toBe(
      `SELECT a !~*${" ".repeat(19)}b, a !~${" ".repeat(15)}b`,
    );
  });

  it("writes () as an empty set only where a grouping element stands", () => {
    expect(bridgeSyntax("SELECT count() FROM t GROUP BY (), f()").text).toBe(
      "SELECT count() FROM t GROUP BY '', f()",
    );
    expect(bridgeSyntax("SELECT a FROM t GROUP BY a HAVING f() > 0").text).toBe(
      "SELECT a FROM t GROUP BY a HAVING f() > 0",
    );
  });

  it("marks set operations and frames in text order", () => {
    const b = bridgeSyntax(
      "SELECT sum(a) OVER (ORDER BY a GROUPS 1 PRECEDING) FROM t UNION ALL SELECT 1 EXCEPT ALL SELECT 2 INTERSECT SELECT 3",
    );
    expect(b.setOperations).toEqual([
      { name: "union", all: true },
      { name: "except", all: true },
      { name: "intersect", all: false },
    ]);
    expect(b.frames).toEqual([{ unit: "groups", endsPreceding: false, words: ["1", "preceding"] }]);
  });
});

describe("parsing through the rewrites", () => {
  it("gives the AST back what the rewrites hid", () => {
    const { ast } = parseSql(
      "SELECT cume_dist() OVER (ORDER BY a RANGE BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING) FROM t EXCEPT ALL SELECT 1",
    );
    expect(ast.set_op).toBe("except all");
    const call = ast.columns[0].expr;
    expect(call.name.name[0].value).toBe("cume_dist");
    expect(call.args.value).toEqual([]);
    const frame = call.over.as_window_specification.window_specification.window_frame_clause;
    expect(frame.left.value).toBe("range");
    expect(frame.right.value[1].value).toMatch(/^2 preceding$/i);
  });

  it("points syntax errors at the text as written", () => {
    const e = refusal(() =>
      parseSql("SELECT a FROM t GROUP BY GROUPING SETS ((a), ()) HAVING ) x"),
    );
    expect(e.message).toMatch(/line 1, column 57/);
  });

  it("refuses what it cannot tell apart from its own markers", () => {
    expect(
      refusal(() => parseSql("SELECT count(*) FROM t GROUP BY GROUPING SETS ((a), ()), ''"))
        .message,
    ).toBe("GROUP BY with both an empty grouping set () and the constant '' is not supported");
    expect(
      refusal(() => parseSql("SELECT ntile(2.25) OVER (), cume_dist() OVER () FROM t")).message,
    ).toBe("ntile of a fraction beside percent_rank() or cume_dist() is not supported");
    expect(
      refusal(() => parseSql("SELECT a FROM t WHERE a IS DISTINCT FROM b AND c !~ 'x'")).message,
    ).toBe("the operators !~ and !~* are not supported");
  });
});

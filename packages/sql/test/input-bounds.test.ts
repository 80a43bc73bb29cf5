/**
 * Hostile statements at the front door: syntax errors quote a bounded excerpt, statements nested
 * deeper than the engine can recurse or larger than allowed are refused before anything
 * recurses, and the parse pool keeps slow parses off the event loop, within their budget.
 */
import { EntenteError } from "@entente/protocol";
import { afterAll, describe, expect, it } from "vitest";
import {
  explainPlan,
  MAX_SQL_DEPTH,
  ParsePool,
  parseSql,
  planSql,
  type SourceInfo,
} from "../src/index.ts";
import {
  capabilities,
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  refusal,
  runSql,
} from "./helpers.ts";

const t: MemoryTable = {
  source: "a",
  name: "t",
  columns: [
    { name: "a", type: "integer" },
    { name: "b", type: "boolean" },
  ],
  rows: [
    [1, true],
    [2, false],
  ],
};
const catalogWith = (caps: SourceInfo["capabilities"]) =>
  memoryCatalog([t], [{ name: "a", dialect: pgDialect, capabilities: caps }]);
const engineOnly = catalogWith(NOTHING_PUSHED);
const pushing = catalogWith(capabilities());

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("syntax errors", () => {
  it("quote a few dozen characters around the error of a 600 KB statement", () => {
    const e = refusal(() => parseSql("x".repeat(600_000)));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.details).toEqual({ line: 1, column: 600_001 });
    expect(e.message).toMatch(/^syntax error at line 1, column 600001: unexpected end of input\n/);
    expect(e.message.length).toBeLessThan(300);
    const [, quoted, caret] = e.message.split("\n");
    expect(quoted).toMatch(/^…x+$/);
    // The error is at the end of the input: the caret stands just past the quoted text.
    expect(caret).toBe(`${" ".repeat(quoted?.length ?? 0)}^`);
  });

  it("quote the neighbourhood of an error inside a long line, on its line", () => {
    const long = `${"a + ".repeat(5_000)}1`;
    const e = refusal(() => parseSql(`SELECT 1\nFROM t WHERE ${long} = = 2 AND ${long} > 0`));
    expect(e.code).toBe("BAD_REQUEST");
    const column = `FROM t WHERE ${long} = `.length + 1;
    expect(e.details).toEqual({ line: 2, column });
    const [, quoted, caret] = e.message.split("\n");
    expect(quoted).toMatch(/^….*a \+ 1 = = 2 AND a \+ .*…$/);
    expect(quoted?.[(caret?.length ?? 0) - 1]).toBe("=");
    expect(e.message.length).toBeLessThan(300);
  });

  it("recognise unsupported syntax from the text just before the error, whatever came first", () => {
    // Thousands of ORDER BYs before the error: a rule reads a bounded window, not all of them.
    const e = refusal(() => parseSql(`SELECT '${"order by ".repeat(20_000)}' + `));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message.length).toBeLessThan(300);
    const ordering = refusal(() =>
      parseSql(`SELECT a FROM t WHERE a IN (${"1, ".repeat(20_000)}1) ORDER BY a USING <`),
    );
    expect(ordering.code).toBe("UNSUPPORTED");
    expect(ordering.message).toMatch(/^ORDER BY … USING is not supported/);
  });
});

/** Statements that nest `n` levels of one construct. */
const NESTED: Record<string, (n: number) => string> = {
  NOT: (n) => `SELECT a FROM t WHERE ${"NOT ".repeat(n)}b`,
  parentheses: (n) => `SELECT a FROM t WHERE ${"(".repeat(n)}a = 1${")".repeat(n)}`,
  "an OR chain": (n) =>
    `SELECT a FROM t WHERE ${Array.from({ length: n }, (_, i) => `a = ${i}`).join(" OR ")}`,
  "a + chain": (n) => `SELECT ${Array(n).fill("a").join(" + ")} FROM t`,
  CASE: (n) => `SELECT ${"CASE WHEN b THEN ".repeat(n)}a${" END".repeat(n)} FROM t`,
  "function calls": (n) => `SELECT ${"abs(".repeat(n)}a${")".repeat(n)} FROM t`,
  CAST: (n) => `SELECT ${"CAST(".repeat(n)}a${" AS integer)".repeat(n)} FROM t`,
  "subqueries in FROM": (n) => `SELECT a FROM ${"(SELECT a FROM ".repeat(n)}t${") s".repeat(n)}`,
  "IN subqueries": (n) =>
    `SELECT a FROM t WHERE ${"a IN (SELECT a FROM t WHERE ".repeat(n)}b${")".repeat(n)}`,
  "UNION ALL members": (n) => Array(n).fill("SELECT a FROM t").join(" UNION ALL "),
};

function accepted(sql: string): boolean {
  try {
    parseSql(sql);
    return true;
  } catch (err) {
    if (err instanceof EntenteError && /nested too deeply/.test(err.message)) return false;
    throw err;
  }
}

/** The most levels of a construct the parser accepts. */
function deepest(nested: (n: number) => string): number {
  let ok = 1;
  let refused = MAX_SQL_DEPTH + 1;
  while (refused - ok > 1) {
    const mid = Math.floor((ok + refused) / 2);
    if (accepted(nested(mid))) ok = mid;
    else refused = mid;
  }
  return ok;
}

describe("nesting", () => {
  const pool = new ParsePool({ threads: 1, timeoutMs: 30_000 });
  afterAll(() => pool.close());

  it("refuses one NOT more than the limit with BAD_REQUEST, not a stack overflow", () => {
    const e = refusal(() => parseSql(NESTED.NOT?.(MAX_SQL_DEPTH + 1) ?? ""));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.message).toMatch(/^statement nested too deeply: more than 200 levels/);
    expect(e.details).toEqual({ maxDepth: MAX_SQL_DEPTH });
  });

  it("names where parentheses open too deep, before the parser recurses into them", () => {
    const e = refusal(() => parseSql(`SELECT\n  ${"(".repeat(5_000)}1${")".repeat(5_000)}`));
    expect(e.code).toBe("BAD_REQUEST");
    expect(e.details).toEqual({ maxDepth: MAX_SQL_DEPTH, line: 2, column: MAX_SQL_DEPTH + 3 });
    expect(e.message).toMatch(/nested too deeply: .*\(parentheses at line 2, column 203\)/);
  });

  it("refuses what would overflow the parser itself with BAD_REQUEST", () => {
    for (const sql of [NESTED.CASE?.(2_000), NESTED["IN subqueries"]?.(2_000)]) {
      const e = refusal(() => parseSql(sql ?? ""));
      expect(e.code).toBe("BAD_REQUEST");
      expect(e.message).toMatch(/nested too deeply/);
    }
  });

  for (const [construct, nested] of Object.entries(NESTED)) {
    it(`binds, runs and carries between threads the deepest ${construct} it accepts`, async () => {
      const n = deepest(nested);
      expect(n).toBeGreaterThanOrEqual(MAX_SQL_DEPTH / 4);
      expect(accepted(nested(n + 1))).toBe(false);
      const sql = nested(n);
      explainPlan(planSql(sql, pushing).plan, pushing);
      const result = await runSql(sql, engineOnly, memoryRunner([t]));
      expect(result.rows.length).toBeGreaterThanOrEqual(0);
      const parsed = await pool.parse(sql, new AbortController().signal);
      expect(parsed).toEqual(parseSql(sql));
    });
  }
});

describe("size", () => {
  const inList = (n: number) =>
    `SELECT a FROM t WHERE a IN (${Array.from({ length: n }, (_, i) => i).join(", ")})`;

  it("refuses a statement with more syntax nodes than allowed with TOO_LARGE", () => {
    const e = refusal(() => parseSql(inList(2_000), { maxNodes: 1_000 }));
    expect(e.code).toBe("TOO_LARGE");
    expect(e.message).toMatch(/more than 1000 syntax nodes .*sqlJoin\.maxSqlNodes/);
    expect(e.details).toEqual({ maxNodes: 1_000 });
    expect(parseSql(inList(900), { maxNodes: 1_000 }).ast.type).toBe("select");
  });
});

describe("the parse pool", () => {
  /** Nested parentheses around a mistake: minutes of backtracking for the parser. */
  const EXPONENTIAL = `SELECT ${"(".repeat(24)}1 +${")".repeat(24)}`;
  const never = new AbortController().signal;

  it("parses a statement sent again from its cache, handing out copies", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 10_000, cacheEntries: 2 });
    try {
      const sql = "SELECT a FROM t WHERE b = $1";
      const first = await pool.parse(sql, never);
      first.ast.columns = "changed by its caller";
      const again = await pool.parse(sql, never);
      expect(again).toEqual(parseSql(sql));
      // Past the cache's size the oldest goes; every answer stays the parser's.
      for (const other of ["SELECT 1", "SELECT 2", sql]) {
        expect(await pool.parse(other, never)).toEqual(parseSql(other));
      }
    } finally {
      await pool.close();
    }
  });

  it("answers what parseSql answers, errors included", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 10_000, limits: { maxNodes: 50 } });
    try {
      const good = "EXPLAIN SELECT a, count(*) FROM t WHERE b GROUP BY a";
      expect(await pool.parse(good, never)).toEqual(parseSql(good));
      for (const bad of [
        "SELECT a FROM t WHERE",
        "DROP TABLE t",
        `SELECT 1 + ${"1 + ".repeat(60)}1`,
      ]) {
        const expected = refusal(() => parseSql(bad, { maxNodes: 50 }));
        const got = (await rejection(pool.parse(bad, never))) as EntenteError;
        expect(got).toBeInstanceOf(EntenteError);
        expect(got.toBody()).toEqual(expected.toBody());
      }
    } finally {
      await pool.close();
    }
  });

  it("ends a parse past its budget with TOO_LARGE, parsing others meanwhile and after", async () => {
    const pool = new ParsePool({ threads: 2, timeoutMs: 1_000 });
    try {
      await pool.ready();
      const settled: string[] = [];
      const hostile = rejection(pool.parse(EXPONENTIAL, never)).finally(() =>
        settled.push("hostile"),
      );
      await pool.parse("SELECT a FROM t", never);
      settled.push("good");
      const e = (await hostile) as EntenteError;
      expect(e.code).toBe("TOO_LARGE");
      expect(e.message).toMatch(/more than 1000 ms to parse \(sqlJoin\.parseTimeoutMs\)/);
      expect(settled).toEqual(["good", "hostile"]);
      // The ended thread was replaced.
      const after = await Promise.all([1, 2, 3].map((i) => pool.parse(`SELECT ${i}`, never)));
      expect(after).toHaveLength(3);
    } finally {
      await pool.close();
    }
  });

  it("stops a parse whose request gives up, queued or running, with the request's reason", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 60_000 });
    try {
      const running = new AbortController();
      const queued = new AbortController();
      const first = rejection(pool.parse(EXPONENTIAL, running.signal));
      const second = rejection(pool.parse("SELECT 1", queued.signal));
      queued.abort(new EntenteError("CANCELLED", "queued caller left"));
      expect(((await second) as EntenteError).message).toBe("queued caller left");
      running.abort(new EntenteError("DEADLINE_EXCEEDED", "running caller's deadline"));
      expect(((await first) as EntenteError).message).toBe("running caller's deadline");
      expect((await pool.parse("SELECT 2", never)).ast.type).toBe("select");
    } finally {
      await pool.close();
    }
  });

  it("fails what waits when closed, and refuses after", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 60_000 });
    const running = rejection(pool.parse(EXPONENTIAL, never));
    const queued = rejection(pool.parse("SELECT 1", never));
    await pool.close();
    for (const err of [await running, await queued, await rejection(pool.parse("SELECT 1", never))])
      expect((err as EntenteError).code).toBe("SHUTTING_DOWN");
  });
});

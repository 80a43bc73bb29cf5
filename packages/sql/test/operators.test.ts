import type { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { planSql, type Row, runPlan, type SourceInfo, type SourceRunner } from "../src/index.ts";
import {
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  NOTHING_PUSHED,
  pgDialect,
  runSql,
  watchedRunner,
} from "./helpers.ts";

const sources: SourceInfo[] = [
  { name: "a", dialect: pgDialect, capabilities: NOTHING_PUSHED },
  { name: "b", dialect: pgDialect, capabilities: NOTHING_PUSHED },
];

const small: MemoryTable[] = [
  {
    source: "a",
    name: "users",
    columns: [
      { name: "id", type: "integer" },
      { name: "name", type: "text" },
      { name: "country", type: "text" },
    ],
    rows: [
      [1, "ann", "US"],
      [2, "bob", "DE"],
      [3, "cy", "US"],
      [4, "dee", null],
    ],
  },
  {
    source: "b",
    name: "orders",
    columns: [
      { name: "id", type: "integer" },
      { name: "user_id", type: "integer" },
      { name: "total", type: "decimal" },
    ],
    rows: [
      [10, 1, 5.5],
      [11, 1, 4.5],
      [12, 3, 10],
      [13, 9, 1],
      [14, null, 2],
    ],
  },
];

async function q(sql: string, params: unknown[] = [], tables = small) {
  const catalog = memoryCatalog(tables, sources);
  return runSql(sql, catalog, memoryRunner(tables), params);
}

describe("operators on hand-checked inputs", () => {
  it("inner, left, right and full joins", async () => {
    const inner = await q(
      "SELECT u.id, o.id FROM users u JOIN orders o ON u.id = o.user_id ORDER BY o.id",
    );
    expect(inner.rows).toEqual([
      [1, 10],
      [1, 11],
      [3, 12],
    ]);
    const left = await q(
      "SELECT u.id, o.id FROM users u LEFT JOIN orders o ON u.id = o.user_id ORDER BY u.id, o.id",
    );
    expect(left.rows).toEqual([
      [1, 10],
      [1, 11],
      [2, null],
      [3, 12],
      [4, null],
    ]);
    const right = await q(
      "SELECT u.id, o.id FROM users u RIGHT JOIN orders o ON u.id = o.user_id ORDER BY o.id",
    );
    expect(right.rows).toEqual([
      [1, 10],
      [1, 11],
      [3, 12],
      [null, 13],
      [null, 14],
    ]);
    const full = await q(
      "SELECT u.id, o.id FROM users u FULL JOIN orders o ON u.id = o.user_id ORDER BY u.id NULLS FIRST, o.id",
    );
    expect(full.rows).toEqual([
      [null, 13],
      [null, 14],
      [1, 10],
      [1, 11],
      [2, null],
      [3, 12],
      [4, null],
    ]);
  });

  it("semi and anti joins from IN and EXISTS, with NOT IN's NULL rule", async () => {
    expect(
      (await q("SELECT id FROM users WHERE id IN (SELECT user_id FROM orders) ORDER BY id")).rows,
    ).toEqual([[1], [3]]);
    expect(
      (
        await q(
          "SELECT id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id) ORDER BY id",
        )
      ).rows,
    ).toEqual([[1], [3]]);
    expect(
      (
        await q(
          "SELECT id FROM users u WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.total > 5) ORDER BY id",
        )
      ).rows,
    ).toEqual([[2], [4]]);
    // orders.user_id has a NULL: NOT IN is never true.
    expect(
      (await q("SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM orders)")).rows,
    ).toEqual([]);
    expect(
      (
        await q(
          "SELECT id FROM users WHERE id NOT IN (SELECT user_id FROM orders WHERE user_id IS NOT NULL) ORDER BY id",
        )
      ).rows,
    ).toEqual([[2], [4]]);
  });

  it("aggregates with GROUP BY, HAVING, COUNT(DISTINCT) and NULL groups", async () => {
    const r = await q(
      "SELECT u.country, count(*) AS n, count(o.id), sum(o.total), avg(o.total), min(o.total), max(o.total), count(DISTINCT u.id) FROM users u LEFT JOIN orders o ON u.id = o.user_id GROUP BY u.country ORDER BY u.country",
    );
    // Decimals as PostgreSQL's numeric gives them: sum at the widest scale, avg at 16 digits.
    expect(r.rows).toEqual([
      ["DE", 1, 0, null, null, null, null, 1],
      ["US", 3, 3, "20.0", "6.6666666666666667", "4.5", "10", 2],
      [null, 1, 0, null, null, null, null, 1],
    ]);
    const having = await q(
      "SELECT country, count(*) FROM users GROUP BY country HAVING count(*) > 1",
    );
    expect(having.rows).toEqual([["US", 2]]);
    const empty = await q("SELECT count(*), sum(id) FROM users WHERE id > 100");
    expect(empty.rows).toEqual([[0, null]]);
  });

  it("orders NULLs as PostgreSQL does, and applies LIMIT/OFFSET and DISTINCT", async () => {
    expect((await q("SELECT country FROM users ORDER BY country")).rows).toEqual([
      ["DE"],
      ["US"],
      ["US"],
      [null],
    ]);
    expect((await q("SELECT country FROM users ORDER BY country DESC")).rows).toEqual([
      [null],
      ["US"],
      ["US"],
      ["DE"],
    ]);
    expect((await q("SELECT DISTINCT country FROM users ORDER BY 1 NULLS FIRST")).rows).toEqual([
      [null],
      ["DE"],
      ["US"],
    ]);
    expect((await q("SELECT id FROM users ORDER BY id LIMIT 2 OFFSET 1")).rows).toEqual([[2], [3]]);
    expect((await q("SELECT name FROM users ORDER BY id DESC LIMIT $1", [1])).rows).toEqual([
      ["dee"],
    ]);
  });

  it("UNION ALL, subqueries in FROM and CTEs", async () => {
    const u = await q(
      "SELECT id FROM users WHERE id < 2 UNION ALL SELECT user_id FROM orders WHERE id = 12 ORDER BY 1",
    );
    expect(u.rows).toEqual([[1], [3]]);
    const sub = await q(
      "SELECT t.c, t.n FROM (SELECT country AS c, count(*) AS n FROM users GROUP BY country) t WHERE t.n > 1",
    );
    expect(sub.rows).toEqual([["US", 2]]);
    const cte = await q(
      "WITH big AS (SELECT user_id, total FROM orders WHERE total >= 5) SELECT u.name, b.total FROM big b JOIN users u ON u.id = b.user_id ORDER BY b.total",
    );
    expect(cte.rows).toEqual([
      ["ann", "5.5"],
      ["cy", "10"],
    ]);
  });

  it("evaluates expressions with three-valued logic", async () => {
    const r = await q(
      "SELECT id, CASE WHEN country = 'US' THEN 'yes' ELSE 'no' END, coalesce(country, '?'), upper(name) || '!', id * 2 + 1, id / 2 FROM users WHERE NOT (country = 'DE') OR country IS NULL ORDER BY id",
    );
    expect(r.rows).toEqual([
      [1, "yes", "US", "ANN!", 3, 0],
      [3, "yes", "US", "CY!", 7, 1],
      [4, "no", "?", "DEE!", 9, 2],
    ]);
  });

  it("fails a build side over its limit with a clear error", async () => {
    const catalog = memoryCatalog(small, sources);
    const { planSql, runPlan } = await import("../src/index.ts");
    const { plan } = planSql("SELECT * FROM users u JOIN orders o ON u.id = o.user_id", catalog);
    const { batches } = runPlan(plan, catalog, memoryRunner(small), new AbortController().signal, {
      maxBuildRows: 2,
    });
    await expect(async () => {
      for await (const _ of batches) {
      }
    }).rejects.toThrow(/build side took the statement over its memory limit/);
  });
});

describe("memory limits and cleanup", () => {
  async function drain(sql: string, runner: SourceRunner, maxBuildRows: number) {
    const catalog = memoryCatalog(small, sources);
    const { plan } = planSql(sql, catalog);
    const { batches } = runPlan(plan, catalog, runner, new AbortController().signal, {
      maxBuildRows,
    });
    try {
      for await (const _ of batches) {
      }
    } catch (err) {
      return err as EntenteError;
    }
    throw new Error(`expected ${sql} to exceed its limit`);
  }

  it("bounds ORDER BY, DISTINCT, GROUP BY and subqueries like a build side", async () => {
    for (const [sql, what] of [
      ["SELECT id FROM orders ORDER BY total", "ORDER BY"],
      ["SELECT DISTINCT id FROM orders", "DISTINCT"],
      ["SELECT id, count(*) FROM orders GROUP BY id", "GROUP BY"],
      ["SELECT id FROM users WHERE id IN (SELECT user_id FROM orders)", "subquery"],
    ] as const) {
      const err = await drain(sql, memoryRunner(small), 3);
      expect(err.code, sql).toBe("TOO_LARGE");
      expect(err.message, sql).toContain(what);
    }
  });

  it("ends the probe side's statement when the build side fails", async () => {
    const runner = watchedRunner(small);
    const err = await drain("SELECT * FROM users u JOIN orders o ON u.id = o.user_id", runner, 2);
    expect(err.code).toBe("TOO_LARGE");
    expect([...runner.open]).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated inputs against a nested-loop reference

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function generated(seed: number): MemoryTable[] {
  const r = rng(seed);
  const maybe = (v: number) => (r() < 0.1 ? null : v);
  const left = Array.from(
    { length: 30 + Math.floor(r() * 30) },
    (_, i) => [i, maybe(Math.floor(r() * 15)), maybe(Math.floor(r() * 100))] as Row,
  );
  const right = Array.from(
    { length: Math.floor(r() * 60) },
    (_, i) => [i, maybe(Math.floor(r() * 15)), maybe(Math.floor(r() * 100))] as Row,
  );
  const cols = [
    { name: "id", type: "integer" as const },
    { name: "k", type: "integer" as const },
    { name: "v", type: "integer" as const },
  ];
  return [
    { source: "a", name: "l", columns: cols, rows: left },
    { source: "b", name: "r", columns: cols, rows: right },
  ];
}

function nestedLoop(
  l: Row[],
  r: Row[],
  type: "inner" | "left" | "right" | "full",
  on: (a: Row, b: Row) => boolean,
): Row[] {
  const out: Row[] = [];
  const rightMatched = new Set<number>();
  for (const a of l) {
    let found = false;
    r.forEach((b, j) => {
      if (on(a, b)) {
        found = true;
        rightMatched.add(j);
        out.push([...a, ...b]);
      }
    });
    if (!found && (type === "left" || type === "full")) out.push([...a, null, null, null]);
  }
  if (type === "right" || type === "full")
    r.forEach((b, j) => {
      if (!rightMatched.has(j)) out.push([null, null, null, ...b]);
    });
  return out;
}

const canon = (rows: Row[]) => rows.map((x) => JSON.stringify(x)).sort();

describe("joins and aggregates against a nested-loop reference", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`agrees on generated tables (seed ${seed})`, async () => {
      const tables = generated(seed);
      const [lt, rt] = tables as [MemoryTable, MemoryTable];
      const eq = (a: Row, b: Row) => a[1] !== null && b[1] !== null && a[1] === b[1];
      for (const type of ["inner", "left", "right", "full"] as const) {
        const got = await q(
          `SELECT * FROM l ${type.toUpperCase()} JOIN r ON l.k = r.k`,
          [],
          tables,
        );
        expect(canon(got.rows)).toEqual(canon(nestedLoop(lt.rows, rt.rows, type, eq)));
        const residual = (a: Row, b: Row) =>
          eq(a, b) && a[2] !== null && b[2] !== null && (a[2] as number) < (b[2] as number);
        const got2 = await q(
          `SELECT * FROM l ${type.toUpperCase()} JOIN r ON l.k = r.k AND l.v < r.v`,
          [],
          tables,
        );
        expect(canon(got2.rows)).toEqual(canon(nestedLoop(lt.rows, rt.rows, type, residual)));
      }
      const agg = await q(
        "SELECT l.k, count(*), count(r.v), sum(r.v), min(r.v), max(r.v), count(DISTINCT r.v) FROM l JOIN r ON l.k = r.k GROUP BY l.k",
        [],
        tables,
      );
      const groups = new Map<unknown, Row[]>();
      for (const row of nestedLoop(lt.rows, rt.rows, "inner", eq)) {
        const list = groups.get(row[1]) ?? [];
        list.push(row);
        groups.set(row[1], list);
      }
      const expected = [...groups.entries()].map(([k, rows]) => {
        const vs = rows.map((x) => x[5]).filter((v): v is number => v !== null);
        return [
          k,
          rows.length,
          vs.length,
          vs.length ? vs.reduce((a, b) => a + b, 0) : null,
          vs.length ? Math.min(...vs) : null,
          vs.length ? Math.max(...vs) : null,
          new Set(vs).size,
        ];
      });
      expect(canon(agg.rows)).toEqual(canon(expected));
    });
  }
});

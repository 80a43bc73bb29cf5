/**
 * `entente.sql` over a table spread over three regions: every statement answers what one
 * database holding every row answers, and EXPLAIN names the regions asked and pruned, and why.
 * Scans of other regions run there (their workers push down to their own databases); a join's
 * keys go to the owner regions only.
 */
import { encodeId } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareResults, describeMismatch } from "../../../test/e2e/sql/compare.ts";
import { Regions, ROWS } from "./cross-region-regions.ts";

const id = (region: number, seq: number) => String(encodeId(region, seq));

interface Case {
  sql: string;
  params?: unknown[];
  /** The statement orders its rows totally. */
  ordered?: boolean;
}

const CASES: Case[] = [
  { sql: `SELECT id, name, score FROM people WHERE id = ${id(2, 5)}` },
  { sql: `SELECT id, name FROM people WHERE id IN (${id(1, 3)}, ${id(3, 4)}, ${id(3, 9)})` },
  {
    sql: `SELECT count(*), min(id), max(id), sum(score), avg(score) FROM people
            WHERE id >= ${id(2, 1)} AND id < ${id(3, 0)}`,
  },
  { sql: `SELECT id, city FROM people WHERE id BETWEEN ${id(1, 250)} AND ${id(2, 20)}` },
  { sql: "SELECT name, joined FROM people WHERE id = $1", params: [encodeId(3, 2)] },
  {
    sql: `SELECT v.visit_id, p.name, v.amount FROM visits v JOIN people p ON p.id = v.person_id
            WHERE v.amount >= 80`,
  },
  {
    sql: `SELECT p.city, count(*), sum(v.amount), max(p.score) FROM visits v
            JOIN people p ON p.id = v.person_id GROUP BY p.city`,
  },
  {
    sql: `SELECT v.visit_id, p.id, p.city FROM visits v LEFT JOIN people p ON p.id = v.person_id
            WHERE v.amount < 12`,
  },
  {
    sql: `SELECT city, count(*), count(score), sum(score), avg(score), min(score), max(score),
                 min(joined), max(id) FROM people GROUP BY city`,
  },
  { sql: "SELECT count(DISTINCT city), count(*) FROM people WHERE score > 500" },
  {
    sql: `SELECT id, name, score FROM people WHERE score IS NOT NULL
            ORDER BY score DESC, id LIMIT 9`,
    ordered: true,
  },
  { sql: "SELECT id, name FROM people ORDER BY id DESC LIMIT 5 OFFSET 3", ordered: true },
  {
    sql: "SELECT id FROM people WHERE name LIKE 'p_3_1%' AND joined >= '2024-06-01'",
  },
  {
    sql: `SELECT id % 1000, score / 7, coalesce(score, -1) FROM people
            WHERE city = 'lima' AND id < ${id(2, 50)}`,
  },
  {
    sql: `SELECT city, count(*) FROM people WHERE id BETWEEN ${id(3, 1)} AND ${id(3, ROWS)}
            GROUP BY city ORDER BY city`,
    ordered: true,
  },
  { sql: "SELECT name FROM people WHERE id IN (SELECT person_id FROM visits WHERE amount = 42)" },
];

let regions: Regions;

beforeAll(async () => {
  regions = await Regions.start();
}, 90_000);

afterAll(async () => {
  await regions?.close();
});

describe("a table spread over regions", () => {
  it("answers every statement as one database holding every row", async () => {
    const failures: string[] = [];
    for (const c of CASES) {
      const got = await regions.sql(c.sql, c.params ?? []);
      const want = await regions.expected(c.sql, c.params ?? []);
      const mismatch = compareResults({ columns: got.columns, rows: want }, got, {
        ordered: c.ordered === true,
        compareNames: false,
      });
      if (mismatch) failures.push(describeMismatch(c.sql, mismatch, c.params));
      expect(got.rows.length + want.length).toBeGreaterThan(0);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  it("asks only the owner regions of the ids named, and says why in EXPLAIN", async () => {
    const one = await regions.sql(`EXPLAIN SELECT name FROM people WHERE id = ${id(2, 5)}`);
    expect(one.plan).toContain(`reads region 2: id = ${id(2, 5)} → owner region 2`);
    expect(one.plan).toMatch(/pruned region 1 \(here\): owns none of id = /);
    expect(one.plan).toMatch(/pruned region 3: owns none of id = /);
    // Only region 2's rows are read: the whole statement runs there.
    expect(one.plan).toContain("region:2");
    expect(one.plan).not.toContain("region:3");

    const list = await regions.sql(
      `EXPLAIN SELECT name FROM people WHERE id IN (${id(1, 3)}, ${id(3, 4)}, ${id(3, 9)})`,
    );
    expect(list.plan).toContain("reads region 1 (here): id IN (3 values): owns 1 → owner region 1");
    expect(list.plan).toContain("reads region 3: id IN (3 values): owns 2 → owner region 3");
    expect(list.plan).toContain("pruned region 2: owns none of id IN (3 values)");

    const range = await regions.sql(
      `EXPLAIN SELECT name FROM people WHERE id >= ${id(2, 1)} AND id < ${id(3, 0)}`,
    );
    expect(range.plan).toContain("reads region 2: id range spans regions 2–2");
    expect(range.plan).toContain("pruned region 1 (here): id range spans regions 2–2");
    expect(range.plan).toContain("pruned region 3: id range spans regions 2–2");

    const all = await regions.sql("EXPLAIN SELECT count(*) FROM people");
    for (const r of ["region 1 (here)", "region 2", "region 3"]) {
      expect(all.plan).toContain(`reads ${r}: no id predicate limits the regions`);
    }
  });

  it("aggregates in each region and merges the groups here", async () => {
    const sql =
      "SELECT city, count(*), sum(score), avg(score), min(score) FROM people GROUP BY city";
    const explained = await regions.sql(`EXPLAIN ${sql}`);
    for (const region of [2, 3]) {
      expect(explained.plan).toContain(
        `Remote region:${region}: partial aggregate of region ${region}`,
      );
    }
    const got = await regions.sql(sql);
    // One row per city and region crosses, not every person.
    for (const source of ["region:2", "region:3"]) {
      expect(got.stats?.sources[source]?.rows).toBeLessThanOrEqual(4);
    }
  });

  it("sends a join's keys to the regions that own them, and only those", async () => {
    const sql = `SELECT v.visit_id, p.name FROM visits v JOIN people p ON p.id = v.person_id
                   WHERE v.amount >= 90 AND v.person_id < ${id(3, 0)}`;
    const explained = await regions.sql(`EXPLAIN ${sql}`);
    expect(explained.plan).toContain("keys of the build side owned by region 2");
    expect(explained.plan).toMatch(/Scan region:2\.people_db\.public\.people/);
    const got = await regions.sql(sql);
    const want = await regions.expected(sql);
    expect(
      compareResults({ columns: got.columns, rows: want }, got, { compareNames: false }),
    ).toBeUndefined();
    const stats = got.stats?.sources ?? {};
    // Region 2 was asked for its few keys, not its table; region 3 owns none of them.
    expect(stats["region:2"]?.queries).toBeGreaterThan(0);
    expect(stats["region:2"]?.rows).toBeLessThan(want.length + 1);
    expect(stats["region:3"]).toBeUndefined();
  });
});

/**
 * The pure parts of tables spread over regions: reading a region's reply, the budget a region is
 * given, pruning members by the region bits of ids (with the reason EXPLAIN shows), routing a
 * join's keys to their owner regions, splitting an aggregate over the members, and building a
 * logical table whose members are in other regions.
 */
import { postgresDialect } from "@entente/connectors";
import { EntenteError, encodeId } from "@entente/protocol";
import {
  type CatalogTable,
  explainPlan,
  keysForMember,
  type LogicalTable,
  planSql,
  type SourceInfo,
  StaticCatalog,
} from "@entente/sql";
import { describe, expect, it } from "vitest";
import { buildLogicalTables, remoteTablesOf } from "../src/logical-config.ts";
import { regionBudgetMs } from "../src/owner-request.ts";
import { regionError, replyColumns, replyRows } from "../src/region-reply.ts";
import { regionCapabilities, regionSourceName } from "../src/region-source.ts";

const id = (region: number, seq: number) => encodeId(region, seq);

describe("a region's reply", () => {
  const columns = replyColumns(2, {
    columns: [
      { name: "id", type: "bigint" },
      { name: "name", type: "text" },
      { name: "nothing", type: "null" },
    ],
  });

  it("reads columns, and 64-bit values carried as numbers back as bigints", () => {
    expect(columns.map((c) => [c.name, c.type])).toEqual([
      ["id", "bigint"],
      ["name", "text"],
      ["nothing", "unknown"],
    ]);
    const rows = replyRows(2, columns, { rows: [[Number(id(2, 1)), "a", null]] });
    expect(rows).toEqual([[id(2, 1), "a", null]]);
    expect(replyRows(2, columns, { stats: {} })).toEqual([]);
  });

  it("names the region that answers garbage", () => {
    const bad = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err as EntenteError;
      }
      throw new Error("expected garbage to be refused");
    };
    expect(bad(() => replyColumns(3, "hello")).message).toBe(
      "region 3 answered a result without columns",
    );
    expect(bad(() => replyColumns(3, { columns: [{ name: 1 }] })).code).toBe("BAD_RESPONSE");
    expect(bad(() => replyRows(3, columns, { rows: [[1, "a"]] })).message).toBe(
      "region 3 answered a row of 2 values for 3 columns",
    );
    expect(bad(() => replyRows(3, columns, { rows: "x" })).message).toMatch(/not a list/);
    expect(bad(() => replyRows(3, columns, { rows: [[1.5, "a", null]] })).message).toMatch(
      /1\.5 for 64-bit column id/,
    );
  });

  it("names the region once in its errors and keeps their code", () => {
    const error = regionError(2, new EntenteError("DEADLINE_EXCEEDED", "entente.sql: late"));
    expect(error.message).toBe("region 2: entente.sql: late");
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    expect(error.retryable).toBe(true);
    expect(regionError(2, error).message).toBe(error.message);
  });

  it("gives a region less than the statement's time left, so its silence is reported in time", () => {
    expect(regionBudgetMs(30_000)).toBe(29_000);
    expect(regionBudgetMs(2_000)).toBe(1_800);
    expect(regionBudgetMs(0)).toBe(1);
  });
});

const PEOPLE = [
  { name: "id", type: "bigint" as const },
  { name: "name", type: "text" as const },
  { name: "score", type: "integer" as const },
];

/** `people` in region 1 (here) and regions 2 and 3 (their sources). */
function spreadCatalog(): StaticCatalog {
  const sources: SourceInfo[] = [
    { name: "db", dialect: postgresDialect, capabilities: regionCapabilities() },
    ...[2, 3].map((r) => ({
      name: regionSourceName(r),
      dialect: postgresDialect,
      capabilities: regionCapabilities(),
    })),
  ];
  const table = (source: string, path?: string[]): CatalogTable => ({
    source,
    schema: "public",
    name: "people",
    columns: PEOPLE,
    rowCount: 1_000,
    ...(path ? { path } : {}),
  });
  const people: LogicalTable = {
    name: "people",
    kind: "sharded",
    columns: PEOPLE,
    members: [1, 2, 3].map((r) => ({
      label: r === 1 ? "region 1 (here)" : `region ${r}`,
      table: r === 1 ? table("db") : table(regionSourceName(r), ["db", "public", "people"]),
      constraint: { kind: "region" as const, column: "id", regions: [r] },
    })),
  };
  const visits: CatalogTable = {
    source: "db",
    schema: "public",
    name: "visits",
    columns: [
      { name: "person_id", type: "bigint" },
      { name: "amount", type: "integer" },
    ],
    rowCount: 50,
  };
  return new StaticCatalog([people.members[0]?.table as CatalogTable, visits], sources, {}, [
    people,
  ]);
}

describe("pruning by the region bits of ids", () => {
  const catalog = spreadCatalog();
  const explain = (sql: string) => explainPlan(planSql(sql, catalog).plan, catalog).plan;

  it("reads the owner regions of an equality or an IN list, and says why", () => {
    const one = explain(`SELECT name FROM people WHERE id = ${id(3, 7)}`);
    expect(one).toContain(`reads region 3: id = ${id(3, 7)} → owner region 3`);
    expect(one).toContain(`pruned region 1 (here): owns none of id = ${id(3, 7)}`);
    // One region's rows: the whole statement goes there, named as its catalog names the table.
    expect(one).toContain('FROM "db"."public"."people"');
    const list = explain(`SELECT name FROM people WHERE id IN (${id(1, 1)}, ${id(2, 1)}, 5)`);
    expect(list).toContain("reads region 1 (here): id IN (3 values): owns 1 → owner region 1");
    expect(list).toContain("pruned region 3: owns none of id IN (3 values)");
    // Each region is sent only the ids it owns.
    expect(list).toContain(`params: [${JSON.stringify(String(id(2, 1)))}]`);
  });

  it("reads the regions a range of ids spans, its ends exclusive or not", () => {
    const below = explain(`SELECT name FROM people WHERE id < ${id(3, 0)}`);
    expect(below).toContain("pruned region 3: id range spans regions 0–2");
    const upTo = explain(`SELECT name FROM people WHERE id <= ${id(3, 0)}`);
    expect(upTo).toContain("reads region 3: id range spans regions 0–3");
    const above = explain(`SELECT name FROM people WHERE id > ${id(2, 0) - 1n}`);
    expect(above).toContain("pruned region 1 (here): id range spans regions 2–65535");
    const between = explain(`SELECT name FROM people WHERE id BETWEEN ${id(1, 9)} AND ${id(2, 9)}`);
    expect(between).toContain("pruned region 3: id range spans regions 1–2");
  });

  it("routes a join's keys to the members that own them", () => {
    const constraint = { kind: "region" as const, column: "id", regions: [2] };
    const keys = [id(1, 1), id(2, 1), Number(id(2, 2)), 7n, "x"];
    expect(keysForMember(constraint, "id", keys)).toEqual([id(2, 1), Number(id(2, 2))]);
    expect(keysForMember(constraint, "other", keys)).toEqual(keys);
    const plan = explain(
      "SELECT v.amount, p.name FROM visits v JOIN people p ON p.id = v.person_id",
    );
    expect(plan).toContain("keys of the build side owned by region 2");
    expect(plan).toContain("keys of the build side owned by region 3");
  });

  it("aggregates in each member and merges the partial results", () => {
    const plan = explain("SELECT name, count(*), avg(score), max(score) FROM people GROUP BY name");
    expect(plan).toContain("Remote region:2: partial aggregate of region 2");
    expect(plan).toContain('SELECT "name", COUNT(*), SUM("score"), COUNT("score"), MAX("score")');
    // A DISTINCT count would count a value two members hold twice: the rows come here.
    const distinct = explain("SELECT count(DISTINCT name) FROM people");
    expect(distinct).not.toContain("partial aggregate");
  });
});

describe("a logical table with members in other regions", () => {
  // Its names compare in a collation of their own, in this region's PostgreSQL.
  const own: CatalogTable = {
    source: "people_db",
    schema: "public",
    name: "people",
    columns: PEOPLE.map((c) => (c.name === "name" ? { ...c, textCompare: "collate" as const } : c)),
    rowCount: 300,
  };
  const physical = new StaticCatalog([own], []);
  const config = {
    people: {
      shards: {
        key: "id",
        by: "region" as const,
        members: [1, 2, 3].map((region) => ({ region, table: "people_db.public.people" })),
      },
    },
  };

  it("reads this region's member here and asks the others for theirs", () => {
    expect(remoteTablesOf(config, 1)).toEqual([
      { region: 2, table: "people_db.public.people" },
      { region: 3, table: "people_db.public.people" },
    ]);
    const described = new Map([
      [
        "2|people_db.public.people",
        {
          source: "region:2",
          schema: "people_db.public",
          name: "people",
          path: ["people_db", "public", "people"],
          columns: PEOPLE,
        },
      ],
    ]);
    const { tables, problems } = buildLogicalTables(config, physical, {
      regions: { ownRegion: 1, described, sourceOf: regionSourceName },
    });
    expect(problems).toEqual([]);
    const members = tables[0]?.members ?? [];
    expect(members.map((m) => [m.label, m.table.source, m.constraint])).toEqual([
      ["region 1 (here)", "people_db", { kind: "region", column: "id", regions: [1] }],
      ["region 2", "region:2", { kind: "region", column: "id", regions: [2] }],
      ["region 3", "region:3", { kind: "region", column: "id", regions: [3] }],
    ]);
    // Region 3 has not answered yet: its share is taken to be shaped and sized like ours, its
    // columns compared by its engine as text.
    expect(members[2]?.table.columns).toEqual(PEOPLE);
    expect(members[0]?.table.columns[1]?.textCompare).toBe("collate");
    expect(members[2]?.table.path).toEqual(["people_db", "public", "people"]);
    expect(members[1]?.table.rowCount).toBe(300);
  });

  it("reports members of regions when the engine knows no region", () => {
    const { tables, problems } = buildLogicalTables(config, physical);
    expect(tables).toEqual([]);
    expect(problems[0]).toMatch(
      /logicalTables\.people: member region 1 .*without its own region and client/,
    );
  });
});

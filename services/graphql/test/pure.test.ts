/**
 * The GraphQL service's pure parts: kept results and cursors on a handed-in clock, tiers read
 * from EXPLAIN text, the port it listens on, the configuration's defaults, what a document is
 * counted to cost, and the Host headers taken.
 */
import { EntenteError } from "@entente/protocol";
import { getIntrospectionQuery, parse } from "graphql";
import { describe, expect, it } from "vitest";
import {
  allowedHostsOf,
  decodeCursor,
  documentCost,
  EMBEDDED_GRAPHQL_PORT,
  encodeCursor,
  graphqlConfigSchema,
  KeptResults,
  listenPortOf,
  mediaTypeOf,
  tiersOfPlan,
} from "../src/index.ts";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    if (err instanceof EntenteError) return err.code;
    throw err;
  }
  return undefined;
}

describe("cursors", () => {
  it("round-trip, and anything else is refused with BAD_REQUEST", () => {
    const cursor = { id: "abc123", offset: 4000 };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(codeOf(() => decodeCursor("not a cursor"))).toBe("BAD_REQUEST");
    expect(codeOf(() => decodeCursor(Buffer.from("abc:-1").toString("base64url")))).toBe(
      "BAD_REQUEST",
    );
    expect(codeOf(() => decodeCursor("x".repeat(1000)))).toBe("BAD_REQUEST");
  });
});

describe("kept results", () => {
  const entry = (id: string, bytes: number, key = "k") => ({
    id,
    key,
    rows: [[1], [2], [3]],
    bytes,
    meta: {},
  });

  it("keeps a result until its time runs out, each read extending it", () => {
    const kept = new KeptResults({ ttlMs: 1000, maxBytes: 10_000 });
    expect(kept.keep(entry("a", 10), 0)).toBe(true);
    expect(kept.read({ id: "a", offset: 1 }, "k", 900).rows).toHaveLength(3);
    expect(kept.read({ id: "a", offset: 2 }, "k", 1800).id).toBe("a");
    expect(codeOf(() => kept.read({ id: "a", offset: 2 }, "k", 2800))).toBe("NOT_FOUND");
    expect(kept.size).toBe(0);
    expect(kept.bytes).toBe(0);
  });

  it("refuses another statement's cursor and one past the end", () => {
    const kept = new KeptResults({ ttlMs: 1000, maxBytes: 10_000 });
    kept.keep(entry("a", 10), 0);
    expect(codeOf(() => kept.read({ id: "a", offset: 1 }, "other", 1))).toBe("BAD_REQUEST");
    expect(codeOf(() => kept.read({ id: "a", offset: 4 }, "k", 1))).toBe("BAD_REQUEST");
  });

  it("drops the least recently read to stay within its bytes, and refuses what cannot fit", () => {
    const kept = new KeptResults({ ttlMs: 1000, maxBytes: 100 });
    kept.keep(entry("a", 40), 0);
    kept.keep(entry("b", 40), 0);
    kept.read({ id: "a", offset: 0 }, "k", 1);
    kept.keep(entry("c", 40), 2);
    expect(codeOf(() => kept.read({ id: "b", offset: 0 }, "k", 3))).toBe("NOT_FOUND");
    expect(kept.read({ id: "a", offset: 0 }, "k", 3).id).toBe("a");
    expect(kept.bytes).toBe(80);
    expect(kept.keep(entry("huge", 101), 4)).toBe(false);
    expect(kept.size).toBe(2);
  });

  it("shares its bytes with the results being read, which come first", () => {
    const kept = new KeptResults({ ttlMs: 1000, maxBytes: 100 });
    kept.keep(entry("a", 40), 0);
    kept.keep(entry("b", 40), 0);
    // Reading one result drops the least recently read kept one to make room.
    expect(kept.reserve(30, 1)).toBe(true);
    expect(kept.size).toBe(1);
    expect(kept.bytes + kept.reserved).toBe(70);
    // Results being read together never pass the budget, kept ones or not.
    expect(kept.reserve(60, 1)).toBe(true);
    expect(kept.size).toBe(0);
    expect(kept.reserve(11, 1)).toBe(false);
    expect(kept.reserved).toBe(90);
    expect(kept.keep(entry("c", 20), 1)).toBe(false);
    kept.release(60);
    expect(kept.keep(entry("c", 20), 1)).toBe(true);
    const budget = kept.budget(() => 2);
    expect(budget.limit).toBe(100);
    expect(budget.reserve(50)).toBe(true);
    expect(kept.size).toBe(1);
    // What cannot fit even without the kept results drops none of them.
    expect(budget.reserve(21)).toBe(false);
    expect(kept.size).toBe(1);
    expect(budget.reserve(20)).toBe(true);
    expect(kept.size).toBe(0);
    budget.release(70);
    kept.release(30);
    expect(kept.reserved).toBe(0);
  });
});

describe("document cost", () => {
  const cost = (document: string) => documentCost(parse(document));

  it("counts the fields written, a fragment's once", () => {
    expect(cost("{ tables { name kind } }").fields).toBe(3);
    expect(cost(`{ ${"tables { name } ".repeat(2400)} }`).fields).toBe(4800);
    expect(
      cost("fragment F on Table { name kind } { tables { ...F ...F ... on Table { source } } }")
        .fields,
    ).toBe(4);
    // Introspection is well within the default bound.
    expect(cost(getIntrospectionQuery({ descriptions: true })).fields).toBeLessThan(100);
  });

  it("counts the costly root fields by response name, aliases each", () => {
    const aliases = (n: number, field: string) =>
      Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(" ");
    expect(cost(`{ ${aliases(900, 'tableStats(table: "t") { rowCount }')} }`).costly).toBe(900);
    expect(
      cost(`{ ${aliases(3, 'query(sql: "SELECT 1") { rowCount }')} tables { name } }`),
    ).toEqual({ fields: 8, costly: 3 });
    expect(
      cost('{ recommendedSource(date: "2026-01-01") { tier } retention { table } }').costly,
    ).toBe(1);
    // Every mutation costs; __typename does not.
    expect(
      cost(`mutation { ${aliases(4, 'compact(table: "t") { table }')} __typename }`).costly,
    ).toBe(4);
    // Through fragments and inline fragments; one response name spread twice runs once.
    expect(
      cost(
        'fragment F on Query { a: tableStats(table: "t") { rowCount } b: query(sql: "SELECT 1") { rowCount } } { ...F ...F ... on Query { c: tableStats(table: "u") { rowCount } } }',
      ).costly,
    ).toBe(3);
    // A field named like a costly one below the root is not one.
    expect(cost("{ tables { name } materialized { sql } }").costly).toBe(0);
  });
});

describe("HTTP checks", () => {
  it("takes the configured host, localhost, 127.0.0.1, [::1] and allowedHosts on the port", () => {
    const hosts = allowedHostsOf(
      { host: "0.0.0.0", allowedHosts: ["GraphQL.example.com", "proxy:8443"] },
      4000,
    );
    for (const host of [
      "0.0.0.0:4000",
      "localhost:4000",
      "127.0.0.1:4000",
      "[::1]:4000",
      "graphql.example.com",
      "graphql.example.com:4000",
      "proxy:8443",
    ]) {
      expect(hosts.has(host)).toBe(true);
    }
    for (const host of ["evil.example:4000", "localhost:4001", "localhost", "proxy:4000"]) {
      expect(hosts.has(host)).toBe(false);
    }
    expect(allowedHostsOf({ host: "127.0.0.1" }, 80).has("localhost")).toBe(true);
  });

  it("reads a content type's media type", () => {
    expect(mediaTypeOf("Application/JSON; charset=utf-8")).toBe("application/json");
    expect(mediaTypeOf("application/json, text/plain")).toBe("application/json");
    expect(mediaTypeOf(undefined)).toBe("");
  });
});

describe("tiers from EXPLAIN", () => {
  it("reads the members read and pruned, with their reasons", () => {
    const plan = [
      "Aggregate: count(*)",
      "  UnionAll (tiered events: reads hot; pruned cold)",
      "    reads hot: its range may hold rows",
      "    pruned cold: created_at starts after its range",
      "    Scan pg.public.events AS events (rows≈10)",
      "      sql: SELECT 1",
    ].join("\n");
    expect(tiersOfPlan(plan)).toEqual([
      {
        table: "events",
        kind: "tiered",
        tier: "hot",
        read: true,
        reason: "its range may hold rows",
      },
      {
        table: "events",
        kind: "tiered",
        tier: "cold",
        read: false,
        reason: "created_at starts after its range",
      },
    ]);
  });

  it("reads notes under a remote node, several tables, and tables read twice", () => {
    const plan = [
      "HashJoin inner on a.id = b.id (build left, rows≈1)",
      "  Remote pg: a pushed join (rows≈1)",
      "    sharded orders_all: reads 0, 1",
      "    reads 0: its range may hold rows",
      "    reads 1: its range may hold rows",
      "    sql: SELECT …",
      "  UnionAll (tiered events: reads nothing; pruned hot, cold)",
      "    pruned hot: no rows",
      "    pruned cold: no rows",
      "  UnionAll (tiered events: reads cold; pruned hot)",
    ].join("\n");
    const uses = tiersOfPlan(plan).map((u) => [u.table, u.tier, u.read]);
    expect(uses).toEqual([
      ["orders_all", "0", true],
      ["orders_all", "1", true],
      ["events", "hot", false],
      ["events", "cold", true],
    ]);
  });

  it("finds nothing in a plan without logical tables", () => {
    expect(tiersOfPlan("Scan a.main.t AS t (rows≈3)\n  sql: SELECT * FROM t")).toEqual([]);
  });
});

describe("configuration", () => {
  it("listens on the configured port, on 4000 for the embedded default, else not at all", () => {
    expect(listenPortOf({ port: 8080 }, { sources: {} })).toBe(8080);
    expect(listenPortOf({ port: 0 }, {})).toBe(0);
    expect(listenPortOf({}, {})).toBe(EMBEDDED_GRAPHQL_PORT);
    expect(EMBEDDED_GRAPHQL_PORT).toBe(4000);
    expect(listenPortOf({}, { sources: { pg: {} } })).toBeUndefined();
  });

  it("has defaults for every setting, and refuses a path that is not one", () => {
    expect(graphqlConfigSchema.parse(undefined)).toMatchObject({
      host: "127.0.0.1",
      path: "/graphql",
      pageRows: 1000,
    });
    expect(graphqlConfigSchema.safeParse({ path: "graphql" }).success).toBe(false);
    expect(graphqlConfigSchema.safeParse({ path: "/health" }).success).toBe(false);
    expect(graphqlConfigSchema.safeParse({ pageRows: 0 }).success).toBe(false);
    expect(graphqlConfigSchema.safeParse({ extra: 1 }).success).toBe(false);
    expect(graphqlConfigSchema.parse(undefined)).toMatchObject({
      maxFields: 500,
      maxCostlyFields: 10,
      corsOrigins: [],
      allowedHosts: [],
    });
    expect(graphqlConfigSchema.safeParse({ corsOrigins: ["*"] }).success).toBe(false);
    expect(
      graphqlConfigSchema.safeParse({ corsOrigins: ["https://grafana.example:3000"] }).success,
    ).toBe(true);
  });
});

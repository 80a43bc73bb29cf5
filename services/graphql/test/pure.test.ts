/**
 * The GraphQL service's pure parts: kept results and cursors on a handed-in clock, tiers read
 * from EXPLAIN text, the port it listens on, and the configuration's defaults.
 */
import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  decodeCursor,
  EMBEDDED_GRAPHQL_PORT,
  encodeCursor,
  graphqlConfigSchema,
  KeptResults,
  listenPortOf,
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
  });
});

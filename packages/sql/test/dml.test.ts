import { describe, expect, it } from "vitest";
import {
  bindWrite,
  type InsertWrite,
  type LogicalTable,
  parseSql,
  planSql,
  type SourceInfo,
  type StatementWrite,
  StaticCatalog,
} from "../src/index.ts";
import { capabilities, mysqlDialect, pgDialect, refusal } from "./helpers.ts";

const sources: SourceInfo[] = [
  { name: "pg", dialect: pgDialect, capabilities: capabilities() },
  { name: "my", dialect: mysqlDialect, capabilities: capabilities() },
  { name: "s0", dialect: pgDialect, capabilities: capabilities() },
  { name: "s1", dialect: mysqlDialect, capabilities: capabilities() },
  { name: "duck", dialect: { ...pgDialect, kind: "duckdb" }, capabilities: capabilities() },
];

const accountColumns = [
  { name: "id", type: "integer" as const },
  { name: "owner", type: "text" as const },
  { name: "balance", type: "decimal" as const },
];
const accounts = { source: "pg", schema: "public", name: "accounts", columns: accountColumns };
const orders = {
  source: "my",
  schema: "shop",
  name: "orders",
  columns: [
    { name: "id", type: "integer" as const },
    { name: "status", type: "text" as const },
    { name: "placed", type: "timestamp" as const },
  ],
};
const shard = (source: string) => ({
  source,
  schema: "main",
  name: "events",
  columns: accountColumns,
});
const hot = { source: "s0", schema: "main", name: "hot", columns: orders.columns };
const cold = { source: "s1", schema: "main", name: "cold", columns: orders.columns };
const BOUNDARY = 1_700_000_000_000_000_000n;

const logical: LogicalTable[] = [
  {
    name: "hashed",
    kind: "sharded",
    columns: accountColumns,
    members: [0, 1].map((b) => ({
      label: `shard ${b}`,
      table: shard(`s${b}`),
      constraint: { kind: "hash" as const, column: "id", buckets: 2, bucket: b },
    })),
  },
  {
    name: "tiered",
    kind: "tiered",
    columns: orders.columns,
    members: [
      {
        label: "hot",
        table: hot,
        constraint: { kind: "range", column: "placed", from: BOUNDARY, enforce: true },
      },
      {
        label: "cold",
        table: cold,
        constraint: { kind: "range", column: "placed", to: BOUNDARY, enforce: true },
      },
    ],
  },
  {
    name: "regional",
    kind: "sharded",
    columns: accountColumns,
    members: [
      {
        label: "region 1",
        table: shard("s0"),
        constraint: { kind: "region", column: "id", regions: [1] },
      },
      {
        label: "region 2",
        table: { ...shard("s1"), path: ["s1", "main", "events"] },
        constraint: { kind: "region", column: "id", regions: [2] },
      },
    ],
  },
];

const codes = {
  source: "pg",
  schema: "public",
  name: "codes",
  columns: [
    { name: "code", type: "text" as const, blankPadded: true as const },
    { name: "ref", type: "text" as const },
  ],
};

/** An enum column and one with a collation of its own, as the PostgreSQL connector flags them. */
const moods = {
  source: "pg",
  schema: "public",
  name: "moods",
  columns: [
    { name: "mood", type: "text" as const, textCompare: "cast" as const },
    { name: "before", type: "text" as const, textCompare: "cast" as const },
    { name: "word", type: "text" as const, textCompare: "collate" as const },
  ],
};

/** A 32-bit float and a double, in each kind of source. */
const gauges = (source: string) => ({
  source,
  schema: "public",
  name: `gauges_${source}`,
  columns: [
    { name: "f", type: "double" as const, singlePrecision: true },
    { name: "d", type: "double" as const },
  ],
});

/** Two uuid columns, read as their canonical text. */
const tokens = {
  source: "pg",
  schema: "public",
  name: "tokens",
  columns: [
    { name: "u", type: "text" as const, textCompare: "uuid" as const },
    { name: "v", type: "text" as const, textCompare: "uuid" as const },
  ],
};

const catalog = new StaticCatalog(
  [
    ...[accounts, orders, shard("s0"), shard("s1"), hot, cold, codes, moods, tokens],
    ...["pg", "my", "duck"].map(gauges),
  ],
  sources,
  {},
  logical,
);

const write = (sql: string, params: unknown[] = []) => bindWrite(parseSql(sql), catalog, params);

const statements = (sql: string, params: unknown[] = []) => {
  const plan = write(sql, params);
  if (plan.kind !== "update" && plan.kind !== "delete")
    throw new Error(`not an update: ${plan.kind}`);
  return plan.writes.map((w: StatementWrite) => ({ source: w.table.source, ...w.statement }));
};

describe("parsing statements", () => {
  it("tells queries, writes and transaction control apart", () => {
    expect(parseSql("SELECT 1").kind).toBe("select");
    expect(parseSql("INSERT INTO t VALUES (1)").kind).toBe("insert");
    expect(parseSql("UPDATE t SET a = 1").kind).toBe("update");
    expect(parseSql("DELETE FROM t").kind).toBe("delete");
    for (const [sql, kind] of [
      ["BEGIN", "begin"],
      ["start transaction;", "begin"],
      ["COMMIT", "commit"],
      ["end", "commit"],
      ["ROLLBACK WORK", "rollback"],
      ["abort", "rollback"],
    ]) {
      expect(parseSql(sql as string).kind, sql).toBe(kind);
    }
  });

  it("still refuses DDL, writes inside a SELECT, and writes where a query is planned", () => {
    expect(refusal(() => parseSql("DROP TABLE t")).message).toMatch(/^read-only: DROP/);
    expect(refusal(() => parseSql("INSERT INTO t SELECT * INTO u FROM v")).message).toMatch(
      /^read-only: SELECT INTO/,
    );
    const planned = refusal(() => planSql("DELETE FROM accounts", catalog));
    expect([planned.code, planned.message.startsWith("read-only: ")]).toEqual([
      "BAD_REQUEST",
      true,
    ]);
  });
});

describe("UPDATE and DELETE", () => {
  it("renders in the target source's dialect with every value a parameter", () => {
    expect(
      statements("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [100, 7]),
    ).toEqual([
      {
        source: "pg",
        sql: 'UPDATE "public"."accounts" SET "balance" = ("balance" - CAST($1 AS INTEGER)) WHERE ("id" = $2)',
        params: [100, 7],
      },
    ]);
    expect(statements("UPDATE my.shop.orders SET status = 'paid' WHERE id IN (1, 2)")).toEqual([
      {
        source: "my",
        sql: "UPDATE `shop`.`orders` SET `status` = ? WHERE (`id` IN (?, ?))",
        params: ["paid", 1, 2],
      },
    ]);
    expect(statements("DELETE FROM pg.accounts")).toEqual([
      { source: "pg", sql: 'DELETE FROM "public"."accounts"', params: [] },
    ]);
  });

  it("names an unknown column, a mistyped value and what cannot be run", () => {
    const unknown = refusal(() => write("UPDATE accounts SET balanse = 1"));
    expect([unknown.code, unknown.message]).toEqual([
      "NOT_FOUND",
      'column "balanse" of pg.public.accounts does not exist (columns: id, owner, balance)',
    ]);
    expect(refusal(() => write("DELETE FROM accounts WHERE nope = 1")).message).toContain("nope");
    expect(refusal(() => write("UPDATE accounts SET id = 'x' || owner")).message).toContain(
      'column "id" is of type integer',
    );
    expect(refusal(() => write("DELETE FROM accounts WHERE id IN (SELECT 1)")).code).toBe(
      "UNSUPPORTED",
    );
  });

  it("reaches only the members of a sharded table its WHERE fixes the key to", () => {
    const [one, other] = [2, 3];
    expect(statements(`DELETE FROM hashed WHERE id = ${one}`)).toEqual([
      { source: "s0", sql: 'DELETE FROM "main"."events" WHERE ("id" = $1)', params: [2] },
    ]);
    expect(
      statements(`UPDATE hashed SET owner = 'x' WHERE id IN (${one}, ${other})`).map(
        (s) => s.source,
      ),
    ).toEqual(["s0", "s1"]);
    const keyless = refusal(() => write("UPDATE hashed SET owner = 'x' WHERE owner = 'y'"));
    expect([keyless.code, keyless.message]).toEqual([
      "BAD_REQUEST",
      'an UPDATE or DELETE on sharded table "hashed" needs a routing key: a WHERE that fixes "id" (id = … or id IN (…)) so it reaches only the members holding those rows',
    ]);
    expect(refusal(() => write("UPDATE hashed SET id = 5 WHERE id = 2")).code).toBe("UNSUPPORTED");
    // Rows by region-owned id go through entente.data.put, which feeds other regions' replicas.
    for (const region of [1n, 2n]) {
      expect(refusal(() => write(`DELETE FROM regional WHERE id = ${region << 48n}`)).message).toBe(
        '"regional" is sharded by region-owned ids: its rows are written with entente.data.put, in the region that owns them, so other regions\' replicas see the change',
      );
    }
  });

  it("writes a tiered table's hot tier only, within the tier's range", () => {
    expect(statements("DELETE FROM tiered WHERE status = 'x'")).toEqual([
      {
        source: "s0",
        sql: 'DELETE FROM "main"."hot" WHERE (("status" = $1) AND ("placed" >= CAST($2 AS TIMESTAMPTZ)))',
        params: ["x", "2023-11-14 22:13:20.000000+00"],
      },
    ]);
    expect(refusal(() => write("UPDATE tiered SET placed = NULL WHERE id = 1")).code).toBe(
      "UNSUPPORTED",
    );
  });

  it("compares char(n) without its padding, and binds a SET value as the column's own type", () => {
    expect(statements("UPDATE codes SET ref = $1, Code = 'b' WHERE code LIKE 'a%'", ["u"])).toEqual(
      [
        {
          source: "pg",
          sql: 'UPDATE "public"."codes" SET "ref" = $1, "code" = $2 WHERE (CAST("code" AS TEXT) LIKE $3)',
          params: ["u", "b", "a%"],
        },
      ],
    );
  });
});

describe("columns compared otherwise than as text", () => {
  it("assigns an enum as stored, and compares it and a collated column as text", () => {
    expect(
      statements("UPDATE moods SET mood = before WHERE mood = 'plain' AND word = 'x'"),
    ).toEqual([
      {
        source: "pg",
        sql: 'UPDATE "public"."moods" SET "mood" = "before" WHERE ((CAST("mood" AS TEXT) = $1) AND (("word" COLLATE "C") = $2))',
        params: ["plain", "x"],
      },
    ]);
  });

  it("compares a float as the number the engine reads, and computes a value with all its digits", () => {
    const [pg] = statements("UPDATE gauges_pg SET d = f, f = f * 2 WHERE f = 0.1");
    expect(pg?.sql).toBe(
      'UPDATE "public"."gauges_pg" SET "d" = CAST(CAST("f" AS TEXT) AS DOUBLE PRECISION), "f" = (CAST(CAST("f" AS TEXT) AS DOUBLE PRECISION) * CAST($1 AS INTEGER)) WHERE (CAST(CAST("f" AS TEXT) AS DOUBLE PRECISION) = $2)',
    );
    // MySQL prints six digits: the value keeps the rest.
    const [my] = statements("UPDATE gauges_my SET f = f * 2 WHERE f = 0.1");
    expect(my?.sql).toBe(
      "UPDATE `public`.`gauges_my` SET `f` = (`f` * ?) WHERE (CAST(CAST(`f` AS CHAR) AS DOUBLE) = ?)",
    );
    // A condition in a value computed with the stored float would test the float itself.
    const tested = "SET d = CASE WHEN f = 0.1 THEN 1 ELSE 0 END";
    expect(() => statements(`UPDATE gauges_my ${tested}`)).toThrow(
      'the value of d cannot be run by source "my" (mysql)',
    );
    expect(statements(`UPDATE gauges_pg ${tested}`)[0]?.sql).toContain(
      'WHEN (CAST(CAST("f" AS TEXT) AS DOUBLE PRECISION) = $1)',
    );
    // DuckDB prints some floats otherwise than the engine reads them.
    expect(() => statements("DELETE FROM gauges_duck WHERE f = 0.1")).toThrow(
      'the WHERE condition cannot be run by source "duck" (duckdb)',
    );
    expect(statements("DELETE FROM gauges_duck WHERE f IS NULL")[0]?.sql).toBe(
      'DELETE FROM "public"."gauges_duck" WHERE ("f" IS NULL)',
    );
  });

  it("assigns a uuid as stored, and compares it as stored only with canonical uuid text", () => {
    const uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    expect(statements(`UPDATE tokens SET u = v WHERE v = '${uuid}'`)).toEqual([
      {
        source: "pg",
        sql: 'UPDATE "public"."tokens" SET "u" = "v" WHERE ("v" = $1)',
        params: [uuid],
      },
    ]);
    // PostgreSQL would delete the row whose uuid this is in upper case.
    expect(statements(`DELETE FROM tokens WHERE u = '${uuid.toUpperCase()}'`)).toEqual([
      {
        source: "pg",
        sql: 'DELETE FROM "public"."tokens" WHERE (CAST("u" AS TEXT) = $1)',
        params: [uuid.toUpperCase()],
      },
    ]);
  });
});

describe("INSERT", () => {
  const routed = (sql: string, params: unknown[] = []): InsertWrite[] => {
    const plan = write(sql, params);
    if (plan.kind !== "insert") throw new Error(`not an insert: ${plan.kind}`);
    return plan.target.route(plan.rows);
  };

  it("evaluates and casts its values, all columns or those named", () => {
    const [into] = routed(
      "INSERT INTO accounts VALUES (1, 'ann', $1), (2 + 1, upper('bo'), '7.5')",
      ["100.25"],
    );
    expect(into?.table.name).toBe("accounts");
    expect(into?.rows).toEqual([
      [1, "ann", "100.25"],
      [3, "BO", "7.5"],
    ]);
    const [named] = routed("INSERT INTO accounts (balance, id) VALUES (0, 9)");
    expect([named?.columns.map((c) => c.name), named?.rows]).toEqual([
      ["balance", "id"],
      [["0", 9]],
    ]);
  });

  it("names what does not fit", () => {
    expect(refusal(() => write("INSERT INTO accounts VALUES (1, 'a')")).message).toBe(
      "VALUES row 1 has 2 values for 3 columns (id, owner, balance)",
    );
    expect(refusal(() => write("INSERT INTO accounts (id) VALUES ('x')")).message).toContain(
      'VALUES row 1, column "id": invalid input for integer',
    );
    expect(refusal(() => write("INSERT INTO accounts (id, id) VALUES (1, 2)")).message).toContain(
      "more than once",
    );
    expect(refusal(() => write("INSERT INTO nowhere VALUES (1)")).code).toBe("NOT_FOUND");
  });

  it("routes rows to the shard or the hot tier that takes them", () => {
    const writes = routed("INSERT INTO hashed (id, owner) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    expect(writes.map((w) => [w.table.source, w.rows.map((r) => r[0])])).toEqual([
      ["s1", [1, 3]],
      ["s0", [2]],
    ]);
    expect(refusal(() => write("INSERT INTO hashed (owner) VALUES ('a')")).message).toContain(
      'must name its shard key column "id"',
    );
    const recent = routed("INSERT INTO tiered (id, placed) VALUES (1, $1)", [
      "2023-11-15 00:00:00",
    ]);
    expect(recent.map((w) => w.table.name)).toEqual(["hot"]);
    const old = refusal(() =>
      routed("INSERT INTO tiered (id, placed) VALUES (1, $1)", ["2023-11-14 00:00:00"]),
    );
    expect(old.message).toContain(
      'falls in tier "cold" of "tiered"; writes go to its hot tier "hot" only',
    );
  });

  it("keeps INSERT … SELECT for the engine to run", () => {
    const plan = write("INSERT INTO accounts (id, owner) SELECT id, status FROM shop.orders");
    expect(plan.kind).toBe("insert-select");
  });
});

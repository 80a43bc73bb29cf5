/**
 * The GraphQL service over real NATS with the real sql-join service on the embedded default's
 * demo data (users, orders), plus a tiered view of the orders: every query field, pagination to
 * the end, errors with Entente's codes, limits on hostile documents, and the checked-in schema.
 */
import { readFileSync } from "node:fs";
import { collectSqlResult, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  type IntrospectionQuery,
  printSchema,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphqlService } from "../src/index.ts";
import { printedSchema, SCHEMA_FILE } from "../src/print-schema.ts";
import { codeOf, data, graphql } from "./helpers.ts";

const PAGE_ROWS = 400;

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let json: EntenteClient;
let url: string;
let base: string;

/** The statement's rows as entente.sql answers them in JSON. */
async function sqlRows(sql: string, params?: unknown[]): Promise<unknown[][]> {
  const items = await json.collect(SUBJECTS.sql, { sql, ...(params ? { params } : {}) });
  return collectSqlResult(items).rows;
}

beforeAll(async () => {
  nats = await startNatsServer();
  const port = await freePort();
  // The embedded default (no sources:), with the demo orders also seen as a tiered table: hot
  // from 2026-04-01 on, cold before, both tiers being the one orders table split at the boundary.
  const yaml = `
nats: { servers: ["${nats.url}"] }
logicalTables:
  orders_tiered:
    tiers: { column: created_at, boundary: "2026-04-01", hot: orders_db.main.orders, cold: orders_db.main.orders }
graphql: { port: ${port}, pageRows: ${PAGE_ROWS}, maxDepth: 16, maxTokens: 2000, maxBodyBytes: 65536, maxKeptBytes: 300000 }
`;
  worker = await startWorker({
    services: [sqlJoinService, graphqlService],
    config: loadConfig({ text: yaml, env: {} }),
  });
  base = `http://127.0.0.1:${port}`;
  url = `${base}/graphql`;
  nc = await connect({ servers: nats.url });
  json = new EntenteClient(nc, { encoding: "json" });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

describe("the schema", () => {
  it("is served as checked in", async () => {
    // The file is printSchema's output as biome formats it: compared as graphql prints it.
    const checkedIn = printSchema(buildSchema(readFileSync(SCHEMA_FILE, "utf8")));
    const introspection = await data<IntrospectionQuery>(
      url,
      getIntrospectionQuery({ descriptions: true }),
    );
    expect(printSchema(buildClientSchema(introspection))).toBe(checkedIn);
    // Regenerate: node --conditions=@entente/source services/graphql/src/print-schema.ts --write
    // && pnpm exec biome format --write services/graphql/schema.graphql
    expect(printedSchema().trimEnd()).toBe(checkedIn);
  });
});

describe("query", () => {
  it("answers columns, rows, counts, time and sources as entente.sql does in JSON", async () => {
    const sql =
      "SELECT u.id, u.name, o.total, o.created_at FROM users u JOIN orders o ON u.id = o.user_id WHERE u.id <= $1 ORDER BY o.id";
    const result = await data<{ query: Record<string, unknown> }>(
      url,
      `query($sql: String!, $params: [JSON!]) {
        query(sql: $sql, params: $params) {
          columns { name type }
          rows
          rowCount
          pageInfo { hasNextPage endCursor }
          executionTimeMs
          sources { source rows bytes ms queries }
          tiers { table }
        }
      }`,
      { sql, params: [3] },
    );
    const expected = await sqlRows(sql, [3]);
    expect(expected.length).toBeGreaterThan(0);
    expect(result.query.columns).toEqual([
      { name: "id", type: "integer" },
      { name: "name", type: "text" },
      { name: "total", type: "decimal" },
      { name: "created_at", type: "timestamp" },
    ]);
    expect(result.query.rows).toEqual(expected);
    expect(result.query.rowCount).toBe(expected.length);
    expect(result.query.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
    expect(result.query.executionTimeMs).toBeGreaterThanOrEqual(0);
    const sources = result.query.sources as Array<{
      source: string;
      rows: number;
      queries: number;
    }>;
    expect(sources.map((s) => s.source)).toEqual(["orders_db", "users_db"]);
    expect(sources.find((s) => s.source === "users_db")?.rows).toBe(3);
    expect(result.query.tiers).toEqual([]);
  });

  it("says which tiers a statement read and which it pruned", async () => {
    const result = await data<{ query: { rows: unknown[][]; tiers: unknown[] } }>(
      url,
      `{ query(sql: "SELECT count(*) AS n FROM orders_tiered WHERE created_at >= TIMESTAMP '2026-05-01'") {
          rows tiers { table kind tier read reason } } }`,
    );
    expect(result.query.rows).toEqual(
      await sqlRows("SELECT count(*) AS n FROM orders WHERE created_at >= TIMESTAMP '2026-05-01'"),
    );
    expect(result.query.tiers).toEqual([
      {
        table: "orders_tiered",
        kind: "tiered",
        tier: "hot",
        read: true,
        reason: expect.any(String),
      },
      {
        table: "orders_tiered",
        kind: "tiered",
        tier: "cold",
        read: false,
        reason: expect.any(String),
      },
    ]);
    const both = await data<{ query: { tiers: Array<{ tier: string; read: boolean }> } }>(
      url,
      `{ query(sql: "SELECT count(*) FROM orders_tiered") { tiers { tier read } } }`,
    );
    expect(both.query.tiers.map((t) => [t.tier, t.read]).sort()).toEqual([
      ["cold", true],
      ["hot", true],
    ]);
  });

  it("walks a large result page by page to the end, no row lost or repeated", async () => {
    const query = `query($after: String) {
      query(sql: "SELECT id, user_id FROM orders", first: 333, after: $after) {
        rows rowCount pageInfo { hasNextPage endCursor } columns { name } } }`;
    const seen: unknown[][] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: {
        query: {
          rows: unknown[][];
          rowCount: number;
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      } = await data(url, query, { after });
      pages++;
      expect(page.query.rowCount).toBe(5000);
      expect(page.query.rows.length).toBe(page.query.pageInfo.hasNextPage ? 333 : 5000 % 333);
      seen.push(...page.query.rows);
      if (!page.query.pageInfo.hasNextPage) {
        expect(page.query.pageInfo.endCursor).toBeNull();
        break;
      }
      after = page.query.pageInfo.endCursor;
      expect(after).toEqual(expect.any(String));
    }
    expect(pages).toBe(Math.ceil(5000 / 333));
    const ids = seen.map((r) => r[0] as number);
    expect(new Set(ids).size).toBe(5000);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    const truth = new Map(
      (await sqlRows("SELECT id, user_id FROM orders")).map((r) => [r[0], r[1]]),
    );
    for (const [id, userId] of seen) expect(truth.get(id)).toBe(userId);
  });

  it("answers a later page's tiers, sources and time from the one execution", async () => {
    const sql = "SELECT id FROM orders_tiered WHERE created_at < TIMESTAMP '2026-02-01'";
    const fields = "rowCount executionTimeMs sources { source rows } tiers { tier read }";
    const first = await data<{
      query: Record<string, unknown> & { pageInfo: { endCursor: string } };
    }>(
      url,
      `query($sql: String!) { query(sql: $sql, first: 100) { ${fields} pageInfo { endCursor } } }`,
      { sql },
    );
    const second = await data<{ query: Record<string, unknown> }>(
      url,
      `query($sql: String!, $after: String) { query(sql: $sql, first: 100, after: $after) { ${fields} } }`,
      { sql, after: first.query.pageInfo.endCursor },
    );
    const { pageInfo: _, ...same } = first.query;
    expect(second.query).toEqual(same);
    expect(second.query.tiers).toEqual([
      { tier: "cold", read: true },
      { tier: "hot", read: false },
    ]);
  });

  it("pages by graphql.pageRows by default and refuses larger pages", async () => {
    const page = await data<{ query: { rows: unknown[]; pageInfo: { hasNextPage: boolean } } }>(
      url,
      `{ query(sql: "SELECT id FROM users") { rows pageInfo { hasNextPage } } }`,
    );
    expect(page.query.rows.length).toBe(PAGE_ROWS);
    expect(page.query.pageInfo.hasNextPage).toBe(true);
    const tooMany = await graphql(
      url,
      `{ query(sql: "SELECT id FROM users", first: ${PAGE_ROWS + 1}) { rowCount } }`,
    );
    expect(codeOf(tooMany)).toBe("BAD_REQUEST");
    expect(tooMany.errors?.[0]?.message).toMatch(/first must be between 0 and 400/);
  });

  it("refuses a cursor that is not one, or that belongs to another statement", async () => {
    const bogus = await graphql(
      url,
      `{ query(sql: "SELECT id FROM users", after: "nonsense!") { rowCount } }`,
    );
    expect(codeOf(bogus)).toBe("BAD_REQUEST");
    const first = await data<{ query: { pageInfo: { endCursor: string } } }>(
      url,
      `{ query(sql: "SELECT id FROM users", first: 10) { pageInfo { endCursor } } }`,
    );
    const other = await graphql(
      url,
      `query($after: String) { query(sql: "SELECT name FROM users", after: $after) { rowCount } }`,
      {
        after: first.query.pageInfo.endCursor,
      },
    );
    expect(codeOf(other)).toBe("BAD_REQUEST");
    expect(other.errors?.[0]?.message).toMatch(/another statement/);
    const gone = await graphql(
      url,
      `{ query(sql: "SELECT id FROM users", after: "${Buffer.from("0123abc:10").toString("base64url")}") { rowCount } }`,
    );
    expect(codeOf(gone)).toBe("NOT_FOUND");
  });

  it("gives an unknown table's error as a GraphQL error with Entente's code", async () => {
    const answer = await graphql(url, `{ query(sql: "SELECT * FROM no_such_table") { rowCount } }`);
    expect(answer.status).toBe(200);
    expect(answer.data).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors?.[0]?.path).toEqual(["query"]);
    expect(answer.errors?.[0]?.message).toMatch(/no_such_table/);
    const code = codeOf(answer);
    expect(["BAD_REQUEST", "NOT_FOUND"]).toContain(code);
    // The same code entente.sql itself answers with.
    const direct = await json
      .collect(SUBJECTS.sql, { sql: "SELECT * FROM no_such_table" })
      .catch((err: { code: string }) => err.code);
    expect(direct).toBe(code);
  });

  it("refuses writes, bad SQL and bad budgets with codes", async () => {
    const write = await graphql(url, `{ query(sql: "DELETE FROM users") { rowCount } }`);
    expect(codeOf(write)).toBe("BAD_REQUEST");
    const syntax = await graphql(url, `{ query(sql: "SELEC 1") { rowCount } }`);
    expect(codeOf(syntax)).toBe("BAD_REQUEST");
    const budget = await graphql(url, `{ query(sql: "SELECT 1", timeoutMs: -5) { rowCount } }`);
    expect(codeOf(budget)).toBe("BAD_REQUEST");
    const header = await graphql(url, `{ query(sql: "SELECT 1") { rowCount } }`, undefined, {
      "entente-timeout-ms": "soon",
    });
    expect(header.status).toBe(400);
    expect(codeOf(header)).toBe("BAD_REQUEST");
  });

  it("stops a result larger than it can keep with TOO_LARGE, and keeps serving", async () => {
    const answer = await graphql(
      url,
      `{ query(sql: "SELECT o.id, u.name FROM orders o CROSS JOIN users u WHERE u.id <= 20", first: 10) { rowCount } }`,
    );
    expect(codeOf(answer)).toBe("TOO_LARGE");
    expect(answer.errors?.[0]?.message).toMatch(/maxKeptBytes/);
    const after = await data<{ query: { rowCount: number } }>(
      url,
      `{ query(sql: "SELECT id FROM users", first: 10) { rowCount } }`,
    );
    expect(after.query.rowCount).toBe(1000);
  });

  it("ends a statement at its deadline with DEADLINE_EXCEEDED", async () => {
    const answer = await graphql(
      url,
      `{ query(sql: "SELECT count(*) FROM orders a CROSS JOIN orders b CROSS JOIN users c", timeoutMs: 50) { rowCount } }`,
    );
    expect(codeOf(answer)).toBe("DEADLINE_EXCEEDED");
  });
});

describe("catalog", () => {
  it("lists every source's tables and the logical ones, with kinds and columns", async () => {
    const result = await data<{
      tables: Array<{ name: string; kind: string; source: string | null; columns: unknown[] }>;
    }>(url, "{ tables { name kind source columns { name type } rowCount } }");
    const byName = new Map(result.tables.map((t) => [t.name, t]));
    expect(byName.get("users_db.main.users")).toMatchObject({
      kind: "table",
      source: "users_db",
      columns: [
        { name: "id", type: "integer" },
        { name: "name", type: "text" },
        { name: "country", type: "text" },
      ],
    });
    expect(byName.get("orders_db.main.orders")).toMatchObject({
      kind: "table",
      source: "orders_db",
    });
    expect(byName.get("orders_tiered")).toMatchObject({ kind: "tiered", source: null });
  });

  it("gives a table's statistics, and a tiered table's per tier", async () => {
    const users = await data<{
      tableStats: {
        table: string;
        kind: string;
        rowCount: number;
        columns: Array<Record<string, unknown>>;
      };
    }>(
      url,
      `{ tableStats(table: "users_db.main.users") { table kind rowCount columns { name type min max nulls distinct } parts { label } } }`,
    );
    expect(users.tableStats).toMatchObject({
      table: "users_db.main.users",
      kind: "table",
      rowCount: 1000,
    });
    expect(users.tableStats.columns[0]).toMatchObject({
      name: "id",
      type: "integer",
      min: 1,
      max: 1000,
    });
    const tiered = await data<{
      tableStats: { kind: string; parts: Array<{ label: string; source: string; table: string }> };
    }>(
      url,
      `{ tableStats(table: "orders_tiered") { kind rowCount parts { label table source rowCount columns { name } } } }`,
    );
    expect(tiered.tableStats.kind).toBe("tiered");
    expect(tiered.tableStats.parts.map((p) => [p.label, p.source, p.table]).sort()).toEqual([
      ["cold", "orders_db", "orders_db.main.orders"],
      ["hot", "orders_db", "orders_db.main.orders"],
    ]);
  });

  it("refuses statistics of an unknown table with NOT_FOUND", async () => {
    const answer = await graphql(url, `{ tableStats(table: "users_db.main.nope") { rowCount } }`);
    expect(codeOf(answer)).toBe("NOT_FOUND");
    expect(answer.errors?.[0]?.path).toEqual(["tableStats"]);
  });
});

describe("recommendedSource", () => {
  it("names the tier, source and table that hold a date", async () => {
    const result = await data<{ hot: unknown[]; cold: unknown[] }>(
      url,
      `{ hot: recommendedSource(date: "2026-05-02", table: "orders_tiered") { table kind column at tier source member }
         cold: recommendedSource(date: "2026-01-15", table: "orders_tiered") { tier source member } }`,
    );
    expect(result.hot).toEqual([
      {
        table: "orders_tiered",
        kind: "tiered",
        column: "created_at",
        at: "2026-05-02",
        tier: "hot",
        source: "orders_db",
        member: "orders_db.main.orders",
      },
    ]);
    expect(result.cold).toEqual([
      { tier: "cold", source: "orders_db", member: "orders_db.main.orders" },
    ]);
  });

  it("answers for every tiered table when none is named", async () => {
    const result = await data<{ recommendedSource: Array<{ table: string; tier: string }> }>(
      url,
      `{ recommendedSource(date: "2026-01-15") { table tier } }`,
    );
    expect(result.recommendedSource).toEqual([{ table: "orders_tiered", tier: "cold" }]);
  });

  it("refuses a table that is not tiered with NOT_FOUND", async () => {
    const answer = await graphql(
      url,
      `{ recommendedSource(date: "2026-05-02", table: "users") { tier } }`,
    );
    expect(codeOf(answer)).toBe("NOT_FOUND");
  });
});

describe("hostile input", () => {
  it("answers invalid GraphQL with validation and syntax errors", async () => {
    const unknown = await graphql(url, "{ nope }");
    expect(unknown.data).toBeUndefined();
    expect(unknown.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
    const syntax = await graphql(url, "{ query(sql: ");
    expect(syntax.data).toBeUndefined();
    expect(syntax.errors?.[0]?.message).toMatch(/Syntax Error/);
    const missing = await graphql(url, "{ query { rowCount } }");
    expect(missing.errors?.[0]?.message).toMatch(/"Query.query\(sql:\)"/);
    const badVariable = await graphql(
      url,
      'query($n: Int) { query(sql: "SELECT 1", first: $n) { rowCount } }',
      {
        n: "many",
      },
    );
    expect(badVariable.errors?.[0]?.message).toMatch(/\$n/);
    // With the GraphQL-over-HTTP media type, invalid documents are answered 400.
    const strict = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
      body: JSON.stringify({ query: "{ nope }" }),
    });
    expect(strict.status).toBe(400);
  });

  it("refuses documents too deep, too long or too large, and keeps serving", async () => {
    const deep = `{ ${"__schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } }"} }`;
    const tooDeep = await graphql(url, deep);
    expect(tooDeep.errors?.[0]?.message).toMatch(/levels deep; at most 16/);
    const manyTokens = `{ ${Array.from({ length: 1500 }, (_, i) => `a${i}: __typename`).join(" ")} }`;
    const tooLong = await graphql(url, manyTokens);
    expect(tooLong.errors?.[0]?.message).toMatch(/more than 2000 tokens/);
    const big = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ __typename } ${" ".repeat(70_000)}` }),
    });
    expect(big.status).toBe(413);
    expect(
      ((await big.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]
        ?.extensions.code,
    ).toBe("TOO_LARGE");
    const fragments = await graphql(
      url,
      "fragment A on Query { ...B } fragment B on Query { ...A } { ...A }",
    );
    expect(fragments.errors?.[0]?.message).toMatch(/Cannot spread fragment/);
    // Still serving.
    expect(await data(url, "{ __typename }")).toEqual({ __typename: "Query" });
  });

  it("answers /health and refuses other paths", async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const other = await fetch(`${base}/elsewhere`);
    expect(other.status).toBe(404);
  });
});

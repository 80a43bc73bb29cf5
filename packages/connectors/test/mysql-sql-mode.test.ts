/**
 * A MariaDB server whose sql_mode holds NO_BACKSLASH_ESCAPES, as some installations set it: the
 * connector's values, which the driver escapes into the text with backslashes, must still arrive
 * as they were sent, and LIKE must still take a backslash as its escape.
 */
import { type MariaDbService, mariadb } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, createConnector } from "../src/index.ts";
import { readAll } from "./support.ts";

let server: MariaDbService;
let connector: Connector;

beforeAll(async () => {
  server = await mariadb({ settings: { "sql-mode": "NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES" } });
  connector = await createConnector("strict_db", {
    kind: "mysql",
    url: await server.createDatabase(),
    poolSize: 2,
  });
}, 120_000);

afterAll(async () => {
  await connector?.close();
  await server?.stop();
});

describe("a MariaDB server with NO_BACKSLASH_ESCAPES", () => {
  it("is one: the server's own mode holds it", async () => {
    const { rows } = await readAll(connector, "SELECT @@GLOBAL.sql_mode", []);
    expect(String(rows[0]?.[0])).toContain("NO_BACKSLASH_ESCAPES");
  });

  it("stores and compares values with quotes and backslashes as they were sent", async () => {
    const values = ["O'Brien", "a\\b", "x\\' OR 1=1 -- ", "tail\\", "a_c", "abc"];
    await connector.execute({ sql: "CREATE TABLE words (w varchar(40) NOT NULL)", params: [] });
    await connector.execute({
      sql: `INSERT INTO words VALUES ${values.map(() => "(?)").join(", ")}`,
      params: values,
    });
    const all = await readAll(connector, "SELECT w FROM words", []);
    expect(all.rows.map((r) => r[0]).sort()).toEqual([...values].sort());
    for (const value of values) {
      const { rows } = await readAll(connector, "SELECT count(*) FROM words WHERE w = ?", [value]);
      expect(Number(rows[0]?.[0]), value).toBe(1);
    }
    // The engine's LIKE: a backslash makes the next character literal.
    const like = await readAll(connector, "SELECT w FROM words WHERE w LIKE ?", ["a\\_c"]);
    expect(like.rows).toEqual([["a_c"]]);
  });
});

import { Client } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discovery, type PostgresService, postgres } from "../src/index.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe("postgres() from the environment", () => {
  let pg: PostgresService;
  beforeAll(async () => {
    pg = await postgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  it("answers queries", async () => {
    expect(pg.source).toBe("env");
    const [row] = await query<{ answer: number }>(pg.url, "SELECT 6 * 7 AS answer");
    expect(row?.answer).toBe(42);
  });

  it("gives each test its own database, and drops them on stop", async () => {
    const owner = await postgres();
    const a = await owner.createDatabase();
    const b = await owner.createDatabase();
    expect(a).not.toBe(b);
    await query(a, "CREATE TABLE items (id int); INSERT INTO items VALUES (1)");
    expect(await query(a, "SELECT id FROM items")).toEqual([{ id: 1 }]);
    await expect(query(b, "SELECT id FROM items")).rejects.toThrow(/does not exist/);

    await owner.stop();
    const names = [a, b].map((url) => new URL(url).pathname.slice(1));
    const left = await query<{ datname: string }>(
      pg.url,
      `SELECT datname FROM pg_database WHERE datname IN ('${names.join("','")}')`,
    );
    expect(left).toEqual([]);
  });

  it("rejects database names that are not plain identifiers", async () => {
    await expect(pg.createDatabase("x; DROP TABLE y")).rejects.toThrow(/letters, digits/);
  });
});

const hasBinaries = (await discovery().findBinary(["initdb"])) !== undefined;

describe.runIf(hasBinaries)("postgres() from local binaries", () => {
  it("starts a private server, isolates databases, and removes everything on stop", async () => {
    const pg = await postgres({ discovery: { env: {} } });
    try {
      expect(pg.source).toBe("binary");
      expect(pg.host).toBe("127.0.0.1");
      const url = await pg.createDatabase("orders");
      await query(url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')");
      expect(await query(url, "SELECT v FROM t")).toEqual([{ v: "kept" }]);
    } finally {
      await pg.stop();
      await pg.stop();
    }
    await expect(query(pg.url, "SELECT 1")).rejects.toThrow();
  });
});

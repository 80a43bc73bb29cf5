import { createConnection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discovery, type MariaDbService, mariadb } from "../src/index.ts";

process.env.ENTENTE_TEST_MARIADB_URL ??= "mysql://root@127.0.0.1:3306/test";

async function query<T>(url: string, sql: string): Promise<T[]> {
  const db = await createConnection({ uri: url, multipleStatements: true });
  try {
    const [rows] = await db.query(sql);
    return rows as T[];
  } finally {
    await db.end();
  }
}

describe("mariadb() from the environment", () => {
  let maria: MariaDbService;
  beforeAll(async () => {
    maria = await mariadb();
  });
  afterAll(async () => {
    await maria?.stop();
  });

  it("answers queries on the database named in the URL", async () => {
    expect(maria.source).toBe("env");
    expect(maria.database).toBe("test");
    const [row] = await query<{ answer: number }>(maria.url, "SELECT 6 * 7 AS answer");
    expect(Number(row?.answer)).toBe(42);
  });

  it("gives each test its own database, and drops them on stop", async () => {
    const owner = await mariadb();
    const a = await owner.createDatabase();
    const b = await owner.createDatabase();
    await query(a, "CREATE TABLE items (id int); INSERT INTO items VALUES (1)");
    expect(await query(a, "SELECT id FROM items")).toEqual([{ id: 1 }]);
    await expect(query(b, "SELECT id FROM items")).rejects.toThrow(/doesn't exist/);

    await owner.stop();
    const names = [a, b].map((url) => new URL(url).pathname.slice(1));
    const left = await query(
      maria.url,
      `SHOW DATABASES WHERE \`Database\` IN ('${names.join("','")}')`,
    );
    expect(left).toEqual([]);
  });
});

const hasBinaries = (await discovery().findBinary(["mariadbd", "mysqld"])) !== undefined;

describe.runIf(hasBinaries)("mariadb() from local binaries", () => {
  it("starts a private server with a test database, and removes it on stop", async () => {
    const maria = await mariadb({ discovery: { env: {} } });
    try {
      expect(maria.source).toBe("binary");
      expect(maria.url).toBe(`mysql://root@127.0.0.1:${maria.port}/test`);
      await query(maria.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')");
      expect(await query(maria.url, "SELECT v FROM t")).toEqual([{ v: "kept" }]);
      const other = await maria.createDatabase("other");
      await expect(query(other, "SELECT v FROM t")).rejects.toThrow(/doesn't exist/);
    } finally {
      await Promise.all([maria.stop(), maria.stop()]);
    }
    await expect(query(maria.url, "SELECT 1")).rejects.toThrow();
  });
});

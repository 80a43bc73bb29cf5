import { EntenteError } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Connector, SourceKind, SourceSession } from "../src/index.ts";
import { openSources, readAll, type Sources } from "./support.ts";

const KINDS = ["postgres", "mysql", "duckdb"] as const;

const BEGIN: Record<SourceKind, string> = {
  postgres: "BEGIN",
  mysql: "START TRANSACTION",
  duckdb: "BEGIN TRANSACTION",
};

/** 1..n as `g`, in each dialect. */
function series(kind: SourceKind, n: number): string {
  switch (kind) {
    case "postgres":
      return `SELECT g FROM generate_series(1, ${n}) AS g ORDER BY g`;
    case "mysql":
      return `SELECT CAST(seq AS INTEGER) AS g FROM seq_1_to_${n} ORDER BY g`;
    case "duckdb":
      return `SELECT range::INTEGER AS g FROM range(1, ${n + 1}) ORDER BY g`;
  }
}

function slow(kind: SourceKind): string {
  switch (kind) {
    case "postgres":
      return "SELECT pg_sleep(60)";
    case "mysql":
      return "SELECT SLEEP(60)";
    case "duckdb":
      return "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1";
  }
}

async function failureOf(promise: Promise<unknown>): Promise<EntenteError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    return err as EntenteError;
  }
  throw new Error("expected a failure");
}

describe.each(KINDS)("%s sessions", (kind) => {
  let sources: Sources;
  let connector: Connector;
  const p = (i: number) => connector.dialect.placeholder(i);
  const count = async (table: string) =>
    Number((await readAll(connector, `SELECT count(*) FROM ${table}`)).rows[0]?.[0]);

  beforeAll(async () => {
    sources = await openSources();
    connector = sources.byKind[kind];
    await connector.execute({
      sql: "CREATE TABLE items (id integer PRIMARY KEY, name varchar(50), made_at timestamp, price double precision)",
      params: [],
    });
  });
  afterAll(async () => {
    await connector?.execute({ sql: "DROP TABLE IF EXISTS items", params: [] }).catch(() => {});
    await sources?.stop();
  });

  /** Runs `use` on a session, discarding it when `use` fails. */
  async function withSession<T>(use: (session: SourceSession) => Promise<T>): Promise<T> {
    const session = await connector.openSession();
    try {
      const result = await use(session);
      await session.release();
      return result;
    } catch (err) {
      await session.release(true);
      throw err;
    }
  }

  it("runs statements and returns rows normalized as query does", async () => {
    await withSession(async (session) => {
      const inserted = await session.execute({
        sql: `INSERT INTO items (id, name, made_at, price) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}), (${p(5)}, ${p(6)}, NULL, NULL)`,
        params: [1, "one", "2024-05-06 07:08:09", 1.5, 2, "two"],
      });
      expect(inserted).toBe(2);
      const select = "SELECT id, name, made_at, price FROM items ORDER BY id";
      const fromSession = await session.queryAll({ sql: select, params: [] });
      const fromQuery = await readAll(connector, select);
      expect(fromSession.rows).toEqual(fromQuery.rows);
      expect(fromSession.columns).toEqual(fromQuery.columns);
      expect(fromSession.rows[0]).toEqual([1, "one", 1714979289000000000n, 1.5]);
      expect(fromSession.rows[1]).toEqual([2, "two", null, null]);
    });
    await connector.execute({ sql: "DELETE FROM items", params: [] });
  });

  it("sees its own uncommitted writes, which discarding rolls back", async () => {
    const session = await connector.openSession();
    try {
      await session.execute({ sql: BEGIN[kind], params: [] });
      await session.execute({
        sql: `INSERT INTO items (id, name) VALUES (${p(1)}, ${p(2)})`,
        params: [10, "pending"],
      });
      const own = await session.queryAll({
        sql: `SELECT name FROM items WHERE id = ${p(1)}`,
        params: [10],
      });
      expect(own.rows).toEqual([["pending"]]);
      expect(await count("items")).toBe(0);
    } finally {
      await session.release(true);
    }
    expect(await count("items")).toBe(0);
  });

  it("keeps committed writes when given back to the pool", async () => {
    await withSession(async (session) => {
      await session.execute({ sql: BEGIN[kind], params: [] });
      await session.execute({
        sql: `INSERT INTO items (id, name) VALUES (${p(1)}, ${p(2)})`,
        params: [20, "kept"],
      });
      await session.execute({ sql: "COMMIT", params: [] });
    });
    expect(await count("items")).toBe(1);
    // The pool stays usable after sessions come back or are discarded.
    for (let i = 0; i < 6; i++) {
      const session = await connector.openSession();
      await session.release(i % 2 === 0);
    }
    expect(await count("items")).toBe(1);
    await connector.execute({ sql: "DELETE FROM items", params: [] });
  });

  it("refuses a result over maxRows with TOO_LARGE and stays usable", async () => {
    await withSession(async (session) => {
      await session.execute({ sql: BEGIN[kind], params: [] });
      const error = await failureOf(
        session.queryAll({ sql: series(kind, 50), params: [] }, { maxRows: 10 }),
      );
      expect(error.code).toBe("TOO_LARGE");
      expect(error.message).toContain(connector.name);
      const exact = await session.queryAll({ sql: series(kind, 10), params: [] }, { maxRows: 10 });
      expect(exact.rows).toHaveLength(10);
      expect(Number(exact.rows[9]?.[0])).toBe(10);
      // The transaction survived the refused read.
      await session.execute({
        sql: `INSERT INTO items (id, name) VALUES (${p(1)}, ${p(2)})`,
        params: [30, "after"],
      });
      await session.execute({ sql: "COMMIT", params: [] });
    });
    expect(await count("items")).toBe(1);
    await connector.execute({ sql: "DELETE FROM items", params: [] });
  });

  it("reports a constraint violation naming the source", async () => {
    await withSession(async (session) => {
      const insert = {
        sql: `INSERT INTO items (id, name) VALUES (${p(1)}, ${p(2)})`,
        params: [40, "x"],
      };
      await session.execute(insert);
      const error = await failureOf(session.execute(insert));
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.message).toContain(`source "${connector.name}"`);
      expect(error.message.toLowerCase()).toMatch(/duplicate|unique|primary key|constraint/);
    });
    await connector.execute({ sql: "DELETE FROM items", params: [] });
  });

  it("cancels a statement when its signal aborts", async () => {
    const session = await connector.openSession();
    try {
      const abort = new AbortController();
      const running = session.execute({ sql: slow(kind), params: [] }, abort.signal);
      setTimeout(() => abort.abort(), 200);
      expect((await failureOf(running)).code).toBe("CANCELLED");
    } finally {
      await session.release(true);
    }
  });

  it("fails statements after release", async () => {
    const session = await connector.openSession();
    await session.release();
    await session.release();
    const error = await failureOf(session.execute({ sql: "SELECT 1", params: [] }));
    expect(error.code).toBe("UNAVAILABLE");
  });
});

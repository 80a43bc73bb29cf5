import { EntenteError } from "@entente/protocol";
import {
  eventually,
  type MariaDbService,
  mariadb,
  type PostgresService,
  postgres,
  uniqueName,
} from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Connector,
  createConnector,
  type SourceSession,
  type SourceTransactions,
  transactionsOf,
} from "../src/index.ts";
import { gidLiteral, mysqlTransactionSql, postgresTransactionSql } from "../src/transactions.ts";
import { readAll } from "./support.ts";

async function failureOf(promise: Promise<unknown>): Promise<EntenteError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    return err as EntenteError;
  }
  throw new Error("expected a failure");
}

/** A gid prefix no parallel run shares. */
const PREFIX = `${uniqueName("tx").replaceAll("_", "-")}-`;
let sequence = 0;
const nextGid = () => `${PREFIX}${++sequence}`;

describe("transaction statements", () => {
  it("quotes valid gids and refuses anything else", () => {
    expect(gidLiteral("entente:tx-1.a_b")).toBe("'entente:tx-1.a_b'");
    expect(gidLiteral("a".repeat(64))).toBe(`'${"a".repeat(64)}'`);
    for (const bad of ["", "a'b", "a b", "a;b", "é", "a".repeat(65)]) {
      expect(() => gidLiteral(bad), bad).toThrow(/invalid transaction id/);
    }
    expect(() => postgresTransactionSql.prepare("x'; DROP TABLE t; --")).toThrow();
  });

  it("speaks each database's statements", () => {
    expect(postgresTransactionSql.prepare("g1")).toEqual(["PREPARE TRANSACTION 'g1'"]);
    expect(postgresTransactionSql.commitPrepared("g1")).toBe("COMMIT PREPARED 'g1'");
    expect(mysqlTransactionSql.begin("g1")).toEqual(["XA START 'g1'"]);
    expect(mysqlTransactionSql.begin()).toEqual(["START TRANSACTION"]);
    expect(mysqlTransactionSql.prepare("g1")).toEqual(["XA END 'g1'", "XA PREPARE 'g1'"]);
    expect(mysqlTransactionSql.commit("g1")).toEqual(["XA END 'g1'", "XA COMMIT 'g1' ONE PHASE"]);
    expect(mysqlTransactionSql.rollback("g1")).toEqual(["XA END 'g1'", "XA ROLLBACK 'g1'"]);
  });
});

interface TwoPhaseSource {
  connector: Connector;
  tx: SourceTransactions;
  /** Restarts the server, where the test owns it. */
  restart?: () => Promise<void>;
}

const sources: Partial<Record<"postgres" | "mysql", TwoPhaseSource>> = {};
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  const pgServer: PostgresService = await postgres({
    settings: { max_prepared_transactions: "64" },
  });
  stops.push(() => pgServer.stop());
  const pg = await createConnector("pg_2pc", {
    kind: "postgres",
    url: await pgServer.createDatabase(),
    poolSize: 4,
  });
  stops.unshift(() => pg.close());
  sources.postgres = { connector: pg, tx: transactionsOf(pg), restart: () => pgServer.restart() };

  process.env.ENTENTE_TEST_MARIADB_URL ??= "mysql://root@127.0.0.1:3306/test";
  const mariaServer: MariaDbService = await mariadb();
  stops.push(() => mariaServer.stop());
  const my = await createConnector("maria_xa", {
    kind: "mysql",
    url: await mariaServer.createDatabase(),
    poolSize: 4,
  });
  stops.unshift(() => my.close());
  sources.mysql = { connector: my, tx: transactionsOf(my) };

  for (const { connector } of Object.values(sources)) {
    await connector.execute({ sql: "CREATE TABLE ledger (id integer PRIMARY KEY)", params: [] });
  }
});

afterAll(async () => {
  for (const source of Object.values(sources)) {
    // Leftovers hold locks that would block dropping the database.
    for (const { gid } of await source.tx.listPrepared(PREFIX).catch(() => [])) {
      await source.tx.rollbackPrepared(gid).catch(() => {});
    }
    await source.connector
      .execute({ sql: "DROP TABLE IF EXISTS ledger", params: [] })
      .catch(() => {});
    await source.connector
      .execute({ sql: "DROP TABLE IF EXISTS entente_idempotency", params: [] })
      .catch(() => {});
  }
  for (const stop of stops) await stop().catch(() => {});
});

describe.each(["postgres", "mysql"] as const)("%s two-phase commit", (kind) => {
  let connector: Connector;
  let tx: SourceTransactions;
  beforeAll(() => {
    const source = sources[kind];
    if (source === undefined) throw new Error(`no ${kind} source`);
    ({ connector, tx } = source);
  });

  const ids = async () =>
    (await readAll(connector, "SELECT id FROM ledger ORDER BY id")).rows.map((r) => Number(r[0]));

  /** Begins under `gid`, inserts `id`, prepares; the session is returned still open. */
  async function prepared(gid: string, id: number): Promise<SourceSession> {
    const session = await connector.openSession();
    await tx.begin(session, gid);
    await session.execute({
      sql: `INSERT INTO ledger (id) VALUES (${connector.dialect.placeholder(1)})`,
      params: [id],
    });
    await tx.prepare(session, gid);
    return session;
  }

  /** Commits on a fresh connection; MariaDB may still be ending the discarded connection. */
  const commitFresh = (gid: string) =>
    eventually(`commit of ${gid}`, () => tx.commitPrepared(gid).then(() => true));

  it("can prepare", async () => {
    expect(await tx.twoPhaseRefusal()).toBeUndefined();
  });

  it("commits a prepared transaction from a fresh connection, repeatably", async () => {
    const gid = nextGid();
    const session = await prepared(gid, 1);
    await session.release(true);
    const listed = await tx.listPrepared(PREFIX);
    expect(listed.map((p) => p.gid)).toContain(gid);
    if (kind === "postgres") {
      const at = listed.find((p) => p.gid === gid)?.preparedAtMs;
      expect(at).toBeGreaterThan(Date.now() - 3_600_000);
    }
    expect(await ids()).not.toContain(1);
    await commitFresh(gid);
    expect(await ids()).toContain(1);
    expect((await tx.listPrepared(PREFIX)).map((p) => p.gid)).not.toContain(gid);
    // Recovery may repeat a decision that was already carried out.
    await tx.commitPrepared(gid);
    await tx.rollbackPrepared(gid);
    expect(await ids()).toContain(1);
  });

  it("commits on the preparing session", async () => {
    const gid = nextGid();
    const session = await prepared(gid, 2);
    await tx.commitPrepared(gid, session);
    await session.release();
    expect(await ids()).toContain(2);
  });

  it("rolls back a prepared transaction", async () => {
    const gid = nextGid();
    const session = await prepared(gid, 3);
    await session.release(true);
    await eventually(`rollback of ${gid}`, () => tx.rollbackPrepared(gid).then(() => true));
    expect(await ids()).not.toContain(3);
    expect((await tx.listPrepared(PREFIX)).map((p) => p.gid)).not.toContain(gid);
    await tx.rollbackPrepared(gid);
  });

  it("commits and rolls back in one phase under a gid", async () => {
    const committed = nextGid();
    const rolledBack = nextGid();
    for (const [gid, id, end] of [
      [committed, 4, "commit"],
      [rolledBack, 5, "rollback"],
    ] as const) {
      const session = await connector.openSession();
      await tx.begin(session, gid);
      await session.execute({ sql: `INSERT INTO ledger (id) VALUES (${id})`, params: [] });
      if (end === "commit") await tx.commit(session, gid);
      else await tx.rollback(session, gid);
      await session.release();
    }
    expect(await ids()).toContain(4);
    expect(await ids()).not.toContain(5);
  });

  it("commits and rolls back local transactions", async () => {
    const session = await connector.openSession();
    await tx.begin(session);
    await session.execute({ sql: "INSERT INTO ledger (id) VALUES (6)", params: [] });
    await tx.rollback(session);
    await tx.begin(session);
    await session.execute({ sql: "INSERT INTO ledger (id) VALUES (7)", params: [] });
    await tx.commit(session);
    await session.release();
    expect(await ids()).not.toContain(6);
    expect(await ids()).toContain(7);
  });

  it("claims an idempotency key once", async () => {
    await tx.ensureIdempotencyTable();
    await tx.ensureIdempotencyTable();
    const key = `key-${nextGid()}`;
    const first = await connector.openSession();
    await tx.begin(first);
    expect(await tx.claimIdempotencyKey(first, key)).toBe(true);
    await tx.commit(first);
    await tx.begin(first);
    expect(await tx.claimIdempotencyKey(first, key)).toBe(false);
    // Keys compare byte for byte, whatever the database's default collation.
    expect(await tx.claimIdempotencyKey(first, key.toUpperCase())).toBe(true);
    await tx.rollback(first);
    await first.release();
  });

  it("makes a concurrent claim wait for the first and then fail", async () => {
    await tx.ensureIdempotencyTable();
    const key = `key-${nextGid()}`;
    const first = await connector.openSession();
    const second = await connector.openSession();
    try {
      await tx.begin(first);
      expect(await tx.claimIdempotencyKey(first, key)).toBe(true);
      await tx.begin(second);
      const waiting = tx.claimIdempotencyKey(second, key);
      const early = await Promise.race([
        waiting.then(() => "answered"),
        new Promise((resolve) => setTimeout(() => resolve("waiting"), 300)),
      ]);
      expect(early).toBe("waiting");
      await tx.commit(first);
      expect(await waiting).toBe(false);
      await tx.rollback(second);
    } finally {
      await first.release(true);
      await second.release(true);
    }
  });

  it("lets a rolled-back first claim go to the waiting one", async () => {
    await tx.ensureIdempotencyTable();
    const key = `key-${nextGid()}`;
    const first = await connector.openSession();
    const second = await connector.openSession();
    try {
      await tx.begin(first);
      expect(await tx.claimIdempotencyKey(first, key)).toBe(true);
      await tx.begin(second);
      const waiting = tx.claimIdempotencyKey(second, key);
      await tx.rollback(first);
      expect(await waiting).toBe(true);
      await tx.commit(second);
    } finally {
      await first.release(true);
      await second.release(true);
    }
  });
});

describe("MariaDB XA across connections", () => {
  it("refuses to take a transaction its live connection still holds as committed", async () => {
    const source = sources.mysql;
    if (source === undefined) throw new Error("no mysql source");
    const { connector, tx } = source;
    const gid = nextGid();
    const session = await connector.openSession();
    try {
      await tx.begin(session, gid);
      await session.execute({ sql: "INSERT INTO ledger (id) VALUES (100)", params: [] });
      await tx.prepare(session, gid);
      // Other connections get "unknown XID" while the preparing one lives.
      const error = await failureOf(tx.commitPrepared(gid));
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(gid);
      await tx.commitPrepared(gid, session);
    } finally {
      await session.release(true);
    }
    const { rows } = await readAll(connector, "SELECT id FROM ledger WHERE id = 100");
    expect(rows).toHaveLength(1);
  });
});

describe("PostgreSQL prepared transactions across a restart", () => {
  it("keeps a prepared transaction through a clean restart", async () => {
    const source = sources.postgres;
    if (source?.restart === undefined) throw new Error("no restartable postgres");
    const { connector, tx } = source;
    const gid = nextGid();
    const session = await connector.openSession();
    await tx.begin(session, gid);
    await session.execute({ sql: "INSERT INTO ledger (id) VALUES (200)", params: [] });
    await tx.prepare(session, gid);
    await session.release();
    await source.restart();
    // Connections the pool held died with the old server; the pool replaces them.
    const listed = await eventually("the restarted server", () => tx.listPrepared(PREFIX));
    expect(listed.map((p) => p.gid)).toContain(gid);
    await tx.commitPrepared(gid);
    const { rows } = await readAll(connector, "SELECT id FROM ledger WHERE id = 200");
    expect(rows).toEqual([[200]]);
  });
});

describe("sources that cannot prepare", () => {
  it("names max_prepared_transactions on a PostgreSQL server without it", async () => {
    process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";
    const server = await postgres();
    const connector = await createConnector("pg_plain", { kind: "postgres", url: server.url });
    try {
      const shown = await readAll(connector, "SHOW max_prepared_transactions");
      const refusal = await transactionsOf(connector).twoPhaseRefusal();
      if (server.source === "env") await expect(server.restart()).rejects.toThrow(/cannot restart/);
      if (shown.rows[0]?.[0] === "0") {
        expect(refusal).toBe(
          'PostgreSQL source "pg_plain" has max_prepared_transactions = 0, so it cannot prepare ' +
            "transactions: set max_prepared_transactions above 0 (postgresql.conf) and restart the server",
        );
      } else {
        expect(refusal).toBeUndefined();
      }
    } finally {
      await connector.close();
      await server.stop();
    }
  });

  describe("DuckDB", () => {
    let duck: Connector;
    let tx: SourceTransactions;
    beforeAll(async () => {
      duck = await createConnector("duck_tx", { kind: "duckdb" });
      tx = transactionsOf(duck);
    });
    afterAll(async () => {
      await duck?.close();
    });

    it("refuses two-phase commit", async () => {
      expect(await tx.twoPhaseRefusal()).toBe(
        'DuckDB source "duck_tx" has no prepared transactions, so it cannot take part in a transaction across databases',
      );
      expect(await tx.listPrepared("")).toEqual([]);
      const session = await duck.openSession();
      try {
        await expect(tx.begin(session, "bad gid")).rejects.toThrow(/invalid transaction id/);
        await tx.begin(session, "g1");
        const error = await failureOf(tx.prepare(session, "g1"));
        expect(error.code).toBe("UNSUPPORTED");
        expect(error.message).toContain("duck_tx");
        expect((await failureOf(tx.commitPrepared("g1"))).code).toBe("UNSUPPORTED");
        expect((await failureOf(tx.rollbackPrepared("g1"))).code).toBe("UNSUPPORTED");
        await tx.rollback(session);
      } finally {
        await session.release(true);
      }
    });

    it("runs local transactions and claims idempotency keys", async () => {
      await duck.execute({ sql: "CREATE TABLE ledger (id integer PRIMARY KEY)", params: [] });
      await tx.ensureIdempotencyTable();
      await tx.ensureIdempotencyTable();
      const session = await duck.openSession();
      try {
        await tx.begin(session);
        await session.execute({ sql: "INSERT INTO ledger VALUES (1)", params: [] });
        expect(await tx.claimIdempotencyKey(session, "k1")).toBe(true);
        await tx.commit(session);
        await tx.begin(session);
        await session.execute({ sql: "INSERT INTO ledger VALUES (2)", params: [] });
        expect(await tx.claimIdempotencyKey(session, "k1")).toBe(false);
        await tx.rollback(session);
      } finally {
        await session.release();
      }
      const { rows } = await readAll(duck, "SELECT id FROM ledger ORDER BY id");
      expect(rows).toEqual([[1]]);
      const keys = await readAll(duck, "SELECT idempotency_key FROM entente_idempotency");
      expect(keys.rows).toEqual([["k1"]]);
    });
  });
});

/**
 * Writes and transactions through `entente.sql` over real NATS, a PostgreSQL server with
 * prepared transactions enabled, MariaDB (XA) and one PostgreSQL without them: the seed's
 * transfer committed atomically by two-phase commit, aborted on either side, single writes,
 * INSERT … SELECT across databases, interactive sessions, idempotency keys, the refusals, and
 * recovery of transactions a coordinator left prepared.
 */
import { type Connector, createConnector } from "@entente/connectors";
import {
  bucketNameOf,
  collectSqlResult,
  DEFAULT_DEPLOYMENT,
  EntenteError,
  type SqlResult,
  SUBJECTS,
  type TxListReply,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";
import { DecisionLog } from "../src/writes/decision-log.ts";
import { transactionId } from "../src/writes/tx-ids.ts";

/** The worker's decision log, as a dead coordinator of the same deployment would have used it. */
let log: DecisionLog;

/** An id as a dead coordinator of this log's region (1, the default) would make it. */
const deadCoordinatorId = (worker: string, sequence: number) =>
  transactionId({ scope: log.scope, region: 1, worker, startedAtMs: Date.now() }, sequence);

let nats: NatsServer;
let preparedServer: PostgresService;
let plainServer: PostgresService;
let mariaServer: MariaDbService;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;
let bank: Connector;
let shop: Connector;

const sqlRequest = async (body: Record<string, unknown>): Promise<SqlResult> =>
  collectSqlResult(await client.collect(SUBJECTS.sql, body));
const sql = (statement: string, params?: unknown[], extra: Record<string, unknown> = {}) =>
  sqlRequest({ sql: statement, ...(params ? { params } : {}), ...extra });
const transaction = (statements: (string | [string, unknown[]])[], extra = {}) =>
  sqlRequest({
    statements: statements.map((s) =>
      typeof s === "string" ? { sql: s } : { sql: s[0], params: s[1] },
    ),
    ...extra,
  });

async function failure(work: Promise<unknown>): Promise<EntenteError> {
  try {
    await work;
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a failure");
}

async function rows(connector: Connector, text: string): Promise<unknown[][]> {
  const result = await connector.query({ sql: text, params: [] });
  const out: unknown[][] = [];
  for await (const batch of result.batches) out.push(...batch);
  return out;
}

const balances = () => rows(bank, "SELECT id, balance FROM accounts ORDER BY id");
const statuses = () => rows(shop, "SELECT id, status FROM orders ORDER BY id");

async function prepared(): Promise<string[]> {
  const pg = await rows(bank, "SELECT gid FROM pg_prepared_xacts");
  const xa = await rows(shop, "XA RECOVER");
  const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString() : String(v));
  return [...pg.map((r) => String(r[0])), ...xa.map((r) => text(r[3]))];
}

async function resetData(): Promise<void> {
  await bank.execute({ sql: "DELETE FROM ledger", params: [] });
  await bank.execute({ sql: "UPDATE accounts SET balance = 500", params: [] });
  await shop.execute({ sql: "UPDATE orders SET status = 'open', touched = 0", params: [] });
}

beforeAll(async () => {
  nats = await startNatsServer();
  [preparedServer, plainServer, mariaServer] = await Promise.all([
    postgres({ settings: { max_prepared_transactions: "64" } }),
    postgres(),
    mariadb(),
  ]);
  const bankUrl = await preparedServer.createDatabase();
  const archiveUrl = await preparedServer.createDatabase();
  const plainUrl = await plainServer.createDatabase();
  const shopUrl = await mariaServer.createDatabase();
  bank = await createConnector("setup_bank", { kind: "postgres", url: bankUrl });
  shop = await createConnector("setup_shop", { kind: "mysql", url: shopUrl });
  for (const statement of [
    "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL CHECK (balance >= 0))",
    "INSERT INTO accounts SELECT g, 'owner_' || g, 500 FROM generate_series(1, 4) g",
    // Checked only at commit, so a bad row fails the prepare, not the statement.
    "CREATE TABLE ledger (id serial PRIMARY KEY, account int NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED, amount numeric(12,2) NOT NULL)",
    "CREATE TABLE copied (id int PRIMARY KEY, status text NOT NULL)",
  ]) {
    await bank.execute({ sql: statement, params: [] });
  }
  for (const statement of [
    "CREATE TABLE orders (id int PRIMARY KEY, status varchar(16) NOT NULL, touched int NOT NULL DEFAULT 0, CHECK (status IN ('open', 'paid', 'shipped')))",
    "INSERT INTO orders (id, status) SELECT seq, 'open' FROM seq_1_to_4",
  ]) {
    await shop.execute({ sql: statement, params: [] });
  }
  const archive = await createConnector("setup_archive", { kind: "postgres", url: archiveUrl });
  await archive.execute({ sql: "CREATE TABLE notes (id int PRIMARY KEY, body text)", params: [] });
  await archive.close();
  const plain = await createConnector("setup_plain", { kind: "postgres", url: plainUrl });
  await plain.execute({ sql: "CREATE TABLE audit (id int PRIMARY KEY, what text)", params: [] });
  await plain.close();
  const yaml = `
nats: { servers: ["${nats.url}"] }
sources:
  bank: { kind: postgres, url: "${bankUrl}" }
  shop: { kind: mysql, url: "${shopUrl}" }
  plain: { kind: postgres, url: "${plainUrl}" }
  archive: { kind: postgres, url: "${archiveUrl}" }
  scratch: { kind: duckdb }
logicalTables:
  sharded_accounts:
    shards:
      key: id
      by: range
      members:
        - { table: bank.public.accounts, to: 100 }
writes:
  sources: [bank, shop, plain, scratch]
  maxStatements: 5
  sessionIdleMs: 1500
  recoverAfterMs: 1000
  recoverEveryMs: 300
`;
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: yaml, env: {} }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
  log = await DecisionLog.open(nc, DEFAULT_DEPLOYMENT);
}, 180_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await bank?.close();
  await shop?.close();
  await nats?.stop();
  await preparedServer?.stop?.();
  await plainServer?.stop?.();
  await mariaServer?.stop?.();
});

describe("the seed's transfer across PostgreSQL and MariaDB", () => {
  it("commits both sides atomically by two-phase commit", async () => {
    await resetData();
    const result = await transaction([
      ["UPDATE accounts SET balance = balance - $1 WHERE id = $2", [100, 1]],
      "UPDATE orders SET status = 'paid' WHERE id = 1",
    ]);
    expect(result.results).toEqual([
      expect.objectContaining({ affectedRows: 1 }),
      expect.objectContaining({ affectedRows: 1 }),
    ]);
    expect(result.transaction).toMatchObject({
      outcome: "committed",
      participants: ["bank", "shop"],
      twoPhase: true,
    });
    expect(await balances()).toContainEqual([1, "400.00"]);
    expect(await statuses()).toContainEqual([1, "paid"]);
    expect(await prepared()).toEqual([]);
  });

  it("aborts both when a statement on either side violates a constraint", async () => {
    await resetData();
    const overdraft = await failure(
      transaction([
        "UPDATE orders SET status = 'paid' WHERE id = 2",
        "UPDATE accounts SET balance = balance - 900 WHERE id = 2",
      ]),
    );
    expect(overdraft.message).toMatch(/^statements\[1\]: .*check/i);
    const badStatus = await failure(
      transaction([
        "UPDATE accounts SET balance = balance - 100 WHERE id = 2",
        "UPDATE orders SET status = 'lost' WHERE id = 2",
      ]),
    );
    expect(badStatus.message).toMatch(/^statements\[1\]: /);
    expect(await balances()).toContainEqual([2, "500.00"]);
    expect(await statuses()).toContainEqual([2, "open"]);
    expect(await prepared()).toEqual([]);
  });

  it("rolls back the prepared side when the other fails to prepare", async () => {
    await resetData();
    const e = await failure(
      transaction([
        "UPDATE orders SET status = 'shipped' WHERE id = 3",
        "INSERT INTO ledger (account, amount) VALUES (99, 1)",
      ]),
    );
    expect(e.message).toMatch(/rolled back: .*ledger/);
    expect(await statuses()).toContainEqual([3, "open"]);
    expect(await rows(bank, "SELECT count(*) FROM ledger")).toEqual([[0n]]);
    expect(await prepared()).toEqual([]);
  });
});

describe("single writes", () => {
  it("inserts, updates and deletes with bound parameters, answering affected rows", async () => {
    await resetData();
    const inserted = await sql("INSERT INTO ledger (account, amount) VALUES ($1, $2), (2, 3.25)", [
      1,
      "10.50",
    ]);
    expect(inserted.affectedRows).toBe(2);
    expect(inserted.rows).toEqual([[2]]);
    expect(
      (await sql("UPDATE ledger SET amount = amount * 2 WHERE account = 1")).affectedRows,
    ).toBe(1);
    expect(await rows(bank, "SELECT account, amount FROM ledger ORDER BY account")).toEqual([
      [1, "21.00"],
      [2, "3.25"],
    ]);
    expect((await sql("DELETE FROM ledger WHERE amount < $1", [5])).affectedRows).toBe(1);
  });

  it("runs INSERT … SELECT with the SELECT read from another database", async () => {
    await resetData();
    await bank.execute({ sql: "DELETE FROM copied", params: [] });
    const result = await sql(
      "INSERT INTO copied (id, status) SELECT id, status FROM orders WHERE id <= 3",
    );
    expect(result.affectedRows).toBe(3);
    expect(await rows(bank, "SELECT id, status FROM copied ORDER BY id")).toEqual([
      [1, "open"],
      [2, "open"],
      [3, "open"],
    ]);
  });

  it("applies a write once per idempotency key", async () => {
    await resetData();
    const key = `transfer-${Date.now()}`;
    const body = [
      "UPDATE accounts SET balance = balance - 50 WHERE id = 4",
      "UPDATE orders SET status = 'paid', touched = touched + 1 WHERE id = 4",
    ];
    const first = await transaction(body, { idempotencyKey: key });
    expect(first.transaction?.outcome).toBe("committed");
    const again = await transaction(body, { idempotencyKey: key });
    expect(again.alreadyApplied).toBe(true);
    const single = await sql("UPDATE accounts SET balance = balance - 50 WHERE id = 4", [], {
      idempotencyKey: `${key}-single`,
    });
    expect(single.affectedRows).toBe(1);
    expect(
      (
        await sql("UPDATE accounts SET balance = balance - 50 WHERE id = 4", [], {
          idempotencyKey: `${key}-single`,
        })
      ).alreadyApplied,
    ).toBe(true);
    expect(await balances()).toContainEqual([4, "400.00"]);
    expect(await rows(shop, "SELECT touched FROM orders WHERE id = 4")).toEqual([[1]]);
    // Keys compare exactly: one that differs only in case is another key.
    const other = await transaction(body, { idempotencyKey: key.toUpperCase() });
    expect(other.transaction?.outcome).toBe("committed");
    expect(await rows(shop, "SELECT touched FROM orders WHERE id = 4")).toEqual([[2]]);
  });
});

describe("interactive transactions", () => {
  it("reads its own writes, hides them from others until COMMIT", async () => {
    await resetData();
    const begun = await sql("BEGIN");
    const session = begun.session?.id as string;
    expect(session).toMatch(/^s\./);
    await sql("UPDATE accounts SET balance = 0 WHERE id = 3", [], { session });
    expect((await sql("SELECT balance FROM accounts WHERE id = 3", [], { session })).rows).toEqual([
      ["0.00"],
    ]);
    expect((await sql("SELECT balance FROM accounts WHERE id = 3")).rows).toEqual([["500.00"]]);
    await sql("UPDATE orders SET status = 'shipped' WHERE id = 3", [], { session });
    const committed = await sql("COMMIT", [], { session });
    expect(committed.transaction).toMatchObject({ outcome: "committed", twoPhase: true });
    expect((await sql("SELECT balance FROM accounts WHERE id = 3")).rows).toEqual([["0.00"]]);
    expect(await statuses()).toContainEqual([3, "shipped"]);
    expect((await failure(sql("SELECT 1", [], { session }))).code).toBe("NOT_FOUND");
  });

  it("rolls back on ROLLBACK, on a failed statement and when left idle", async () => {
    await resetData();
    const a = (await sql("BEGIN")).session?.id as string;
    await sql("UPDATE accounts SET balance = 1 WHERE id = 1", [], { session: a });
    await sql("ROLLBACK", [], { session: a });
    const b = (await sql("BEGIN")).session?.id as string;
    await sql("UPDATE accounts SET balance = 2 WHERE id = 1", [], { session: b });
    const failed = await failure(
      sql("UPDATE accounts SET balance = -1 WHERE id = 1", [], { session: b }),
    );
    expect(failed.message).toContain(`transaction ${b} was rolled back`);
    const c = (await sql("BEGIN")).session?.id as string;
    await sql("UPDATE accounts SET balance = 3 WHERE id = 1", [], { session: c });
    await new Promise((r) => setTimeout(r, 2_500));
    const idle = await failure(sql("COMMIT", [], { session: c }));
    expect([idle.code, idle.message]).toEqual([
      "NOT_FOUND",
      expect.stringContaining("idle longer than writes.sessionIdleMs"),
    ]);
    expect(await balances()).toContainEqual([1, "500.00"]);
  });
});

describe("bad input", () => {
  it("refuses each with a clear error and leaves nothing prepared", async () => {
    await resetData();
    const readOnly = await failure(sql("INSERT INTO notes VALUES (1, 'x')"));
    expect(readOnly.message).toBe(
      'read-only: source "archive" takes no writes; list it under writes.sources in the configuration to write it',
    );
    const keyless = await failure(sql("UPDATE sharded_accounts SET owner = 'x' WHERE owner = 'y'"));
    expect(keyless.message).toContain("needs a routing key");
    const noPrepare = await failure(
      transaction([
        "UPDATE accounts SET balance = 1 WHERE id = 1",
        "INSERT INTO audit VALUES (1, 'x')",
      ]),
    );
    expect(noPrepare.message).toContain("max_prepared_transactions = 0");
    const tooMany = await failure(transaction(Array.from({ length: 6 }, () => "SELECT 1")));
    expect([tooMany.code, tooMany.message]).toEqual([
      "TOO_LARGE",
      "a transaction has at most 5 statements (writes.maxStatements); this one has 6",
    ]);
    const stray = await failure(sql("COMMIT"));
    expect(stray.message).toContain("COMMIT without a transaction");
    expect(await balances()).toContainEqual([1, "500.00"]);
    expect(await rows(shop, "SELECT 1")).toEqual([[1]]);
    expect(await prepared()).toEqual([]);
  });
});

describe("the decision log", () => {
  it("keeps the first decision: a later one reads it instead of replacing it", async () => {
    const id = deadCoordinatorId("log", 9);
    const commit = { decision: "commit" as const, participants: [], decidedAtMs: 1, by: "a" };
    expect(await log.decide(id, commit)).toEqual(commit);
    const standing = await log.decide(id, { ...commit, decision: "abort", by: "b" });
    expect([standing.decision, standing.by]).toEqual(["commit", "a"]);
    await log.finish(id);
    expect(await log.get(id)).toBeUndefined();
  });
});

describe("recovery", () => {
  const kv = async () =>
    new Kvm(jetstream(nc)).open(bucketNameOf(DEFAULT_DEPLOYMENT, "transactions"));

  /** Leaves a transaction prepared on both sides, as a coordinator that died would. */
  async function leavePrepared(id: string, balance: number, status: string): Promise<void> {
    const pg = await bank.openSession();
    await pg.execute({ sql: "BEGIN", params: [] });
    await pg.execute({ sql: `UPDATE accounts SET balance = ${balance} WHERE id = 2`, params: [] });
    await pg.execute({ sql: `PREPARE TRANSACTION '${id}.0'`, params: [] });
    await pg.release();
    const my = await shop.openSession();
    await my.execute({ sql: `XA START '${id}.1'`, params: [] });
    await my.execute({ sql: `UPDATE orders SET status = '${status}' WHERE id = 2`, params: [] });
    await my.execute({ sql: `XA END '${id}.1'`, params: [] });
    await my.execute({ sql: `XA PREPARE '${id}.1'`, params: [] });
    await my.release(true);
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100 && !(await check()); i++) await new Promise((r) => setTimeout(r, 100));
  }

  it("rolls back a transaction prepared with no decision, and commits one decided commit", async () => {
    await resetData();
    const undecided = deadCoordinatorId("dead", 1);
    await leavePrepared(undecided, 7, "paid");
    const list = await client.request<TxListReply>(SUBJECTS.tx, { op: "list" });
    expect(list.transactions.find((t) => t.id === undecided)).toMatchObject({
      sources: expect.arrayContaining(["bank", "shop"]),
      decision: null,
      region: 1,
      worker: "dead",
    });
    await until(async () => (await prepared()).length === 0);
    expect(await prepared()).toEqual([]);
    expect(await balances()).toContainEqual([2, "500.00"]);
    expect(await statuses()).toContainEqual([2, "open"]);

    const decided = deadCoordinatorId("dead", 2);
    await (await kv()).create(
      decided,
      JSON.stringify({ decision: "commit", participants: [], decidedAtMs: Date.now(), by: "test" }),
    );
    await leavePrepared(decided, 8, "shipped");
    await until(async () => (await prepared()).length === 0);
    expect(await balances()).toContainEqual([2, "8.00"]);
    expect(await statuses()).toContainEqual([2, "shipped"]);
  });

  it("leaves alone what another decision log's coordinator prepared on a shared server", async () => {
    await resetData();
    // Same deployment and region, another NATS system's log: its decisions are not in ours.
    const foreign = transactionId(
      {
        scope: `${DEFAULT_DEPLOYMENT}/another-log`,
        region: 1,
        worker: "far",
        startedAtMs: Date.now(),
      },
      4,
    );
    await leavePrepared(foreign, 11, "paid");
    try {
      await new Promise((r) => setTimeout(r, 2_500)); // past recoverAfterMs, several rounds
      expect((await prepared()).sort()).toEqual([`${foreign}.0`, `${foreign}.1`]);
    } finally {
      await bank.execute({ sql: `ROLLBACK PREPARED '${foreign}.0'`, params: [] });
      await shop.execute({ sql: `XA ROLLBACK '${foreign}.1'`, params: [] });
    }
  });

  it("lets an operator roll back, and commit only what was decided commit", async () => {
    await resetData();
    // Recovery waits a second before it presumes abort; the operator is faster.
    const id = deadCoordinatorId("gone", 3);
    await leavePrepared(id, 9, "paid");
    const refused = await failure(client.request(SUBJECTS.tx, { op: "commit", id }));
    expect(refused.message).toContain("only rollback is safe");
    const resolved = await client.request(SUBJECTS.tx, { op: "rollback", id });
    expect(resolved).toMatchObject({ id, outcome: "rolled back" });
    expect(await prepared()).toEqual([]);
    expect(await balances()).toContainEqual([2, "500.00"]);
  });
});

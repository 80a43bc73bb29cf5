/**
 * Sagas of SQL steps on PostgreSQL, through sql-join's `entente.sql` writes: a saga that
 * completes changes the tables once, one whose last step breaks a constraint is undone by its
 * compensations, and a step repeated with its idempotency key changes nothing the second time.
 */
import { createConnector } from "@entente/connectors";
import {
  collectSqlResult,
  type SagaDefinition,
  type SagaStartReply,
  SUBJECTS,
} from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import { type NatsServer, type PostgresService, postgres, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sagasService } from "../src/index.ts";

let nats: NatsServer;
let pgServer: PostgresService;
let pgUrl: string;
let worker: Worker;
let nc: NatsConnection;
let client: EntenteClient;

async function rows(sql: string): Promise<unknown[][]> {
  return collectSqlResult(await client.collect(SUBJECTS.sql, { sql })).rows;
}

const start = (saga: SagaDefinition, id: string) =>
  client.request<SagaStartReply>(
    SUBJECTS.saga,
    { op: "start", saga, id, wait: true },
    { timeoutMs: 30_000 },
  );

/** An order: stock taken, the order written, then a payment the amount check may refuse. */
function order(id: number, cents: number): SagaDefinition {
  return {
    steps: [
      {
        name: "take-stock",
        action: {
          kind: "sql",
          sql: "UPDATE stock SET n = n - 1 WHERE item = $1",
          params: ["apple"],
        },
        compensation: {
          kind: "sql",
          sql: "UPDATE stock SET n = n + 1 WHERE item = $1",
          params: ["apple"],
        },
      },
      {
        name: "write-order",
        action: {
          kind: "sql",
          sql: "INSERT INTO orders (id, item) VALUES ($1, $2)",
          params: [id, "apple"],
        },
        compensation: { kind: "sql", sql: "DELETE FROM orders WHERE id = $1", params: [id] },
      },
      {
        name: "pay",
        action: {
          kind: "sql",
          sql: "INSERT INTO payments (order_id, cents) VALUES ($1, $2)",
          params: [id, cents],
        },
      },
    ],
    retry: { maxAttempts: 2, backoffMs: 10 },
  };
}

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  pgServer = await postgres();
  pgUrl = await pgServer.createDatabase();
  const pg = await createConnector("setup", { kind: "postgres", url: pgUrl });
  for (const sql of [
    "CREATE TABLE stock (item text PRIMARY KEY, n integer NOT NULL)",
    "INSERT INTO stock VALUES ('apple', 10)",
    "CREATE TABLE orders (id integer PRIMARY KEY, item text NOT NULL)",
    "CREATE TABLE payments (order_id integer PRIMARY KEY, cents integer NOT NULL CHECK (cents < 100000))",
  ]) {
    await pg.execute({ sql, params: [] });
  }
  await pg.close();
  worker = await startWorker({
    services: [sqlJoinService, sagasService],
    config: loadConfig({
      text: JSON.stringify({
        nats: { servers: [nats.url] },
        log: { level: "warn" },
        sources: { shop: { kind: "postgres", url: pgUrl } },
        writes: { sources: ["shop"] },
        sagas: { leaseMs: 5000, resumeEveryMs: 500 },
      }),
      env: {},
    }),
  });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
  await pgServer?.stop?.();
});

describe("sagas of SQL steps on PostgreSQL", () => {
  it("completes an order: every write applied once", async () => {
    const reply = await start(order(1, 500), "order-1");
    expect(reply.saga.state).toBe("completed");
    expect(reply.saga.steps.map((s) => s.result)).toEqual([
      { affectedRows: 1 },
      { affectedRows: 1 },
      { affectedRows: 1 },
    ]);
    expect(await rows("SELECT n FROM stock")).toEqual([[9]]);
    expect(await rows("SELECT id FROM orders")).toEqual([[1]]);
  });

  it("undoes the order when the payment breaks a constraint", async () => {
    const reply = await start(order(2, 999_999), "order-2");
    expect(reply.saga.state).toBe("compensated");
    // A constraint violation cannot be helped by a retry: one attempt, then compensation.
    expect(reply.saga.steps[2]).toMatchObject({ attempts: 1, error: { code: "BAD_REQUEST" } });
    expect(reply.saga.steps[2]?.error?.message).toContain("payments_cents_check");
    expect(reply.saga.steps.map((s) => s.status)).toEqual(["compensated", "compensated", "failed"]);
    expect(await rows("SELECT n FROM stock")).toEqual([[9]]);
    expect(await rows("SELECT id FROM orders ORDER BY id")).toEqual([[1]]);
  });

  it("changes nothing when a step's write comes again with its key", async () => {
    const again = collectSqlResult(
      await client.collect(SUBJECTS.sql, {
        sql: "UPDATE stock SET n = n - 1 WHERE item = $1",
        params: ["apple"],
        idempotencyKey: "order-1.0.action",
      }),
    );
    expect(again.alreadyApplied).toBe(true);
    expect(await rows("SELECT n FROM stock")).toEqual([[9]]);
  });
});

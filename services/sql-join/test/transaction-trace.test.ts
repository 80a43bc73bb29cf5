/**
 * A transaction across two databases is one trace: the request's server span, and under it the
 * prepare and the commit of each participant and the logged decision. The worker's tracing is
 * configured as an operator's would be, by the OTEL_* variables, pointed at a local receiver.
 */
import { createConnector } from "@entente/connectors";
import { SUBJECTS } from "@entente/protocol";
import {
  EntenteClient,
  HOP_ATTRIBUTES,
  loadConfig,
  startWorker,
  type Worker,
} from "@entente/runtime";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type OtlpReceiver,
  type PostgresService,
  postgres,
  startNatsServer,
  startOtlpReceiver,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

let receiver: OtlpReceiver;
let nats: NatsServer;
let pgServer: PostgresService;
let mariaServer: MariaDbService;
let worker: Worker;
let nc: NatsConnection;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = receiver.tracesUrl;
  process.env.OTEL_BSP_SCHEDULE_DELAY = "50";
  nats = await startNatsServer();
  [pgServer, mariaServer] = await Promise.all([
    postgres({ settings: { max_prepared_transactions: "8" } }),
    mariadb(),
  ]);
  const bankUrl = await pgServer.createDatabase();
  const shopUrl = await mariaServer.createDatabase();
  const bank = await createConnector("setup_bank", { kind: "postgres", url: bankUrl });
  await bank.execute({
    sql: "CREATE TABLE accounts (id int PRIMARY KEY, balance int)",
    params: [],
  });
  await bank.execute({ sql: "INSERT INTO accounts VALUES (1, 100)", params: [] });
  await bank.close();
  const shop = await createConnector("setup_shop", { kind: "mysql", url: shopUrl });
  await shop.execute({ sql: "CREATE TABLE orders (id int PRIMARY KEY, status text)", params: [] });
  await shop.execute({ sql: "INSERT INTO orders VALUES (1, 'open')", params: [] });
  await shop.close();
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({
      text: `
nats: { servers: ["${nats.url}"] }
sources:
  bank: { kind: postgres, url: "${bankUrl}" }
  shop: { kind: mysql, url: "${shopUrl}" }
writes: { sources: [bank, shop] }
`,
      env: {},
    }),
  });
  nc = await connect({ servers: nats.url });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
  await pgServer?.stop?.();
  await mariaServer?.stop?.();
  await receiver?.close();
  delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  delete process.env.OTEL_BSP_SCHEDULE_DELAY;
});

describe("tracing a transaction", () => {
  it("puts every participant's prepare and commit and the decision under the request", async () => {
    receiver.clear();
    const reply = await new EntenteClient(nc).request<{ transaction?: { id: string } }>(
      SUBJECTS.sql,
      {
        statements: [
          { sql: "UPDATE accounts SET balance = balance - 10 WHERE id = 1" },
          { sql: "UPDATE orders SET status = 'paid' WHERE id = 1" },
        ],
      },
    );
    const id = reply.transaction?.id;
    expect(id).toMatch(/^e[0-9a-z]+\.1\./);
    const [server] = await receiver.waitForSpans(
      (s) =>
        s.kindName === "SERVER" &&
        s.attributes[HOP_ATTRIBUTES.service] === "sql-join" &&
        s.attributes[HOP_ATTRIBUTES.subject] === SUBJECTS.sql,
    );
    const steps = await receiver.waitForSpans(
      (s) => s.attributes["entente.transaction"] === id && s.name.startsWith("transaction "),
      { count: 5, timeoutMs: 10_000 },
    );
    const seen = steps
      .map((s) => `${s.name} ${s.attributes["entente.source"] ?? ""}`.trim())
      .sort();
    expect(seen).toEqual([
      "transaction commit prepared bank",
      "transaction commit prepared shop",
      "transaction decide",
      "transaction prepare bank",
      "transaction prepare shop",
    ]);
    for (const step of steps) {
      expect(step.traceId).toBe(server?.traceId);
      expect(step.parentSpanId).toBe(server?.spanId);
    }
  });
});

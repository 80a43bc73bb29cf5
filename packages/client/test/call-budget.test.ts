/**
 * A statement's time budget is the whole wait: a heavy statement answers only when it is done,
 * so the client's shorter stall limit must not end it first. Real NATS, a slow sql responder.
 */
import { createLogger, EntenteClient, endpoint, HostedService, loadConfig } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Entente } from "../src/entente.ts";

let nats: NatsServer;
let nc: NatsConnection;
let hostNc: NatsConnection;
let hosted: HostedService;

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: nats.url });
  hostNc = await connect({ servers: nats.url });
  const slowSql = endpoint({
    name: "slow-sql",
    subject: "entente.sql",
    handler: async () => {
      await new Promise((r) => setTimeout(r, 600));
      return { columns: [{ name: "n", type: "integer" }], rows: [[1]] };
    },
  });
  hosted = await HostedService.start(
    {
      name: "slow-sql",
      version: "0.0.1",
      description: "a sql endpoint that answers late",
      start: () => ({ endpoints: [slowSql] }),
    },
    {
      nc: hostNc,
      config: loadConfig({ text: "log:\n  level: silent\n", env: { NATS_URL: nats.url } }),
      client: new EntenteClient(hostNc),
      logger: createLogger({ service: "slow-sql", level: "silent" }),
    },
  );
});

afterAll(async () => {
  await hosted?.stop(1_000);
  await hostNc?.close();
  await nc?.close();
  await nats?.stop();
});

it("waits past the client's stall limit for a statement given a longer budget", async () => {
  const impatient = new Entente(new EntenteClient(nc, { stallTimeoutMs: 200 }));
  await expect(impatient.sql("SELECT 1")).rejects.toMatchObject({ code: "STREAM_STALLED" });
  const answer = await impatient.sql("SELECT 1", { timeoutMs: 10_000 });
  expect(answer.rows).toEqual([[1]]);
});

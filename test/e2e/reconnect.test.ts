import { diagnosticsService } from "@entente/diagnostics";
import { SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("a NATS server restart", () => {
  let server: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    const config = loadConfig({
      text: "nats:\n  reconnectTimeWaitMs: 100\nlog:\n  level: warn\n",
      env: { NATS_URL: server.url },
    });
    worker = await startWorker({ services: [diagnosticsService], config });
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await server?.stop();
  });

  it("workers reconnect and serve again", async () => {
    const client = new EntenteClient(nc);
    expect(await client.request(SUBJECTS.diagnostics.echo, { payload: "before" })).toEqual({
      payload: "before",
    });

    await server.kill("SIGKILL");
    await server.restart();

    // Retry until both sides are back: the budget bounds the wait, not a sleep.
    const after = await client.request(
      SUBJECTS.diagnostics.echo,
      { payload: "after" },
      { timeoutMs: 20_000, retry: { attempts: 100, attemptTimeoutMs: 1_000, backoffMs: 100 } },
    );
    expect(after).toEqual({ payload: "after" });
    expect(worker.nc.isClosed()).toBe(false);
  });
});

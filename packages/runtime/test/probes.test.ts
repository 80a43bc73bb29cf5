/** `/healthz` and `/readyz` of a worker: alive while it runs, ready only while it takes work. */
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  endpoint,
  loadConfig,
  type ServiceDefinition,
  startWorker,
  type Worker,
} from "../src/index.ts";

const echo: ServiceDefinition = {
  name: "probe-echo",
  version: "0.0.0",
  description: "answers what it is sent",
  start: () => ({
    endpoints: [endpoint({ name: "echo", subject: "probe.echo", handler: (request) => request })],
  }),
};

async function probe(port: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, body: await res.json() };
}

/** Polls `path` until it answers `status`, within a bound. */
async function until(port: number, path: string, status: number): Promise<unknown> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer = await probe(port, path);
    if (answer.status === status || Date.now() > deadline) {
      expect(answer.status).toBe(status);
      return answer.body;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("worker probes", () => {
  let nats: NatsServer;
  let worker: Worker;
  let port: number;

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: false });
    worker = await startWorker({
      services: [echo],
      config: loadConfig({
        text: "log: { level: silent }\nruntime: { probePort: 0 }\nnats: { reconnectTimeWaitMs: 100 }\n",
        env: { NATS_URL: nats.url },
      }),
    });
    port = worker.probePort as number;
  }, 30_000);

  afterAll(async () => {
    await worker?.stop();
    await nats?.stop();
  });

  it("are alive and ready once every service started", async () => {
    expect(await probe(port, "/healthz")).toEqual({ status: 200, body: { status: "alive" } });
    expect(await probe(port, "/readyz")).toEqual({ status: 200, body: { status: "ready" } });
    expect((await probe(port, "/nope")).status).toBe(404);
  });

  it("are alive but not ready while NATS is away, and ready again when it is back", async () => {
    await nats.kill();
    expect(await until(port, "/readyz", 503)).toEqual({
      status: "not ready",
      reason: "NATS is not connected",
    });
    expect((await probe(port, "/healthz")).status).toBe(200);
    await nats.restart();
    await until(port, "/readyz", 200);
  });

  it("are gone once the worker stopped", async () => {
    await worker.stop();
    await expect(probe(port, "/healthz")).rejects.toThrow();
  });
});

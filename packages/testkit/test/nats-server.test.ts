import { existsSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { natsServer, ProcessStartError, startNatsServer } from "../src/index.ts";

/** Resolves with the first status event of `type` the connection reports. */
async function nextStatus(nc: NatsConnection, type: Status["type"]): Promise<Status> {
  for await (const status of nc.status()) {
    if (status.type === type) return status;
  }
  throw new Error(`connection closed before a ${type} event`);
}

describe("startNatsServer", () => {
  it("survives a crash: the client reconnects after restart and JetStream kept its data", async () => {
    const server = await startNatsServer();
    const nc = await connect({
      servers: server.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    try {
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
      expect(server.logs().some((line) => line.includes("Server is ready"))).toBe(true);

      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "orders", subjects: ["orders.>"] });
      const ack = await jetstream(nc).publish("orders.new", "first order");
      expect(ack.seq).toBe(1);

      const disconnected = nextStatus(nc, "disconnect");
      await server.kill("SIGKILL");
      expect(server.running).toBe(false);
      expect(server.pid).toBeUndefined();
      await disconnected;

      const reconnected = nextStatus(nc, "reconnect");
      await server.restart();
      expect(server.running).toBe(true);
      await reconnected;

      const stored = await jsm.streams.getMessage("orders", { seq: 1 });
      expect(stored?.string()).toBe("first order");
    } finally {
      await nc.close();
      await server.stop();
    }
    expect(existsSync(server.storeDir)).toBe(false);
  });

  it("stops idempotently and refuses to restart after stop", async () => {
    const server = await startNatsServer({ jetstream: false });
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(server.running).toBe(false);
    await expect(server.restart()).rejects.toThrow(/was stopped/);
  });

  it("runs several independent servers side by side", async () => {
    const [a, b] = await Promise.all([startNatsServer(), startNatsServer()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.storeDir).not.toBe(b.storeDir);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("puts the server's own output into the error when it cannot start", async () => {
    const first = await startNatsServer({ jetstream: false });
    try {
      const failure = await startNatsServer({ port: first.port, jetstream: false }).catch(
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(ProcessStartError);
      expect((failure as ProcessStartError).message).toMatch(/exited before it was ready/);
      expect((failure as ProcessStartError).message).toMatch(/address already in use/);
    } finally {
      await first.stop();
    }
  });
});

describe("natsServer", () => {
  const started: Array<{ stop(): Promise<void> }> = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it("uses ENTENTE_TEST_NATS_URL when it is set", async () => {
    const backing = await startNatsServer();
    started.push(backing);
    const nats = await natsServer({ discovery: { env: { ENTENTE_TEST_NATS_URL: backing.url } } });
    expect(nats.source).toBe("env");
    expect(nats.url).toBe(backing.url);
    expect(nats.port).toBe(backing.port);
    await nats.stop();
    // The server belongs to whoever set the URL: stopping the handle leaves it running.
    expect(backing.running).toBe(true);
  });

  it("starts a local nats-server with JetStream when no URL is set", async () => {
    const nats = await natsServer({ discovery: { env: {} } });
    started.push(nats);
    expect(nats.source).toBe("binary");
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "events", subjects: ["events.>"] });
      await jetstream(nc).publish("events.one", "hello");
      expect((await jsm.streams.getMessage("events", { seq: 1 }))?.string()).toBe("hello");
    } finally {
      await nc.close();
    }
  });

  it("says clearly when the URL in the environment has no JetStream", async () => {
    const plain = await startNatsServer({ jetstream: false });
    started.push(plain);
    await expect(
      natsServer({ discovery: { env: { ENTENTE_TEST_NATS_URL: plain.url } } }),
    ).rejects.toThrow(/JetStream does not answer.*-js/);
  });
});

import { type NatsServer, startNatsServer } from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BridgeHost as Worker } from "./helpers.ts";
import {
  connectTo,
  duplicatesAndMissing,
  eventually,
  publishNumbered,
  readStream,
  startBridge,
  waitForStatus,
} from "./helpers.ts";

const COUNT = Number(process.env.ENTENTE_BRIDGE_TEST_COUNT ?? 100_000);

describe("NATS to NATS", () => {
  let upstream: NatsServer;
  let downstream: NatsServer;
  let up: NatsConnection;
  let down: NatsConnection;
  let worker: Worker;

  beforeAll(async () => {
    upstream = await startNatsServer({ jetstream: true, args: ["--server_name", "up"] });
    downstream = await startNatsServer({ jetstream: true, args: ["--server_name", "down"] });
    up = await connectTo(upstream.url);
    down = await connectTo(downstream.url);
    worker = await startBridge(downstream.url, {
      statusIntervalMs: 500,
      links: {
        orders: {
          upstream: { kind: "nats", url: upstream.url, subjects: ["orders.>"] },
          downstream: { kind: "jetstream", url: downstream.url, stream: "ORDERS" },
          maxHops: 1,
          prefetch: 1000,
        },
        core: {
          upstream: { kind: "nats", url: upstream.url, subjects: ["events.>"] },
          downstream: { kind: "nats", url: downstream.url, subjectPrefix: "east" },
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await up?.close();
    await down?.close();
    await upstream?.stop();
    await downstream?.stop();
  });

  it(`carries ${COUNT} messages into a JetStream stream with headers intact, none twice`, async () => {
    await waitForStatus(down, "orders", (s) => s.status === "connected");
    await publishNumbered(up, (i) => `orders.eu.${i % 7}`, COUNT);
    const jsm = await jetstreamManager(down);
    await eventually(
      `${COUNT} messages in ORDERS`,
      async () => {
        return (await jsm.streams.info("ORDERS")).state.messages >= COUNT;
      },
      120_000,
    );
    const { indexes, headerSamples } = await readStream(down, "ORDERS");
    expect(indexes.length).toBe(COUNT);
    expect(duplicatesAndMissing(indexes, COUNT)).toEqual({ duplicates: 0, missing: 0 });
    const sample = headerSamples[0] ?? {};
    expect(sample["x-multi"]).toEqual(["a", "b"]);
    expect(sample["x-index"]).toHaveLength(1);
    expect(sample["Entente-Bridge-Path"]).toEqual(["up,down"]);
    expect(sample["Entente-Bridge-Hops"]).toEqual(["1"]);
    const status = await waitForStatus(
      down,
      "orders",
      (s) => s.counters.forwarded >= COUNT && s.lag === 0,
    );
    expect(status.counters.forwarded).toBe(COUNT);
    expect(status.lastForwardedAt).toBeDefined();
  }, 180_000);

  it("carries messages to core NATS under a subject prefix", async () => {
    await waitForStatus(down, "core", (s) => s.status === "connected");
    const received: string[] = [];
    const sub = down.subscribe("east.events.>", {
      callback: (_e, m) => {
        received.push(m.subject);
      },
    });
    await down.flush();
    await publishNumbered(up, (i) => `events.${i}`, 200);
    await eventually("200 messages under east.", () => received.length >= 200);
    sub.unsubscribe();
    expect(new Set(received).size).toBe(200);
    expect(received).toContain("east.events.199");
  }, 60_000);
});

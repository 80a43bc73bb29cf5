import {
  type NatsServer,
  type RabbitMqService,
  rabbitmq,
  startNatsServer,
  uniqueName,
} from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { type ChannelModel, connect } from "amqplib";
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

const COUNT = Number(process.env.ENTENTE_BRIDGE_TEST_COUNT ?? 20_000);

/** A vhost of its own where the broker allows it; else unique names isolate the suite. */
async function brokerUrl(rabbit: RabbitMqService): Promise<string> {
  try {
    return await rabbit.createVhost();
  } catch {
    return rabbit.url;
  }
}

describe("RabbitMQ and NATS", () => {
  let rabbit: RabbitMqService;
  let amqpUrl: string;
  let amqp: ChannelModel;
  let nats: NatsServer;
  let nc: NatsConnection;
  let worker: Worker;
  const inExchange = uniqueName("bridge-in");
  const outExchange = uniqueName("bridge-out");
  const outQueue = uniqueName("bridge-out-q");

  beforeAll(async () => {
    rabbit = await rabbitmq();
    amqpUrl = await brokerUrl(rabbit);
    amqp = await connect(amqpUrl);
    const ch = await amqp.createChannel();
    await ch.assertExchange(inExchange, "topic", { durable: false, autoDelete: false });
    await ch.assertExchange(outExchange, "topic", { durable: true });
    await ch.assertQueue(outQueue, { durable: false, autoDelete: false });
    await ch.bindQueue(outQueue, outExchange, "tasks.#");
    await ch.close();
    nats = await startNatsServer({ jetstream: true, args: ["--server_name", "nats-a"] });
    nc = await connectTo(nats.url);
    worker = await startBridge(nats.url, {
      statusIntervalMs: 500,
      links: {
        "rabbit-in": {
          upstream: {
            kind: "rabbitmq",
            url: amqpUrl,
            id: "rabbit",
            exchange: inExchange,
            bindings: ["orders.#", "bad.#"],
          },
          downstream: {
            kind: "jetstream",
            url: nats.url,
            stream: "RABBIT",
            subjectPrefix: "rabbit",
          },
          prefetch: 1000,
          expires: 60_000,
        },
        "rabbit-out": {
          upstream: { kind: "nats", url: nats.url, subjects: ["tasks.>"] },
          downstream: { kind: "rabbitmq", url: amqpUrl, id: "rabbit", exchange: outExchange },
        },
      },
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    if (amqp) {
      const ch = await amqp.createChannel();
      await ch.deleteExchange(inExchange).catch(() => {});
      await ch.deleteExchange(outExchange).catch(() => {});
      await ch.deleteQueue(outQueue).catch(() => {});
      await ch.deleteQueue("entente_bridge_rabbit-in").catch(() => {});
      await amqp.close();
    }
    await nc?.close();
    await nats?.stop();
    await rabbit?.stop();
  });

  it(`RabbitMQ to NATS: ${COUNT} messages with headers and properties, counts exact`, async () => {
    await waitForStatus(nc, "rabbit-in", (s) => s.status === "connected");
    const ch = await amqp.createConfirmChannel();
    for (let i = 0; i < COUNT; i++) {
      const body = Buffer.from(String(i).padStart(12, "0"));
      const ok = ch.publish(inExchange, `orders.eu.${i % 5}`, body, {
        headers: { "x-index": i, "x-text": "héllo" },
        messageId: `m-${i}`,
        contentType: "application/octet-stream",
        timestamp: Math.floor(Date.now() / 1000),
      });
      if (!ok) await new Promise((r) => ch.once("drain", r));
      if (i % 5000 === 4999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    await ch.close();
    const jsm = await jetstreamManager(nc);
    await eventually(
      `${COUNT} messages in RABBIT`,
      async () => {
        const info = await jsm.streams.info("RABBIT").catch(() => undefined);
        return (info?.state.messages ?? 0) >= COUNT;
      },
      240_000,
    );
    const { indexes, headerSamples } = await readStream(nc, "RABBIT");
    expect(indexes.length).toBe(COUNT);
    expect(duplicatesAndMissing(indexes, COUNT)).toEqual({ duplicates: 0, missing: 0 });
    const sample = headerSamples[0] ?? {};
    expect(sample["x-text"]).toEqual(["héllo"]);
    expect(sample["Amqp-Message-Id"]?.[0]).toMatch(/^m-\d+$/);
    expect(sample["x-index"]?.[0]).toBe(sample["Amqp-Message-Id"]?.[0]?.slice(2));
    expect(sample["Amqp-Content-Type"]).toEqual(["application/octet-stream"]);
    expect(sample["Entente-Bridge-Path"]).toEqual(["rabbit,nats-a"]);
    const status = await waitForStatus(
      nc,
      "rabbit-in",
      (s) => s.counters.forwarded >= COUNT && s.lag === 0,
    );
    expect(status.counters.forwarded).toBe(COUNT);
  }, 300_000);

  it("RabbitMQ to NATS: a routing key that is no NATS subject is reported and the link goes on", async () => {
    const ch = await amqp.createConfirmChannel();
    ch.publish(inExchange, "bad.key with space", Buffer.from("x"));
    ch.publish(inExchange, "orders.after-bad", Buffer.from("999999999999"));
    await ch.waitForConfirms();
    await ch.close();
    const status = await waitForStatus(
      nc,
      "rabbit-in",
      (s) => s.counters.malformed >= 1 && s.counters.forwarded >= COUNT + 1,
    );
    expect(status.status).toBe("connected");
    expect(status.lastProblem).toMatch(/routing key "bad.key with space"/);
  }, 60_000);

  it(`NATS to RabbitMQ: ${COUNT} messages with headers, counts exact`, async () => {
    await waitForStatus(nc, "rabbit-out", (s) => s.status === "connected");
    const ch = await amqp.createChannel();
    await ch.prefetch(2000);
    const seen = new Set<number>();
    let duplicates = 0;
    let sample: Record<string, unknown> | undefined;
    await ch.consume(outQueue, (msg) => {
      if (msg === null) return;
      const i = Number(msg.content.subarray(0, 12).toString());
      if (seen.has(i)) duplicates++;
      seen.add(i);
      sample ??= { routingKey: msg.fields.routingKey, headers: msg.properties.headers };
      ch.ack(msg);
    });
    await publishNumbered(nc, (i) => `tasks.t${i % 3}`, COUNT);
    await eventually(`${COUNT} messages in ${outQueue}`, () => seen.size >= COUNT, 240_000);
    await ch.close();
    expect(seen.size).toBe(COUNT);
    expect(duplicates).toBe(0);
    expect(sample?.routingKey).toMatch(/^tasks\.t[0-2]$/);
    const headers = sample?.headers as Record<string, unknown>;
    expect(headers["x-multi"]).toEqual(["a", "b"]);
    expect(headers["Entente-Bridge-Path"]).toBe("nats-a,rabbit");
    expect(headers["Entente-Bridge-Hops"]).toBe("1");
  }, 300_000);
});

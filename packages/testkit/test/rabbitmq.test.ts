import { connect } from "amqplib";
import { describe, expect, it } from "vitest";
import { type RabbitMqService, rabbitmq, uniqueName } from "../src/index.ts";

process.env.ENTENTE_TEST_RABBITMQ_URL ??= "amqp://guest:guest@127.0.0.1:5672";

/** Sends one message through a fresh queue and reads it back. */
async function roundTrip(url: string, body: string): Promise<string | undefined> {
  const connection = await connect(url);
  try {
    const channel = await connection.createChannel();
    const { queue } = await channel.assertQueue(uniqueName("q"), { exclusive: true });
    channel.sendToQueue(queue, Buffer.from(body));
    for (let attempt = 0; attempt < 50; attempt++) {
      const message = await channel.get(queue, { noAck: true });
      if (message !== false) return message.content.toString();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  } finally {
    await connection.close();
  }
}

describe("rabbitmq() from the environment", () => {
  it("carries a message through a queue", async () => {
    const broker = await rabbitmq();
    try {
      expect(broker.source).toBe("env");
      expect(await roundTrip(broker.url, "hello")).toBe("hello");
    } finally {
      await broker.stop();
    }
  });

  it("explains what createVhost needs when there is no management API", async () => {
    const broker = await rabbitmq({
      discovery: { env: { ENTENTE_TEST_RABBITMQ_URL: process.env.ENTENTE_TEST_RABBITMQ_URL } },
    });
    try {
      await expect(broker.createVhost()).rejects.toThrow(/ENTENTE_TEST_RABBITMQ_MANAGEMENT_URL/);
    } finally {
      await broker.stop();
    }
  });
});

// Starting a broker takes several seconds; it is the only way to know the binary path works.
describe("rabbitmq() from a local rabbitmq-server", () => {
  it("starts a private broker with isolated vhosts, and stops it", async () => {
    let broker: RabbitMqService | undefined;
    try {
      broker = await rabbitmq({ discovery: { env: {} } });
      expect(broker.source).toBe("binary");
      expect(await roundTrip(broker.url, "default vhost")).toBe("default vhost");
      const vhost = await broker.createVhost("orders");
      expect(vhost).toBe(`amqp://guest:guest@127.0.0.1:${broker.port}/orders`);
      expect(await roundTrip(vhost, "in orders")).toBe("in orders");
    } finally {
      await broker?.stop();
    }
    await expect(connect(broker.url)).rejects.toThrow();
  }, 120_000);
});

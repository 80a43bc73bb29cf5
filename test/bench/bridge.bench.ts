/**
 * The broker bridge against its baselines, in the same run: 200,000 messages of 1 KiB
 * NATS→NATS through a link (JetStream buffer upstream, JetStream stream downstream) against a
 * minimal hand-written loop (durable pull consumer on A, publish with a message id to B, ack
 * after the PubAck) and the NATS server's own stream sourcing; RabbitMQ→NATS through a link
 * against RabbitMQ's federation plugin between two vhosts, both measured from the first publish
 * to the last arrival (the plugin's buffer cannot be filled before its link runs); the link's
 * drain rate of an already filled buffer is printed as well. Every run checks that each message
 * arrived exactly once. Prints messages per second and the ratios.
 *
 *   node --conditions=@entente/source test/bench/bridge.bench.ts
 *   BENCH_MESSAGES=50000 ENTENTE_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 …
 */
import { rabbitmq } from "@entente/testkit";
import {
  bridgeNatsToNats,
  bridgeRabbitToNats,
  handWrittenLoop,
  type Result,
  rabbitFederation,
  streamSourcing,
} from "../../services/broker-bridge/test/bench-scenarios.ts";

const COUNT = Number(process.env.BENCH_MESSAGES ?? 200_000);
const SIZE = Number(process.env.BENCH_MESSAGE_BYTES ?? 1024);
/** A subset of nats, loop, sourcing, rabbit, federation; all by default. */
const ONLY = new Set(
  (process.env.BENCH_SCENARIOS ?? "nats,loop,sourcing,rabbit,federation").split(","),
);

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const line = (r: Result) =>
  `${r.label.padEnd(52)} ${fmt(r.perSecond).padStart(10)} msgs/s  (${r.messages} in ${r.seconds.toFixed(2)} s)`;

async function main(): Promise<void> {
  console.log(`broker bridge benchmark: ${COUNT} messages of ${SIZE} bytes each\n`);
  const results: Result[] = [];
  const step = async (what: () => Promise<Result>) => {
    const result = await what();
    results.push(result);
    console.log(line(result));
    return result;
  };
  const link = ONLY.has("nats") ? await step(() => bridgeNatsToNats(COUNT, SIZE)) : undefined;
  const loop = ONLY.has("loop") ? await step(() => handWrittenLoop(COUNT, SIZE, false)) : undefined;
  const loopFast = ONLY.has("loop")
    ? await step(() => handWrittenLoop(COUNT, SIZE, true))
    : undefined;
  const sourcing = ONLY.has("sourcing") ? await step(() => streamSourcing(COUNT, SIZE)) : undefined;

  let rabbitLink: Result | undefined;
  let federation: Result | string | undefined;
  try {
    const rabbit = await rabbitmq();
    try {
      if (ONLY.has("rabbit")) {
        rabbitLink = await step(() => bridgeRabbitToNats(rabbit.url, COUNT, SIZE));
        await step(() => bridgeRabbitToNats(rabbit.url, COUNT, SIZE, "drain"));
      }
      if (ONLY.has("federation")) {
        federation = await rabbitFederation(rabbit.url, COUNT, SIZE);
        if (typeof federation === "string")
          console.log(`RabbitMQ federation plugin: not measured: ${federation}`);
        else console.log(line(federation));
      }
    } finally {
      await rabbit.stop();
    }
  } catch (error) {
    console.log(`RabbitMQ: not measured: ${(error as Error).message.split("\n")[0]}`);
  }

  const ratio = (a: Result, b: Result) => `${(a.perSecond / b.perSecond).toFixed(2)}×`;
  console.log("\nratios");
  if (link && loop)
    console.log(
      `  link / hand-written loop                 ${ratio(link, loop)}   (target ≥ 1.5×)`,
    );
  if (link && loopFast)
    console.log(`  link / hand-written loop, noAsyncTraces  ${ratio(link, loopFast)}`);
  if (link && sourcing)
    console.log(`  link / server stream sourcing            ${ratio(link, sourcing)}`);
  if (rabbitLink && federation && typeof federation !== "string") {
    console.log(
      `  RabbitMQ→NATS link / RabbitMQ federation ${ratio(rabbitLink, federation)}   (target ≥ 5×)`,
    );
  }
  console.log("\nevery run: exact count, no duplicates");
}

await main();
process.exit(0);

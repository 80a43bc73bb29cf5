/**
 * The scenarios of test/bench/bridge.bench.ts, kept beside the bridge so they resolve its
 * dependencies (JetStream, amqplib). Each starts its own servers and returns messages per
 * second, after checking every message arrived exactly once.
 */
import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { startNatsServer, startProcess, uniqueName } from "@entente/testkit";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { connect as amqpConnect } from "amqplib";
import { startBridge, waitForStatus } from "./helpers.ts";

const run = promisify(execFile);
const INDEX_BYTES = 12;

export interface Result {
  label: string;
  messages: number;
  seconds: number;
  perSecond: number;
  note?: string;
}

function body(i: number, size: number): Uint8Array {
  const b = new Uint8Array(size).fill(97);
  new TextEncoder().encodeInto(String(i).padStart(INDEX_BYTES, "0"), b);
  return b;
}

const indexOf = (data: Uint8Array) =>
  Number(new TextDecoder().decode(data.subarray(0, INDEX_BYTES)));

/** Fills a stream through core publishes, in windows, until it holds `count` messages. */
async function preload(
  nc: NatsConnection,
  stream: string,
  subject: string,
  count: number,
  size: number,
) {
  for (let i = 0; i < count; i++) {
    const h = headers();
    h.set("x-index", String(i));
    nc.publish(subject, body(i, size), { headers: h });
    if (i % 2000 === 1999) await nc.flush();
  }
  await nc.flush();
  const jsm = await jetstreamManager(nc);
  await until(
    `${count} messages preloaded into ${stream}`,
    async () => (await jsm.streams.info(stream)).state.messages >= count,
  );
}

async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 600_000,
  everyMs = 20,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

/** Reads a whole stream and checks it holds each index below `count` exactly once. */
async function verifyStream(nc: NatsConnection, stream: string, count: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await new Promise((r) => setTimeout(r, 300)); // anything extra would have landed by now
  const held = (await jsm.streams.info(stream)).state.messages;
  if (held !== count) throw new Error(`${stream} holds ${held} messages, expected ${count}`);
  const consumer = await jetstream(nc).consumers.get(stream);
  const seen = new Uint8Array(count);
  const messages = await consumer.consume({ max_messages: 2000 });
  let read = 0;
  for await (const m of messages) {
    const i = indexOf(m.data);
    if (!(i >= 0 && i < count) || seen[i])
      throw new Error(`${stream}: message ${i} twice or unknown`);
    seen[i] = 1;
    if (++read === count) break;
  }
}

async function streamCount(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream).catch(() => undefined))?.state.messages ?? 0;
}

/** NATS → NATS through a bridge link: JetStream buffer upstream, JetStream stream downstream. */
export async function bridgeNatsToNats(count: number, size: number): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-a"] });
  await using b = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-b"] });
  const na = await connect({ servers: a.url, noAsyncTraces: true });
  const nb = await connect({ servers: b.url, noAsyncTraces: true });
  // The link's own buffer stream, made here so it can be filled before the link starts.
  await (await jetstreamManager(na)).streams.add({
    name: "ENTENTE_BRIDGE_BENCH",
    subjects: ["bench.>"],
    storage: StorageType.File,
  });
  await preload(na, "ENTENTE_BRIDGE_BENCH", "bench.x", count, size);
  const started = performance.now();
  const bridge = await startBridge(b.url, {
    links: {
      bench: {
        upstream: { kind: "nats", url: a.url, subjects: ["bench.>"] },
        downstream: { kind: "jetstream", url: b.url, stream: "DOWN" },
        prefetch: 2000,
      },
    },
  });
  await until("link done", async () => (await streamCount(nb, "DOWN")) >= count);
  const seconds = (performance.now() - started) / 1000;
  await bridge.stop();
  await verifyStream(nb, "DOWN", count);
  await na.close();
  await nb.close();
  return {
    label: "bridge link NATS→NATS (JetStream → JetStream)",
    messages: count,
    seconds,
    perSecond: count / seconds,
  };
}

/**
 * The minimal hand-written loop with the documented nats.js API: a durable pull consumer on A,
 * `js.publish` with a message id to B, awaiting each PubAck, then the ack.
 */
export async function handWrittenLoop(
  count: number,
  size: number,
  noAsyncTraces: boolean,
): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true });
  await using b = await startNatsServer({ jetstream: true });
  const na = await connect({ servers: a.url, noAsyncTraces });
  const nb = await connect({ servers: b.url, noAsyncTraces });
  const jsmA = await jetstreamManager(na);
  const jsmB = await jetstreamManager(nb);
  await jsmA.streams.add({ name: "SRC", subjects: ["bench.>"], storage: StorageType.File });
  await jsmB.streams.add({ name: "DOWN", subjects: ["bench.>"], storage: StorageType.File });
  await preload(na, "SRC", "bench.x", count, size);
  await jsmA.consumers.add("SRC", {
    durable_name: "loop",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
  });
  const jsB = jetstream(nb);
  const started = performance.now();
  const messages = await jetstream(na)
    .consumers.get("SRC", "loop")
    .then((c) => c.consume());
  let done = 0;
  for await (const m of messages) {
    await jsB.publish(m.subject, m.data, { msgID: `SRC:${m.seq}`, headers: m.headers });
    m.ack();
    if (++done === count) break;
  }
  const seconds = (performance.now() - started) / 1000;
  await verifyStream(nb, "DOWN", count);
  await na.close();
  await nb.close();
  return {
    label: `hand-written loop${noAsyncTraces ? " (noAsyncTraces)" : ""}`,
    messages: count,
    seconds,
    perSecond: count / seconds,
  };
}

/** The server's own stream sourcing, on one server. */
export async function streamSourcing(count: number, size: number): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true });
  const na = await connect({ servers: a.url, noAsyncTraces: true });
  const jsm = await jetstreamManager(na);
  await jsm.streams.add({ name: "SRC", subjects: ["bench.>"], storage: StorageType.File });
  await preload(na, "SRC", "bench.x", count, size);
  const started = performance.now();
  await jsm.streams.add({ name: "DOWN", sources: [{ name: "SRC" }], storage: StorageType.File });
  await until("sourcing done", async () => (await streamCount(na, "DOWN")) >= count);
  const seconds = (performance.now() - started) / 1000;
  await verifyStream(na, "DOWN", count);
  await na.close();
  return {
    label: "NATS stream sourcing (one server)",
    messages: count,
    seconds,
    perSecond: count / seconds,
  };
}

/** Publishes `count` messages to an exchange with confirms, a window at a time. */
async function publishAmqp(
  url: string,
  exchange: string,
  count: number,
  size: number,
): Promise<void> {
  const conn = await amqpConnect(url);
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < count; i++) {
    const ok = ch.publish(exchange, "bench.x", Buffer.from(body(i, size)), {
      messageId: `m-${i}`,
      headers: { "x-index": i },
    });
    if (!ok) await new Promise((r) => ch.once("drain", r));
    if (i % 5000 === 4999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  await conn.close();
}

/** RabbitMQ → NATS through a bridge link: published while the link runs, until all arrived. */
export async function bridgeRabbitToNats(
  rabbitUrl: string,
  count: number,
  size: number,
  mode: "live" | "drain" = "live",
): Promise<Result> {
  await using b = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-b"] });
  const nb = await connect({ servers: b.url, noAsyncTraces: true });
  const exchange = uniqueName("bench-x");
  const conn = await amqpConnect(rabbitUrl);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, "topic", { durable: false });
  let started = 0;
  if (mode === "drain") {
    // The link's own buffer queue, filled before the link starts (timed from the worker's start).
    await ch.assertQueue("entente_bridge_bench-rabbit", { durable: true, arguments: {} });
    await ch.bindQueue("entente_bridge_bench-rabbit", exchange, "#");
    await publishAmqp(rabbitUrl, exchange, count, size);
    started = performance.now();
  }
  // The bridge runs as its own process, as deployed, so the publisher here does not share its thread.
  const configFile = join(tmpdir(), `${uniqueName("bench-bridge")}.json`);
  await writeFile(
    configFile,
    JSON.stringify({
      nats: { servers: [b.url] },
      bridge: {
        links: {
          "bench-rabbit": {
            upstream: { kind: "rabbitmq", url: rabbitUrl, id: "rabbit", exchange, bindings: ["#"] },
            downstream: { kind: "jetstream", url: b.url, stream: "DOWN", subjectPrefix: "rabbit" },
            prefetch: 2000,
          },
        },
      },
    }),
  );
  const bridge = await startProcess({
    name: "bridge worker",
    command: process.execPath,
    args: [
      "--conditions=@entente/source",
      resolve(import.meta.dirname, "worker-process.ts"),
      configFile,
    ],
    env: { ...process.env, ENTENTE_LOG_LEVEL: "info" },
    readyLine: /broker bridge started/,
    timeoutMs: 30_000,
  });
  if (mode === "live") {
    // Published messages are buffered only once the link has bound its queue.
    await waitForStatus(nb, "bench-rabbit", (st) => st.status === "connected");
    started = performance.now();
    await publishAmqp(rabbitUrl, exchange, count, size);
  }
  await until("link done", async () => (await streamCount(nb, "DOWN")) >= count);
  const seconds = (performance.now() - started) / 1000;
  await bridge.stop("SIGTERM");
  await rm(configFile, { force: true });
  await verifyStream(nb, "DOWN", count);
  const cleanup = await conn.createChannel();
  await cleanup.deleteQueue("entente_bridge_bench-rabbit").catch(() => {});
  await cleanup.deleteExchange(exchange).catch(() => {});
  await conn.close().catch(() => {});
  await nb.close();
  return {
    label:
      mode === "live"
        ? "bridge link RabbitMQ→NATS (JetStream)"
        : "  the same link, draining a buffer filled beforehand",
    messages: count,
    seconds,
    perSecond: count / seconds,
  };
}

/**
 * RabbitMQ's federation plugin between two vhosts of the local broker (ack-mode on-confirm),
 * measured like the RabbitMQ→NATS link: published while the link runs, until all arrived.
 * Returns a reason instead when it cannot be set up here.
 */
export async function rabbitFederation(
  rabbitUrl: string,
  count: number,
  size: number,
): Promise<Result | string> {
  const url = new URL(rabbitUrl);
  if (!["127.0.0.1", "localhost"].includes(url.hostname))
    return `broker ${url.host} is not local: rabbitmqctl cannot reach it`;
  const ctl = (args: string[]) => run("rabbitmqctl", args, { timeout: 60_000 });
  const up = uniqueName("fed-up");
  const down = uniqueName("fed-down");
  try {
    await run("rabbitmq-plugins", ["enable", "rabbitmq_federation"], { timeout: 120_000 });
    for (const vhost of [up, down]) {
      await ctl(["add_vhost", vhost]);
      await ctl([
        "set_permissions",
        "-p",
        vhost,
        decodeURIComponent(url.username) || "guest",
        ".*",
        ".*",
        ".*",
      ]);
    }
  } catch (error) {
    return `rabbitmq_federation could not be set up: ${(error as Error).message.split("\n")[0]}`;
  }
  const vhostUrl = (vhost: string) => {
    const u = new URL(rabbitUrl);
    u.pathname = `/${encodeURIComponent(vhost)}`;
    return u.toString();
  };
  try {
    const downConn = await amqpConnect(vhostUrl(down));
    const dch = await downConn.createChannel();
    await dch.assertExchange("bench", "topic", { durable: true });
    await dch.assertQueue("arrived", { durable: true });
    await dch.bindQueue("arrived", "bench", "#");
    const upConn = await amqpConnect(vhostUrl(up));
    const uch = await upConn.createChannel();
    await uch.assertExchange("bench", "topic", { durable: true });
    await ctl([
      "set_parameter",
      "-p",
      down,
      "federation-upstream",
      "up",
      JSON.stringify({ uri: vhostUrl(up), "ack-mode": "on-confirm", "prefetch-count": 1000 }),
    ]);
    await ctl([
      "set_policy",
      "-p",
      down,
      "--apply-to",
      "exchanges",
      "fed",
      "^bench$",
      JSON.stringify({ "federation-upstream-set": "all" }),
    ]);
    // The link is up once its queue exists upstream.
    await until(
      "federation link up",
      async () => {
        const { stdout } = await ctl(["list_queues", "-p", up, "name", "-q"]);
        return stdout.includes("federation:");
      },
      60_000,
      200,
    );
    const started = performance.now();
    await publishAmqp(vhostUrl(up), "bench", count, size);
    await until(
      "federation done",
      async () => (await dch.checkQueue("arrived")).messageCount >= count,
      900_000,
      200,
    );
    const seconds = (performance.now() - started) / 1000;
    // Exact count, no duplicates: read them all back.
    await new Promise((r) => setTimeout(r, 300));
    const held = (await dch.checkQueue("arrived")).messageCount;
    if (held !== count) throw new Error(`federation delivered ${held}, expected ${count}`);
    await dch.prefetch(2000);
    const seen = new Uint8Array(count);
    let read = 0;
    await new Promise<void>((resolve, reject) => {
      void dch.consume("arrived", (m) => {
        if (m === null) return;
        const i = indexOf(m.content);
        if (seen[i]) reject(new Error(`federation delivered ${i} twice`));
        seen[i] = 1;
        dch.ack(m);
        if (++read === count) resolve();
      });
    });
    await upConn.close();
    await downConn.close();
    return {
      label: "RabbitMQ federation plugin (on-confirm)",
      messages: count,
      seconds,
      perSecond: count / seconds,
    };
  } finally {
    for (const vhost of [up, down]) await ctl(["delete_vhost", vhost]).catch(() => {});
  }
}

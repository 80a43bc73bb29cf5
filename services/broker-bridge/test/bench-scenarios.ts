/**
 * The scenarios of test/bench/bridge.bench.ts, kept beside the bridge so they resolve its
 * dependencies (JetStream, amqplib). Each starts its own servers and returns messages per
 * second, after checking every message arrived exactly once.
 */
import { execFile } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { startNatsServer, startProcess, uniqueName } from "@entente/testkit";
import type { JsMsg } from "@nats-io/jetstream";
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { connect as amqpConnect, type Channel } from "amqplib";
import { startBridge, waitForStatus } from "./helpers.ts";

const run = promisify(execFile);
const INDEX_BYTES = 12;

export interface Result {
  label: string;
  messages: number;
  seconds: number;
  perSecond: number;
  /** CPU time (user + system) of the process that carried the messages, per message. */
  cpuMicrosPerMessage?: number;
  note?: string;
}

interface Measured {
  seconds: number;
  perSecond: number;
  cpuMicrosPerMessage?: number;
}

/** Wall time and CPU time of a run; CPU of this process, or of `pid` when given. */
function startMeter(pid?: number) {
  const started = performance.now();
  const cpuStarted = pid === undefined ? Promise.resolve(ownCpuMicros()) : childCpuMicros(pid);
  return {
    async stop(count: number): Promise<Measured> {
      const seconds = (performance.now() - started) / 1000;
      const cpu =
        (pid === undefined ? ownCpuMicros() : await childCpuMicros(pid)) - (await cpuStarted);
      return { seconds, perSecond: count / seconds, cpuMicrosPerMessage: cpu / count };
    },
  };
}

function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** utime + stime of another process, from /proc/<pid>/stat, in µs. */
async function childCpuMicros(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which sits in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLOCK_TICKS_PER_SECOND = 100;

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
  // The link runs in this process (a hosted service, as in the tests): its CPU is this process's.
  const meter = startMeter();
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
  const measured = await meter.stop(count);
  await bridge.stop();
  await verifyStream(nb, "DOWN", count);
  await na.close();
  await nb.close();
  return { label: "bridge link NATS→NATS (JetStream → JetStream)", messages: count, ...measured };
}

/** How a pipelined loop publishes to B and learns of each PubAck. */
export type LoopKind = "documented" | "documented-no-async-traces" | "hand-matched";

const LOOP_LABELS: Record<LoopKind, string> = {
  documented: "loop: documented API, default options",
  "documented-no-async-traces": "loop: documented API, noAsyncTraces",
  "hand-matched": "loop: core publish, PubAcks matched by hand",
};

/** What the pipelined loops keep in flight: up to this many unacked upstream messages. */
const LOOP_MAX_ACK_PENDING = 10_000;
const LOOP_PULL_BATCH = 5000;

/** Counts upstream messages acked once each, to know when a loop has carried them all. */
class AckTally {
  private readonly acked: Uint8Array;
  done = 0;
  errors = 0;
  private finish!: () => void;
  readonly finished = new Promise<void>((r) => {
    this.finish = r;
  });
  private readonly count: number;
  constructor(count: number) {
    this.count = count;
    this.acked = new Uint8Array(count + 1);
  }
  ack(m: JsMsg): void {
    m.ack();
    // A redelivered message may be acked again; it counts once.
    if (this.acked[m.seq]) return;
    this.acked[m.seq] = 1;
    if (++this.done === this.count) this.finish();
  }
  /** The downstream refused it: left unacked upstream so it is redelivered. */
  refuse(m: JsMsg): void {
    this.errors++;
    m.nak();
  }
}

/**
 * A loop as a person writes it, pipelined: a durable pull consumer on A (`max_ack_pending`
 * 10,000, `consume({ max_messages: 5000 })`), each message published to B with a message id
 * from A's stream and sequence, not awaited, and acked upstream when its PubAck arrives.
 */
export async function pipelinedLoop(count: number, size: number, kind: LoopKind): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true });
  await using b = await startNatsServer({ jetstream: true });
  const noAsyncTraces = kind !== "documented";
  const na = await connect({ servers: a.url, noAsyncTraces });
  const nb = await connect({ servers: b.url, noAsyncTraces });
  await (await jetstreamManager(na)).streams.add({
    name: "SRC",
    subjects: ["bench.>"],
    storage: StorageType.File,
  });
  await (await jetstreamManager(nb)).streams.add({
    name: "DOWN",
    subjects: ["bench.>"],
    storage: StorageType.File,
  });
  await preload(na, "SRC", "bench.x", count, size);
  await (await jetstreamManager(na)).consumers.add("SRC", {
    durable_name: "loop",
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: LOOP_MAX_ACK_PENDING,
  });
  const tally = new AckTally(count);
  const meter = startMeter();
  const messages = await jetstream(na)
    .consumers.get("SRC", "loop")
    .then((c) => c.consume({ max_messages: LOOP_PULL_BATCH }));
  const forward =
    kind === "hand-matched" ? handMatchedForwarder(nb, tally) : documentedForwarder(nb, tally);
  void (async () => {
    for await (const m of messages) forward(m);
  })();
  await tally.finished;
  const measured = await meter.stop(count);
  await messages.close();
  await verifyStream(nb, "DOWN", count);
  await na.close();
  await nb.close();
  const note = tally.errors > 0 ? `${tally.errors} PubAck errors, redelivered` : undefined;
  return { label: LOOP_LABELS[kind], messages: count, ...measured, note };
}

/** `js.publish` with `msgID`, one promise per message, acked upstream when it resolves. */
function documentedForwarder(nb: NatsConnection, tally: AckTally): (m: JsMsg) => void {
  const js = jetstream(nb);
  return (m) => {
    js.publish(m.subject, m.data, { msgID: `SRC:${m.seq}`, headers: m.headers }).then(
      () => tally.ack(m),
      () => tally.refuse(m),
    );
  };
}

/**
 * Core `publish` to B's stream subject with `Nats-Msg-Id` and a reply subject naming a slot;
 * one wildcard subscription reads every PubAck and acks the slot's upstream message.
 */
function handMatchedForwarder(nb: NatsConnection, tally: AckTally): (m: JsMsg) => void {
  const prefix = `_LOOP_ACK.${uniqueName("loop")}`;
  const inFlight = new Map<number, JsMsg>();
  let nextSlot = 0;
  nb.subscribe(`${prefix}.*`, {
    callback: (_error, reply) => {
      const slot = Number(reply.subject.slice(prefix.length + 1));
      const m = inFlight.get(slot);
      if (!m) return;
      inFlight.delete(slot);
      // {"stream":…,"seq":…[,"duplicate":true]} acks, a duplicate too: B holds it already.
      // {"error":{…}} or an empty status reply (no responders) must not ack.
      const pubAck =
        reply.data.length > 0 ? reply.json<{ stream?: string; error?: unknown }>() : {};
      if (pubAck.stream && !pubAck.error) tally.ack(m);
      else tally.refuse(m);
    },
  });
  return (m) => {
    const slot = nextSlot++;
    inFlight.set(slot, m);
    const h = headers();
    h.set("Nats-Msg-Id", `SRC:${m.seq}`);
    nb.publish(m.subject, m.data, { headers: h, reply: `${prefix}.${slot}` });
  };
}

/** Links of the scale-out scenario, each over its own upstream stream. */
const FAN_LINKS = 8;

/** Busy and total CPU time of the whole machine, from /proc/stat, in clock ticks. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] as string;
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0); // idle, iowait
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * NATS → NATS over {@link FAN_LINKS} links, each from its own upstream buffer stream to its own
 * downstream stream, carried by `workers` worker processes that all read the same configuration
 * and share its links among themselves. The messages wait in staging streams on A until every
 * link is connected and the workers hold their shares; then each buffer starts sourcing its
 * staging stream (the server copies them, far faster than a link carries them), so neither a
 * publisher nor the hand-over of links at start-up is timed.
 */
export async function bridgeFanOut(count: number, size: number, workers: number): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-a"] });
  await using b = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-b"] });
  const na = await connect({ servers: a.url, noAsyncTraces: true });
  const nb = await connect({ servers: b.url, noAsyncTraces: true });
  const perLink = Math.floor(count / FAN_LINKS);
  const links = Array.from({ length: FAN_LINKS }, (_, i) => `fan${i}`);
  const bufferOf = (link: string) => `ENTENTE_BRIDGE_${link.toUpperCase()}`;
  const jsmA = await jetstreamManager(na);
  for (const [i, link] of links.entries()) {
    // Filled under the link's subjects, then moved off them so the buffer stream may take them.
    const staging = await jsmA.streams.add({
      name: `STAGE${i}`,
      subjects: [`${link}.>`],
      storage: StorageType.File,
    });
    await preload(na, `STAGE${i}`, `${link}.x`, perLink, size);
    await jsmA.streams.update(`STAGE${i}`, { ...staging.config, subjects: [`staged.${i}`] });
    await jsmA.streams.add({
      name: bufferOf(link),
      subjects: [`${link}.>`],
      storage: StorageType.File,
    });
  }
  const config = Object.fromEntries(
    links.map((link, i) => [
      link,
      {
        upstream: { kind: "nats", url: a.url, subjects: [`${link}.>`] },
        downstream: { kind: "jetstream", url: b.url, stream: `DOWN${i}` },
        prefetch: 2000,
      },
    ]),
  );
  const processes = await Promise.all(
    Array.from({ length: workers }, () => startBridgeProcess(b.url, config)),
  );
  await linksShared(nb, links, workers);
  const carried = async () => {
    for (const worker of processes) worker.check();
    let total = 0;
    for (let i = 0; i < FAN_LINKS; i++) total += await streamCount(nb, `DOWN${i}`);
    return total;
  };
  const pids = [...processes.map((w) => w.pid), a.pid, b.pid];
  const cpuOf = async () => {
    const each = [];
    for (const pid of pids) each.push(pid === undefined ? 0 : await childCpuMicros(pid));
    return each;
  };
  const total = perLink * FAN_LINKS;
  const machineAtStart = await machineTicks();
  const cpuAtStart = await cpuOf();
  const started = performance.now();
  for (const [i, link] of links.entries()) {
    const info = await jsmA.streams.info(bufferOf(link));
    await jsmA.streams.update(bufferOf(link), { ...info.config, sources: [{ name: `STAGE${i}` }] });
  }
  await until("links done", async () => (await carried()) >= total, 900_000, 50);
  const seconds = (performance.now() - started) / 1000;
  const cpu = (await cpuOf()).map((c, i) => c - (cpuAtStart[i] ?? 0));
  const machine = await machineTicks();
  const busy = (machine.busy - machineAtStart.busy) / (machine.total - machineAtStart.total);
  for (const worker of processes) await worker.stop();
  for (let i = 0; i < FAN_LINKS; i++) await verifyStream(nb, `DOWN${i}`, perLink);
  await na.close();
  await nb.close();
  const workersCpu = cpu.slice(0, workers).reduce((x, y) => x + y, 0);
  const [serverA = 0, serverB = 0] = cpu.slice(workers);
  const perMessage = (micros: number) => (micros / total).toFixed(1);
  return {
    label: `${FAN_LINKS} links NATS→NATS, ${workers} worker${workers > 1 ? "s" : ""}`,
    messages: total,
    seconds,
    perSecond: total / seconds,
    cpuMicrosPerMessage: workersCpu / total,
    note: `servers A/B ${perMessage(serverA)}/${perMessage(serverB)} µs CPU/msg; both cores ${Math.round(busy * 100)}% busy`,
  };
}

/** Waits until every link is connected and each of `workers` workers runs its even share. */
async function linksShared(nc: NatsConnection, links: string[], workers: number): Promise<void> {
  const owners = new Map<string, string>();
  const sub = nc.subscribe("entente.bridge.status.*", {
    callback: (_error, msg) => {
      const status = JSON.parse(new TextDecoder().decode(msg.data)) as {
        link: string;
        owner: string;
        status: string;
      };
      if (status.status === "connected") owners.set(status.link, status.owner);
      else owners.delete(status.link);
    },
  });
  try {
    await until(
      `${links.length} links shared by ${workers} workers`,
      async () => {
        if (owners.size < links.length) return false;
        const perOwner = new Map<string, number>();
        for (const owner of owners.values()) perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
        const share = Math.ceil(links.length / workers);
        return perOwner.size === workers && [...perOwner.values()].every((n) => n <= share);
      },
      60_000,
      100,
    );
  } finally {
    sub.unsubscribe();
  }
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

/**
 * A bridge worker in its own process, as deployed, so the publisher here does not share its
 * thread and its CPU time can be read from /proc.
 */
async function startBridgeProcess(
  natsUrl: string,
  links: Record<string, unknown>,
  settings: Record<string, unknown> = {},
) {
  const configFile = join(tmpdir(), `${uniqueName("bench-bridge")}.json`);
  await writeFile(
    configFile,
    JSON.stringify({ nats: { servers: [natsUrl] }, bridge: { ...settings, links } }),
  );
  const worker = await startProcess({
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
  return {
    pid: worker.pid,
    /** Throws, with the end of its output, when the worker has exited before being stopped. */
    check() {
      if (!worker.running) {
        throw new Error(`a bridge worker exited during the run:\n${worker.logs.tail(30)}`);
      }
    },
    async stop() {
      await worker.stop("SIGTERM");
      await rm(configFile, { force: true });
    },
  };
}

/** Reads a whole queue and checks it holds each index below `count` exactly once. */
async function verifyQueue(ch: Channel, queue: string, what: string, count: number) {
  await new Promise((r) => setTimeout(r, 300)); // anything extra would have landed by now
  const held = (await ch.checkQueue(queue)).messageCount;
  if (held !== count) throw new Error(`${what} delivered ${held}, expected ${count}`);
  await ch.prefetch(2000);
  const seen = new Uint8Array(count);
  let read = 0;
  await new Promise<void>((resolve, reject) => {
    void ch.consume(queue, (m) => {
      if (m === null) return;
      const i = indexOf(m.content);
      if (!(i >= 0 && i < count) || seen[i])
        reject(new Error(`${what} delivered ${i} twice or unknown`));
      seen[i] = 1;
      ch.ack(m);
      if (++read === count) resolve();
    });
  });
}

/**
 * NATS → RabbitMQ through a bridge link, the other direction of the federation baseline:
 * published into the link's JetStream buffer while the link runs, until all arrived in a queue
 * bound to the downstream exchange.
 */
export async function bridgeNatsToRabbit(
  rabbitUrl: string,
  count: number,
  size: number,
): Promise<Result> {
  await using a = await startNatsServer({ jetstream: true, args: ["--server_name", "bench-a"] });
  const na = await connect({ servers: a.url, noAsyncTraces: true });
  const exchange = uniqueName("bench-out");
  const queue = uniqueName("bench-out-q");
  const conn = await amqpConnect(rabbitUrl);
  const ch = await conn.createChannel();
  await ch.assertExchange(exchange, "topic", { durable: true });
  await ch.assertQueue(queue, { durable: true });
  await ch.bindQueue(queue, exchange, "#");
  // The link's own buffer stream, made here so publishing can start as soon as the link runs.
  await (await jetstreamManager(na)).streams.add({
    name: "ENTENTE_BRIDGE_BENCHOUT",
    subjects: ["out.>"],
    storage: StorageType.File,
  });
  const bridge = await startBridgeProcess(a.url, {
    benchout: {
      upstream: { kind: "nats", url: a.url, subjects: ["out.>"] },
      downstream: { kind: "rabbitmq", url: rabbitUrl, id: "rabbit", exchange },
      prefetch: 2000,
    },
  });
  await waitForStatus(na, "benchout", (st) => st.status === "connected");
  const started = performance.now();
  const cpuAtStart = await childCpuMicros(bridge.pid);
  await preload(na, "ENTENTE_BRIDGE_BENCHOUT", "out.x", count, size);
  await until(
    "link done",
    async () => (await ch.checkQueue(queue)).messageCount >= count,
    900_000,
    100,
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuMicrosPerMessage = ((await childCpuMicros(bridge.pid)) - cpuAtStart) / count;
  await bridge.stop();
  try {
    await verifyQueue(ch, queue, "NATS→RabbitMQ link", count);
  } finally {
    await ch.deleteQueue(queue).catch(() => {});
    await ch.deleteExchange(exchange).catch(() => {});
    await conn.close().catch(() => {});
    await na.close();
  }
  return {
    label: "bridge link NATS→RabbitMQ (JetStream → exchange)",
    messages: count,
    seconds,
    perSecond: count / seconds,
    cpuMicrosPerMessage,
  };
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
  const bridge = await startBridgeProcess(b.url, {
    "bench-rabbit": {
      upstream: { kind: "rabbitmq", url: rabbitUrl, id: "rabbit", exchange, bindings: ["#"] },
      downstream: { kind: "jetstream", url: b.url, stream: "DOWN", subjectPrefix: "rabbit" },
      prefetch: 2000,
    },
  });
  // The worker's CPU: from its start when draining (timed from its start), else from the publish.
  let cpuAtStart = 0;
  if (mode === "live") {
    // Published messages are buffered only once the link has bound its queue.
    await waitForStatus(nb, "bench-rabbit", (st) => st.status === "connected");
    started = performance.now();
    cpuAtStart = await childCpuMicros(bridge.pid);
    await publishAmqp(rabbitUrl, exchange, count, size);
  }
  await until("link done", async () => (await streamCount(nb, "DOWN")) >= count);
  const seconds = (performance.now() - started) / 1000;
  const cpuMicrosPerMessage = ((await childCpuMicros(bridge.pid)) - cpuAtStart) / count;
  await bridge.stop();
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
    cpuMicrosPerMessage,
  };
}

/** `rabbitmqctl`/`rabbitmq-plugins` on the local broker, failing with its own words. */
async function rabbitCli(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { timeout: 120_000 })).stdout;
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/**
 * Enables rabbitmq_federation and waits until the broker runs it: enabling a plugin on a
 * running node restarts parts of it, and connections opened meanwhile are closed.
 */
async function enableFederationPlugin(): Promise<void> {
  await rabbitCli("rabbitmq-plugins", ["enable", "rabbitmq_federation"]);
  await until(
    "rabbitmq_federation running",
    async () => {
      const listed = await rabbitCli("rabbitmq-plugins", ["list", "-E", "rabbitmq_federation"]);
      return /\[E\*\]\s+rabbitmq_federation\b/.test(listed);
    },
    60_000,
    500,
  );
}

/**
 * Opens an AMQP connection, retrying while the broker refuses it: a vhost just added, or its
 * permissions, may not be ready yet (`Expected ConnectionOpenOk; got <ConnectionClose …>`).
 */
async function connectWhenReady(url: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await amqpConnect(url);
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(
          `RabbitMQ refused ${new URL(url).pathname} for ${timeoutMs} ms: ${(error as Error).message}`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * RabbitMQ's federation plugin between two vhosts of the local broker (ack-mode on-confirm),
 * measured like the RabbitMQ→NATS link: published while the link runs, until all arrived.
 * Sets the plugin up itself and throws when it cannot: a baseline is never skipped.
 */
export async function rabbitFederation(
  rabbitUrl: string,
  count: number,
  size: number,
): Promise<Result> {
  const url = new URL(rabbitUrl);
  if (!["127.0.0.1", "localhost"].includes(url.hostname))
    throw new Error(
      `RabbitMQ federation baseline: broker ${url.host} is not local, rabbitmqctl cannot set it up`,
    );
  const ctl = (args: string[]) => rabbitCli("rabbitmqctl", args);
  const up = uniqueName("fed-up");
  const down = uniqueName("fed-down");
  await enableFederationPlugin();
  const user = decodeURIComponent(url.username) || "guest";
  const vhostUrl = (vhost: string) => {
    const u = new URL(rabbitUrl);
    u.pathname = `/${encodeURIComponent(vhost)}`;
    return u.toString();
  };
  try {
    for (const vhost of [up, down]) {
      await ctl(["add_vhost", vhost]);
      await ctl(["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]);
    }
    const downConn = await connectWhenReady(vhostUrl(down));
    const dch = await downConn.createChannel();
    await dch.assertExchange("bench", "topic", { durable: true });
    await dch.assertQueue("arrived", { durable: true });
    await dch.bindQueue("arrived", "bench", "#");
    const upConn = await connectWhenReady(vhostUrl(up));
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
        const queues = await ctl(["list_queues", "-p", up, "name", "-q"]);
        return queues.includes("federation:");
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
    await verifyQueue(dch, "arrived", "federation", count);
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

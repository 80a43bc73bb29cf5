import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
  uniqueName,
} from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectTo,
  duplicatesAndMissing,
  eventually,
  publishNumbered,
  readStream,
  waitForStatus,
} from "./helpers.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const SCRIPT = resolve(import.meta.dirname, "worker-process.ts");
const COUNT = 30_000;

function startWorkerProcess(configFile: string, name: string): Promise<ManagedProcess> {
  return startProcess({
    name,
    command: process.execPath,
    args: ["--conditions=@entente/source", SCRIPT, configFile],
    cwd: ROOT,
    env: { ...process.env, ENTENTE_LOG_LEVEL: "info" },
    readyLine: /broker bridge started/,
    timeoutMs: 30_000,
  });
}

describe("a bridge worker killed mid-stream", () => {
  let upstream: NatsServer;
  let downstream: NatsServer;
  let up: NatsConnection;
  let down: NatsConnection;
  let configFile: string;
  const workers: ManagedProcess[] = [];

  beforeAll(async () => {
    upstream = await startNatsServer({ jetstream: true, args: ["--server_name", "up"] });
    downstream = await startNatsServer({ jetstream: true, args: ["--server_name", "down"] });
    up = await connectTo(upstream.url);
    down = await connectTo(downstream.url);
    configFile = join(tmpdir(), `${uniqueName("bridge")}.yaml`);
    await writeFile(
      configFile,
      JSON.stringify({
        nats: { servers: [downstream.url] },
        bridge: {
          leaseTtlMs: 1500,
          statusIntervalMs: 300,
          confirmTimeoutMs: 1000,
          links: {
            orders: {
              upstream: { kind: "nats", url: upstream.url, subjects: ["orders.>"] },
              downstream: { kind: "jetstream", url: downstream.url, stream: "ORDERS" },
              prefetch: 500,
            },
          },
        },
      }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) if (w.running) await w.kill();
    if (configFile) await rm(configFile, { force: true });
    await up?.close();
    await down?.close();
    await upstream?.stop();
    await downstream?.stop();
  });

  const ownerPid = (owner: string) => Number(owner.split("-").at(-2));

  it("restarted, and taken over by a second worker: every message arrives, none twice", async () => {
    const first = await startWorkerProcess(configFile, "bridge 1");
    workers.push(first);
    await waitForStatus(down, "orders", (s) => s.status === "connected");
    const publishing = publishNumbered(up, (i) => `orders.${i % 10}`, COUNT);

    // kill -9 while messages flow, then start it again.
    await waitForStatus(down, "orders", (s) => s.counters.forwarded > 2000);
    await first.kill("SIGKILL");
    const again = await startWorkerProcess(configFile, "bridge 1 again");
    workers.push(again);
    const resumed = await waitForStatus(
      down,
      "orders",
      (s) => ownerPid(s.owner) === again.pid && s.counters.forwarded > 1000,
    );
    expect(resumed.status).not.toBe("stalled");

    // A second worker stands by; the owner dies; the second takes over within seconds.
    const second = await startWorkerProcess(configFile, "bridge 2");
    workers.push(second);
    await again.kill("SIGKILL");
    await waitForStatus(
      down,
      "orders",
      (s) => ownerPid(s.owner) === second.pid && s.status === "connected",
      15_000,
    );
    await publishing;

    const jsm = await jetstreamManager(down);
    await eventually(
      `${COUNT} messages in ORDERS`,
      async () => (await jsm.streams.info("ORDERS")).state.messages >= COUNT,
      90_000,
    );
    await waitForStatus(down, "orders", (s) => s.lag === 0, 30_000);
    const { indexes } = await readStream(down, "ORDERS");
    expect(duplicatesAndMissing(indexes, COUNT)).toEqual({ duplicates: 0, missing: 0 });
    expect(indexes.length).toBe(COUNT);
    await second.stop("SIGTERM");
  }, 240_000);
});

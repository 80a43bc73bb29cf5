import { SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import { type ManagedProcess, type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startWorkerProcess } from "./workers.ts";

interface Info {
  pid: number;
}
interface Item {
  index: number;
  data: Uint8Array;
}

/** A slow stream: 8 items of 1 KiB, 40 ms apart. */
const SLOW_STREAM = { bytes: 8 * 1024, itemBytes: 1024, delayMs: 40 };

describe("workers in one queue group", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let client: EntenteClient;
  const workers: ManagedProcess[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, noAsyncTraces: true });
    client = new EntenteClient(nc, { stallTimeoutMs: 2_000 });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill()));
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("share the load", async () => {
    workers.push(await startWorkerProcess({ natsUrl: server.url }));
    workers.push(await startWorkerProcess({ natsUrl: server.url }));
    const pids = new Set<number>();
    for (let i = 0; i < 200; i++) {
      pids.add((await client.request<Info>(SUBJECTS.diagnostics.info, {})).pid);
    }
    expect(pids).toEqual(new Set(workers.map((w) => w.pid)));
  });

  it("lose no request when one worker is killed mid-stream", async () => {
    workers.push(await startWorkerProcess({ natsUrl: server.url }));
    workers.push(await startWorkerProcess({ natsUrl: server.url }));
    const [victim] = workers;

    // Every request is a stream; a stream cut off by the crash is retried on the survivor.
    const requests = Array.from({ length: 40 }, () =>
      client.collect<Item>(SUBJECTS.diagnostics.stream, SLOW_STREAM, {
        timeoutMs: 30_000,
        retry: { attempts: 4, attemptTimeoutMs: 5_000, backoffMs: 100 },
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    await victim!.kill("SIGKILL");

    const results = await Promise.all(requests);
    for (const items of results) {
      expect(items.map((item) => item.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });

  it("drain on SIGTERM: in-flight requests finish and the worker exits 0", async () => {
    const worker = await startWorkerProcess({ natsUrl: server.url });
    workers.push(worker);
    const requests = Array.from({ length: 20 }, () =>
      client.collect<Item>(SUBJECTS.diagnostics.stream, SLOW_STREAM, { timeoutMs: 30_000 }),
    );
    // Let the requests reach the worker, then ask it to stop.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exit = worker.stop("SIGTERM", 20_000);

    const results = await Promise.all(requests);
    expect(results.every((items) => items.length === 8)).toBe(true);
    expect(await exit).toEqual({ code: 0, signal: null });
  });
});

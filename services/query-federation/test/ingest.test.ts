/**
 * Ingest survives its store worker: points are published while the worker is killed (another
 * worker's ingest endpoint takes them meanwhile); after a restart every point is stored exactly
 * once, in a DuckDB file (which resumes after its highest stored sequence) and in memory (which
 * replays the stream).
 */

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type IngestReply, joinAnswerItems } from "@entente/protocol";
import {
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, hostFederation } from "./support.ts";

const BATCHES = 120;
const PER_BATCH = 40;
const BASE = 1_700_000_000_000_000_000n;

function batch(index: number) {
  return Array.from({ length: PER_BATCH }, (_, i) => ({
    metric: "ingested",
    tags: { batch: String(index % 7), slot: String(i) },
    timestamp: BASE + BigInt(index * PER_BATCH + i) * 1_000_000n,
    value: index * PER_BATCH + i,
  }));
}

describe("ingest through JetStream", () => {
  let nats: NatsServer;
  let dir: string;
  let configFile: string;
  let worker: ManagedProcess | undefined;
  /** A second worker with the same instances in memory and its own query subject. */
  let gate: Awaited<ReturnType<typeof hostFederation>> | undefined;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];

  const startWorker = () =>
    startProcess({
      name: "query-federation worker",
      command: process.execPath,
      args: [
        "--conditions=@entente/source",
        resolve(import.meta.dirname, "worker-main.ts"),
        configFile,
      ],
      env: { ...process.env, ENTENTE_LOG_LEVEL: "info" },
      readyLine: /"msg":"service started"/,
      timeoutMs: 30_000,
    });

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "entente-ingest-"));
    configFile = join(dir, "entente.yaml");
    await writeFile(
      configFile,
      `nats: { servers: ["${nats.url}"] }
instances:
  disk: { kind: duckdb, path: ${join(dir, "disk.duckdb")} }
  mem: { kind: duckdb }
`,
    );
    worker = await startWorker();
    gate = await hostFederation(
      nats.url,
      `instances:
  disk: { kind: duckdb }
  mem: { kind: duckdb }
queryFederation: { subject: entente.r.gate.query }
`,
    );
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await gate?.stop();
    await worker?.stop("SIGTERM", 10_000);
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function stored(instance: string): Promise<{ count: number; distinct: number }> {
    const answer = joinAnswerItems(
      await client.collect(
        "entente.query",
        {
          metric: "ingested",
          start: String(BASE),
          end: String(BASE + 10n ** 15n),
          tags: { __instance__: instance },
        },
        { timeoutMs: 10_000 },
      ),
    );
    const keys = new Set(answer.points.map((p) => `${p.tags.batch}/${p.tags.slot}/${p.timestamp}`));
    return { count: answer.points.length, distinct: keys.size };
  }

  /** What the instance holds once it has `expected` points, or when 30 s have passed. */
  async function settled(instance: string, expected: number) {
    const until = Date.now() + 30_000;
    let seen = await stored(instance);
    while (seen.count < expected && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await stored(instance);
    }
    // A little longer: a duplicate would show up as more than expected.
    await new Promise((r) => setTimeout(r, 300));
    return stored(instance);
  }

  /**
   * A reply means the batch is in the stream. A publish that meets a worker as it dies is sent
   * again with the same message id, which the stream stores once.
   */
  async function publish(instance: string, index: number): Promise<void> {
    const reply = await client.request<IngestReply>(`entente.ingest.${instance}`, batch(index), {
      headers: { "Nats-Msg-Id": `${instance}-${index}` },
      retry: { attempts: 5, attemptTimeoutMs: 3_000 },
    });
    expect(reply).toMatchObject({ accepted: PER_BATCH, rejectedCount: 0 });
  }

  it("stores every point exactly once after the store worker is killed mid-publish", async () => {
    for (let i = 0; i < BATCHES; i++) {
      // Both instances get every batch.
      await publish("disk", i);
      await publish("mem", i);
      if (i === 40) await worker?.kill("SIGKILL");
      if (i === 80) worker = await startWorker();
    }
    const expected = BATCHES * PER_BATCH;
    for (const instance of ["disk", "mem"]) {
      expect(await settled(instance, expected), instance).toEqual({
        count: expected,
        distinct: expected,
      });
    }

    // Once more, killed while it catches up, then restarted: still exactly once.
    await worker?.kill("SIGKILL");
    for (let i = BATCHES; i < BATCHES + 20; i++) await publish("disk", i);
    worker = await startWorker();
    const more = (BATCHES + 20) * PER_BATCH;
    expect(await settled("disk", more)).toEqual({ count: more, distinct: more });
    // The in-memory store started from nothing and replayed the stream.
    expect(await settled("mem", expected)).toEqual({ count: expected, distinct: expected });
  }, 120_000);
});

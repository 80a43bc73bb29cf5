/**
 * Ingest survives its store worker: points are published while the worker is killed; after
 * a restart every point is stored exactly once, in a DuckDB file (which resumes after its
 * highest stored sequence) and in memory (which replays the stream).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { toJson } from "@entente/protocol";
import {
  type ManagedProcess,
  type NatsServer,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBatch, joinItems } from "../src/index.ts";
import { clientOf } from "./support.ts";

const BATCHES = 120;
const PER_BATCH = 40;
const BASE = 1_700_000_000_000_000_000n;

function batch(index: number): string {
  return toJson(
    Array.from({ length: PER_BATCH }, (_, i) => ({
      metric: "ingested",
      tags: { batch: String(index % 7), slot: String(i) },
      timestamp: String(BASE + BigInt(index * PER_BATCH + i) * 1_000_000n),
      value: index * PER_BATCH + i,
    })),
  );
}

describe("ingest through JetStream", () => {
  let nats: NatsServer;
  let dir: string;
  let configFile: string;
  let worker: ManagedProcess | undefined;
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
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop("SIGTERM", 10_000);
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function stored(instance: string): Promise<{ count: number; distinct: number }> {
    const answer = joinItems(
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

  it("stores every point exactly once after the store worker is killed mid-publish", async () => {
    const js = jetstream(nc);
    for (let i = 0; i < BATCHES; i++) {
      // Both instances get every batch; the publisher's ack means the batch is in the stream.
      await js.publish("entente.ingest.disk", batch(i), { msgID: `disk-${i}` });
      await js.publish("entente.ingest.mem", batch(i), { msgID: `mem-${i}` });
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
    for (let i = BATCHES; i < BATCHES + 20; i++) {
      await js.publish("entente.ingest.disk", batch(i), { msgID: `disk-${i}` });
    }
    worker = await startWorker();
    const more = (BATCHES + 20) * PER_BATCH;
    expect(await settled("disk", more)).toEqual({ count: more, distinct: more });
    // The in-memory store started from nothing and replayed the stream.
    expect(await settled("mem", expected)).toEqual({ count: expected, distinct: expected });
  }, 120_000);

  it("keeps going past a malformed batch", async () => {
    const js = jetstream(nc);
    await js.publish("entente.ingest.mem", "not json at all");
    await js.publish("entente.ingest.mem", toJson([{ metric: "ingested", value: 1 }]));
    await js.publish("entente.ingest.mem", batch(BATCHES + 100));
    const expected = (BATCHES + 1) * PER_BATCH;
    expect(await settled("mem", expected)).toEqual({ count: expected, distinct: expected });
  }, 60_000);

  it("names what is wrong with a batch, and with each malformed point without losing the rest", () => {
    const batch = toJson([
      { metric: "m", timestamp: "1", value: 1 },
      { metric: "m", value: 1 },
      { metric: "m", timestamp: "2026-11-20T12:00:00Z", value: "high" },
      { metric: "m", timestamp: "yesterday", value: 2 },
      { metric: "m", tags: { host: "a" }, timestamp: 3, value: 3 },
      { metric: "m", tags: { __instance__: "elsewhere" }, timestamp: 4, value: 4 },
      { metric: "m", tags: { "no spaces": "x" }, timestamp: 5, value: 5 },
    ]);
    const decoded = decodeBatch(new TextEncoder().encode(batch), undefined, 10);
    expect(decoded.points.map((p) => p.timestamp)).toEqual([1n, 3n]);
    expect(decoded.rejected.map((r) => r.index)).toEqual([1, 2, 3, 5, 6]);
    expect(decoded.rejected[0]?.problem).toMatch(/timestamp/);
    expect(decoded.rejected[1]?.problem).toMatch(/value/);
    expect(decoded.rejected[2]?.problem).toMatch(/"yesterday" is not nanoseconds or RFC 3339/);
    expect(decoded.rejected[3]?.problem).toMatch(/__instance__ names the instance/);
    expect(decoded.rejected[4]?.problem).toMatch(/malformed tag name/);
    expect(() => decodeBatch(new TextEncoder().encode("{"), "application/json", 10)).toThrow(
      /not valid JSON/,
    );
    expect(() => decodeBatch(new TextEncoder().encode('{"a":1}'), undefined, 10)).toThrow(/array/);
  });
});

/**
 * A point is its metric, tags and timestamp: sent again — by a publisher retrying, or replayed
 * from the stream — it replaces the stored one instead of being counted twice.
 */
import { createConnector } from "@entente/connectors";
import { joinAnswerItems } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckdbStore, type Point } from "../src/index.ts";
import { clientOf, startFederationWorker } from "./support.ts";

const BASE = 1_700_000_000_000_000_000n;

function point(
  slot: number,
  value: number,
  tags: Record<string, string> = { host: "a", dc: "x" },
): Point {
  return { metric: "m", tags, timestamp: BASE + BigInt(slot) * 1_000_000_000n, value };
}

async function rows(store: DuckdbStore): Promise<unknown[][]> {
  const result = await store.connector.query({
    sql: `SELECT "time", value FROM points ORDER BY "time"`,
    params: [],
  });
  const out: unknown[][] = [];
  for await (const batch of result.batches) out.push(...batch);
  return out;
}

describe("a DuckDB store", () => {
  it("replaces a point sent again, whatever the order of its tags", async () => {
    const store = new DuckdbStore("s", await createConnector("s", { kind: "duckdb" }));
    await store.ensureSchema();
    await store.applyBatch(1, [point(0, 1), point(1, 2)]);
    await store.applyBatch(2, [point(0, 10, { dc: "x", host: "a" })]);
    expect(await rows(store)).toEqual([
      [BASE, 10],
      [BASE + 1_000_000_000n, 2],
    ]);
    await store.close();
  });

  it("keeps the last of repeats within one batch", async () => {
    const store = new DuckdbStore("s", await createConnector("s", { kind: "duckdb" }));
    await store.ensureSchema();
    await store.applyBatch(1, [point(0, 1), point(0, 2), point(0, 3)]);
    expect(await rows(store)).toEqual([[BASE, 3]]);
    await store.close();
  });

  it("keeps the last written of repeats a file already held, then refuses none", async () => {
    const connector = await createConnector("old", { kind: "duckdb" });
    await connector.execute({
      sql: `CREATE TABLE points (metric VARCHAR NOT NULL, tags JSON, "time" BIGINT NOT NULL, value DOUBLE, ingest_seq BIGINT)`,
      params: [],
    });
    await connector.execute({
      sql: `INSERT INTO points VALUES ('m', '{"dc":"x","host":"a"}', ${BASE}, 1, 1), ('m', '{"dc":"x","host":"a"}', ${BASE}, 5, 2)`,
      params: [],
    });
    const store = new DuckdbStore("old", connector);
    await store.ensureSchema();
    expect(await rows(store)).toEqual([[BASE, 5]]);
    await store.applyBatch(3, [point(0, 7)]);
    expect(await rows(store)).toEqual([[BASE, 7]]);
    await store.close();
  });
});

describe("ingest published twice", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];

  beforeAll(async () => {
    nats = await startNatsServer();
    worker = await startFederationWorker(
      nats.url,
      "sources: { mem: { kind: duckdb } }\ninstances: { edge: { source: mem } }\n",
    );
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await nats?.stop();
  });

  it("is counted once", async () => {
    const batch = [0, 1, 2].map((slot) => ({
      metric: "m",
      tags: { host: "a" },
      timestamp: String(BASE + BigInt(slot) * 1_000_000_000n),
      value: slot + 1,
    }));
    // No Nats-Msg-Id: the stream holds both; the store must not.
    await client.request("entente.ingest.edge", batch);
    await client.request("entente.ingest.edge", batch);
    const query = {
      metric: "m",
      start: String(BASE),
      end: String(BASE + 60_000_000_000n),
      aggregation: { function: "sum" },
    };
    const deadline = Date.now() + 20_000;
    // Wait until both batches were applied (the store writes behind the stream).
    for (;;) {
      const stats = (await client.request("entente.query.stats", {})) as {
        ingest: Record<string, { applied: number; skipped: number }>;
      };
      const edge = stats.ingest.edge;
      if ((edge && edge.applied + edge.skipped >= 2) || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const sum = joinAnswerItems(await client.collect("entente.query", query)).points[0]?.value;
    expect(sum).toBe(6);
  });
});

/**
 * Replica groups: instances holding the same data are read once (failing over to a healthy
 * replica) or merged with duplicate samples removed — never double-counted.
 */
import { joinAnswerItems } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../src/index.ts";
import { generatePoints } from "./generate.ts";
import { clientOf, hostFederation, startFederationWorker } from "./support.ts";

describe("replica groups", () => {
  let nats: NatsServer;
  let merging: Worker;
  let failover: Awaited<ReturnType<typeof hostFederation>>;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  const shared = generatePoints({ seed: 3, series: 4, perSeries: 50, spanSeconds: 600 });
  const other = generatePoints({ seed: 4, series: 2, perSeries: 50, spanSeconds: 600 }).map(
    (p) => ({
      ...p,
      tags: { ...p.tags, host: `o${p.tags.host}` },
    }),
  );
  // One replica also holds a sample the other lacks (it was down for a moment elsewhere).
  const extra: Point = { ...(shared[0] as Point), timestamp: (shared[0] as Point).timestamp + 1n };
  const start = String((shared[0] as Point).timestamp - 10n ** 12n);
  const end = String((shared[0] as Point).timestamp + 10n ** 13n);

  beforeAll(async () => {
    nats = await startNatsServer();
    const deadPort = await freePort();
    merging = await startFederationWorker(
      nats.url,
      `instances:
  r1: { kind: duckdb }
  r2: { kind: duckdb }
  r3: { kind: duckdb }
queryFederation:
  replicaGroups:
    same: { instances: [r1, r2], read: merge }
`,
    );
    failover = await hostFederation(
      nats.url,
      `instances:
  gone: { kind: postgres, url: "postgres://postgres@127.0.0.1:${deadPort}/x", table: points }
  r2: { kind: duckdb }
  r3: { kind: duckdb }
queryFederation:
  subject: entente.r.failover.query
  # Its own ingest endpoint (it lacks r1); its stores follow the shared stream all the same.
  ingest: { subjectPrefix: entente.r.failover.ingest }
  replicaGroups:
    same: { instances: [gone, r2], read: one }
`,
    );
    ({ nc, client } = await clientOf(nats.url));
    await client.request("entente.ingest.r1", shared);
    await client.request("entente.ingest.r2", [...shared, extra]);
    await client.request("entente.ingest.r3", other);
    const total = shared.length + 1 + other.length;
    for (const subject of ["entente.query", "entente.r.failover.query"]) {
      const until = Date.now() + 20_000;
      for (;;) {
        const answer = joinAnswerItems(
          await client.collect(subject, {
            metric: "m",
            start,
            end,
            tags: { __instance__: ["r2", "r3"] },
          }),
        );
        if (answer.points.length === total) break;
        if (Date.now() > until) throw new Error(`${subject}: ${answer.points.length} of ${total}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // r1 has its batch too once the merging worker has it.
    const until = Date.now() + 20_000;
    while (
      joinAnswerItems(
        await client.collect("entente.query", {
          metric: "m",
          start,
          end,
          tags: { __instance__: "r1" },
        }),
      ).points.length < shared.length
    ) {
      if (Date.now() > until) throw new Error("r1 never got its points");
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await failover?.stop();
    await merging?.stop();
    await nats?.stop();
  });

  const expectedSum = [...shared, extra, ...other].reduce((s, p) => s + p.value, 0);
  const expectedCount = shared.length + 1 + other.length;

  it("merges replicas and counts each sample once", async () => {
    const count = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "m",
        start,
        end,
        aggregation: { function: "count", window: "1h" },
      }),
    );
    expect(count.points.reduce((s, p) => s + (p.value ?? 0), 0)).toBe(expectedCount);
    const sum = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "m",
        start,
        end,
        aggregation: { function: "sum", window: "1h" },
      }),
    );
    expect(sum.points.reduce((s, p) => s + (p.value ?? 0), 0)).toBeCloseTo(expectedSum, 6);
    const raw = joinAnswerItems(await client.collect("entente.query", { metric: "m", start, end }));
    expect(raw.points).toHaveLength(expectedCount);
  });

  it("reads one healthy replica, failing over from a dead one", async () => {
    const answer = joinAnswerItems(
      await client.collect("entente.r.failover.query", {
        metric: "m",
        start,
        end,
        aggregation: { function: "count", window: "1h" },
      }),
    );
    expect(answer.partial).toBeUndefined();
    expect(answer.points.reduce((s, p) => s + (p.value ?? 0), 0)).toBe(expectedCount);
  });
});

import { type AnswerItem, EntenteError, joinAnswerItems } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, startFederationWorker } from "./support.ts";

describe("the embedded default (no instances configured)", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];

  beforeAll(async () => {
    nats = await startNatsServer();
    worker = await startFederationWorker(nats.url);
    ({ nc, client } = await clientOf(nats.url, "json"));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await nats?.stop();
  });

  it("answers the README's first query with points from both demo instances", async () => {
    const answer = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "cpu_usage",
        aggregation: { function: "avg", window: "5m", by: "host" },
      }),
    );
    expect(answer.partial).toBeUndefined();
    const hosts = new Set(answer.points.map((p) => p.tags.host));
    expect([...hosts].sort()).toEqual(["a-1", "a-2", "b-1", "b-2"]);
    // An hour at five minutes: 12 or 13 windows per host depending on alignment.
    expect(answer.points.length).toBeGreaterThanOrEqual(48);
    for (const p of answer.points) expect(typeof p.timestamp).toBe("string");
  });

  it("tags raw points with their instance and selects instances by __instance__", async () => {
    const answer: AnswerItem = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "cpu_usage",
        start: "-30m",
        tags: { __instance__: "edge-b" },
      }),
    );
    expect(answer.points.length).toBeGreaterThan(0);
    expect(new Set(answer.points.map((p) => p.tags.__instance__))).toEqual(new Set(["edge-b"]));
  });

  it("keeps the public contract for a plain JSON request, as `nats req` sends it", async () => {
    const now = Date.now();
    const start = new Date(now - 30 * 60_000).toISOString().replace("Z", "123456+00:00");
    const body = JSON.stringify({
      metric: "cpu_usage",
      start,
      end: new Date(now).toISOString(),
      tags: {
        __instance__: ["edge-a", "edge-b"],
        region: { "!=": "eu-west" },
        host: { "=~": "a-.*" },
      },
      aggregation: { function: "count", window: "1m", by: "host" },
      partial: "deny",
    });
    const h = headers();
    h.set("content-type", "application/json");
    const reply = await nc.request("entente.query", body, { timeout: 10_000, headers: h });
    const text = reply.string();
    const answer = JSON.parse(text) as {
      points: Array<Record<string, unknown>>;
      partial?: unknown;
    };
    expect(Object.keys(answer)).toEqual(["points"]);
    expect(answer.points.length).toBeGreaterThanOrEqual(2 * 29);
    for (const p of answer.points) {
      expect(p.metric).toBe("cpu_usage");
      expect(["a-1", "a-2"]).toContain((p.tags as Record<string, string>).host);
      // Nanoseconds as a decimal string, windows aligned to the epoch.
      expect(p.timestamp).toMatch(/^\d+$/);
      expect(BigInt(p.timestamp as string) % 60_000_000_000n).toBe(0n);
      expect(typeof p.value).toBe("number");
    }
  });

  it("answers bad queries with errors that name the problem", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ metric: "cpu_usage", aggregation: { function: "median" } }, /unknown function "median"/],
      [{ metric: "cpu_usage", start: "-1h", end: "-2h" }, /end .* must be after start/],
      [{ metric: "cpu_usage", tags: { "bad tag": "x" } }, /malformed tag name "bad tag"/],
      [{ metric: "cpu_usage", tags: { host: 5 } }, /tags\.host/],
      [{ metric: "cpu_usage", tags: { host: { "=~": "(" } } }, /invalid regular expression/],
      [{ metric: "cpu_usage", limit: 1e12 }, /limit: .* out of range/],
      [{ metric: "cpu_usage", limit: -1 }, /limit: .* out of range/],
      [
        { metric: "cpu_usage", aggregation: { function: "sum", window: "1 fortnight" } },
        /not a duration/,
      ],
      [{ metric: "cpu_usage", start: "yesterday" }, /start: "yesterday" is not a timestamp/],
      [{ metric: "cpu_usage", tags: { __instance__: "nowhere" } }, /unknown instance "nowhere"/],
      [{ metric: "" }, /metric/],
    ];
    for (const [query, message] of cases) {
      const error = await client.request("entente.query", query).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error, JSON.stringify(query)).toBeInstanceOf(EntenteError);
      expect((error as EntenteError).message, JSON.stringify(query)).toMatch(message);
    }
  });

  it("streams a large answer as items of the same shape", async () => {
    // A day of one-minute samples from four hosts: more than one item's worth of points.
    const items = (await client.collect("entente.query", {
      metric: "cpu_usage",
      start: "-25h",
    })) as AnswerItem[];
    expect(items.length).toBeGreaterThan(1);
    for (const item of items) expect(Array.isArray(item.points)).toBe(true);
    const joined = joinAnswerItems(items);
    expect(joined.points.length).toBe(4 * 1440);
    expect(joined.partial).toBeUndefined();
  });

  it("reports per-instance figures in the NATS services API stats", async () => {
    const reply = await nc.request("$SRV.STATS.query-federation", "", { timeout: 5_000 });
    const stats = reply.json<{
      endpoints: Array<{
        subject: string;
        data: { instances?: Record<string, { circuit: string }> };
      }>;
    }>();
    const query = stats.endpoints.find((e) => e.subject === "entente.query");
    expect(query?.data.instances?.["edge-b"]?.circuit).toBe("closed");
  });

  it("reports per-instance figures on the stats subject", async () => {
    const stats = (await client.request("entente.query.stats", {})) as {
      instances: Record<string, { queries: number; circuit: string; p99LatencyMs: number }>;
    };
    expect(Object.keys(stats.instances).sort()).toEqual(["edge-a", "edge-b"]);
    expect(stats.instances["edge-a"]?.queries).toBeGreaterThan(0);
    expect(stats.instances["edge-a"]?.circuit).toBe("closed");
  });
});

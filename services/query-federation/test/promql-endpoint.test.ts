/**
 * `entente.promql` and its series, labels and values endpoints over the embedded demo instances,
 * and PromQL under faults: an instance that is down or hangs becomes a warning naming it, or
 * the whole answer's error under `partial: deny`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnector } from "@entente/connectors";
import {
  EntenteError,
  joinPromqlItems,
  type PromqlAnswer,
  type PromqlLabelsAnswer,
  type PromqlSeriesAnswer,
} from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { freePort, type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, startFederationWorker } from "./support.ts";

describe("entente.promql over the embedded demo", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  const now = Date.now() / 1000;

  beforeAll(async () => {
    nats = await startNatsServer();
    worker = await startFederationWorker(nats.url);
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await nats?.stop();
  });

  const promql = async (request: Record<string, unknown>) =>
    joinPromqlItems(await client.collect("entente.promql", request));

  it("answers a scalar as Prometheus does (Grafana's health check)", async () => {
    const answer = await promql({ query: "1+1", time: 1_700_000_000 });
    expect(answer).toEqual({ resultType: "scalar", result: [1_700_000_000, "2"] });
  });

  it("evaluates an aggregation across both demo instances", async () => {
    const answer = await promql({ query: "count by (region) (cpu_usage)", time: now });
    expect(answer.resultType).toBe("vector");
    const result = (answer as Extract<PromqlAnswer, { resultType: "vector" }>).result;
    const counts = Object.fromEntries(result.map((e) => [e.metric.region, e.value[1]]));
    expect(counts).toEqual({ "us-west": "2", "eu-west": "2" });
  });

  it("answers a range query as a matrix of one series per group", async () => {
    const answer = await promql({
      query: "sum by (host) (rate(http_requests_total[5m]))",
      start: now - 3600,
      end: now,
      step: "1m",
    });
    expect(answer.resultType).toBe("matrix");
    const result = (answer as Extract<PromqlAnswer, { resultType: "matrix" }>).result;
    expect(result.map((s) => s.metric.host).sort()).toEqual(["a-1", "a-2", "b-1", "b-2"]);
    for (const series of result) {
      expect(series.values.length).toBeGreaterThan(55);
      for (const [, v] of series.values) expect(Number(v)).toBeGreaterThan(0);
    }
  });

  it("refuses a malformed query as bad_data", async () => {
    const error = await promql({ query: "sum(rate(x[5m])", time: now }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EntenteError);
    expect((error as EntenteError).code).toBe("BAD_REQUEST");
    expect((error as EntenteError).details?.errorType).toBe("bad_data");
  });

  it("refuses a range query with too many points", async () => {
    const error = await promql({ query: "up", start: 0, end: 100_000, step: 1 }).catch(
      (e: unknown) => e,
    );
    expect((error as EntenteError).message).toMatch(/11,000 points/);
  });

  it("lists series, label names and label values", async () => {
    const range = { start: now - 600, end: now };
    const [series] = await client.collect<PromqlSeriesAnswer>("entente.promql.series", {
      match: ['cpu_usage{region="eu-west"}'],
      ...range,
    });
    expect(series?.series).toEqual([
      { __name__: "cpu_usage", host: "b-1", region: "eu-west" },
      { __name__: "cpu_usage", host: "b-2", region: "eu-west" },
    ]);
    const [labels] = await client.collect<PromqlLabelsAnswer>("entente.promql.labels", range);
    expect(labels?.values).toEqual(["__name__", "host", "region"]);
    const [names] = await client.collect<PromqlLabelsAnswer>("entente.promql.values", {
      name: "__name__",
      ...range,
    });
    expect(names?.values).toEqual(["cpu_usage", "http_requests_total"]);
  });

  it("selects instances with __instance__", async () => {
    const answer = await promql({
      query: 'count(cpu_usage{__instance__="edge-a"})',
      time: now,
    });
    expect(answer).toMatchObject({ resultType: "vector", result: [{ value: [now, "2"] }] });
  });
});

describe("PromQL with an instance down or hanging", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  let silent: Server;
  const now = Date.now() / 1000;

  beforeAll(async () => {
    nats = await startNatsServer();
    // Accepts connections and never answers.
    silent = createServer(() => {});
    const silentPort = await freePort();
    await new Promise<void>((resolve) => silent.listen(silentPort, "127.0.0.1", resolve));
    const deadPort = await freePort();
    worker = await startFederationWorker(
      nats.url,
      `sources:
  metrics_a: { kind: duckdb }
  metrics_b: { kind: duckdb }
instances:
  edge-a: { source: metrics_a }
  edge-b: { source: metrics_b }
  dead: { kind: prometheus, url: "http://127.0.0.1:${deadPort}" }
  hanging: { kind: prometheus, url: "http://127.0.0.1:${silentPort}" }
queryFederation:
  demo: true
  instanceTimeoutMs: 1500
  retry: { attempts: 1 }
`,
    );
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    silent?.close();
    await nats?.stop();
  });

  it("answers from the live instances with a warning naming each failed one", async () => {
    const answer = joinPromqlItems(
      await client.collect("entente.promql", { query: "count(cpu_usage)", time: now }),
    );
    expect(answer).toMatchObject({ resultType: "vector", result: [{ value: [now, "4"] }] });
    expect(answer.partial).toMatchObject({ succeeded: 2, total: 4 });
    const warnings = answer.warnings ?? [];
    expect(warnings.some((w) => w.startsWith("instance dead: UNAVAILABLE"))).toBe(true);
    expect(warnings.some((w) => w.startsWith("instance hanging: DEADLINE_EXCEEDED"))).toBe(true);
  });

  it("fails as a whole under partial: deny", async () => {
    const error = await client
      .collect("entente.promql", { query: "count(cpu_usage)", time: now, partial: "deny" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EntenteError);
    expect((error as EntenteError).code).toBe("UNAVAILABLE");
    expect(JSON.stringify((error as EntenteError).details)).toContain("dead");
  });
});

describe("PromQL over replicas", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  let dir: string | undefined;
  const at = 1_700_000_600;

  beforeAll(async () => {
    nats = await startNatsServer();
    // Two instances reading one file: copies of the same series, as replicas are.
    dir = await mkdtemp(join(tmpdir(), "entente-promql-replicas-"));
    const path = join(dir, "copy.duckdb");
    const setup = await createConnector("setup", { kind: "duckdb", path });
    await setup.execute({
      sql: `CREATE TABLE points AS SELECT 'up' AS metric, ('{"host":"h' || h || '"}')::JSON AS tags, (1700000000 + s * 15)::BIGINT * 1000000000 AS "time", (h * 10 + s)::DOUBLE AS value, NULL::BIGINT AS ingest_seq FROM range(3) t(h), range(60) u(s)`,
      params: [],
    });
    await setup.close();
    worker = await startFederationWorker(
      nats.url,
      `sources:
  shared: { kind: duckdb, path: "${path}", readOnly: true }
instances:
  copy-1: { source: shared }
  copy-2: { source: shared }
queryFederation:
  replicaGroups: { copies: { instances: [copy-1, copy-2], read: merge } }
  ingest: { enabled: false }
`,
    );
    ({ nc, client } = await clientOf(nats.url));
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("counts each series once, and sums each sample once", async () => {
    const ask = async (query: string) =>
      joinPromqlItems(await client.collect("entente.promql", { query, time: at }));
    expect(await ask("count(up)")).toMatchObject({ result: [{ value: [at, "3"] }] });
    // At 1700000600 each host's latest sample is s = 40: 40 + 50 + 60.
    expect(await ask("sum(up)")).toMatchObject({ result: [{ value: [at, "150"] }] });
  });
});

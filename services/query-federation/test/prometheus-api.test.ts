/**
 * Prometheus' HTTP API on the query federation's HTTP port, as Grafana's Prometheus data source
 * uses it (GET with a query string, POST with a form body, under `/api/v1` and
 * `/federated/api/v1`), answered by the PromQL endpoints over the embedded demo instances, in
 * Prometheus' envelope and with its error types and statuses.
 */
import { EntenteError } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROMETHEUS_API_PREFIXES, prometheusError } from "../src/prometheus-api.ts";
import { clientOf, startFederationWorker } from "./support.ts";

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let base: string;
const now = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  nats = await startNatsServer();
  worker = await startFederationWorker(nats.url, "queryFederation: { http: { port: 0 } }");
  const { nc: connection, client } = await clientOf(nats.url, "json");
  nc = connection;
  const stats = (await client.request("entente.query.stats", {})) as { httpPort: number };
  base = `http://127.0.0.1:${stats.httpPort}`;
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

interface Envelope {
  status: "success" | "error";
  data?: unknown;
  warnings?: string[];
  errorType?: string;
  error?: string;
}

interface Answer {
  status: number;
  type: string | null;
  body: Envelope;
}

async function read(res: Response): Promise<Answer> {
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: (await res.json()) as Envelope,
  };
}

async function get(path: string, params: Array<[string, string]> = []): Promise<Answer> {
  const query = new URLSearchParams(params).toString();
  return read(
    await fetch(`${base}${path}${query ? `?${query}` : ""}`, {
      signal: AbortSignal.timeout(20_000),
    }),
  );
}

/** As Grafana sends it by default: a form body. */
async function postForm(path: string, params: Array<[string, string]>): Promise<Answer> {
  return read(
    await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(20_000),
    }),
  );
}

function expectError(answer: Answer, status: number, errorType: string): void {
  expect(answer.status).toBe(status);
  expect(answer.body).toEqual({ status: "error", errorType, error: expect.any(String) });
}

describe.each(PROMETHEUS_API_PREFIXES)("Prometheus' API under %s", (prefix) => {
  it("passes Grafana's health check: 1+1 as a scalar", async () => {
    const answer = await get(`${prefix}/query`, [
      ["query", "1+1"],
      ["time", String(now)],
    ]);
    expect(answer.status).toBe(200);
    expect(answer.type).toBe("application/json");
    expect(answer.body).toEqual({
      status: "success",
      data: { resultType: "scalar", result: [now, "2"] },
    });
  });

  it("answers an instant query posted as a form", async () => {
    const answer = await postForm(`${prefix}/query`, [
      ["query", "count by (region) (cpu_usage)"],
      ["time", String(now)],
      ["timeout", "30s"],
    ]);
    expect(answer.status).toBe(200);
    const data = answer.body.data as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    };
    expect(data.resultType).toBe("vector");
    const counts = Object.fromEntries(data.result.map((e) => [e.metric.region, e.value]));
    expect(counts).toEqual({ "us-west": [now, "2"], "eu-west": [now, "2"] });
    expect(answer.body).not.toHaveProperty("warnings");
  });

  it("answers a range query posted as a form, as Grafana does, with a matrix", async () => {
    const answer = await postForm(`${prefix}/query_range`, [
      ["query", "sum by (host) (http_requests_total)"],
      ["start", String(now - 3600)],
      ["end", String(now)],
      ["step", "60"],
    ]);
    expect(answer.status).toBe(200);
    const data = answer.body.data as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }>;
    };
    expect(data.resultType).toBe("matrix");
    expect(data.result.map((s) => s.metric.host).sort()).toEqual(["a-1", "a-2", "b-1", "b-2"]);
    for (const series of data.result) {
      expect(series.values.length).toBeGreaterThan(55);
      for (const [t, v] of series.values) {
        expect((t - (now - 3600)) % 60).toBe(0);
        expect(Number(v)).toBeGreaterThan(0);
      }
    }
  });

  it("answers a range query given in the query string, with a duration step", async () => {
    const answer = await get(`${prefix}/query_range`, [
      ["query", 'max(cpu_usage{region="eu-west"})'],
      ["start", new Date((now - 600) * 1000).toISOString()],
      ["end", new Date(now * 1000).toISOString()],
      ["step", "1m"],
    ]);
    expect(answer.status).toBe(200);
    const data = answer.body.data as { resultType: string; result: Array<{ values: unknown[] }> };
    expect(data.resultType).toBe("matrix");
    expect(data.result).toHaveLength(1);
    expect(data.result[0]?.values).toHaveLength(11);
  });

  it("refuses a range query without its step as bad_data", async () => {
    const answer = await get(`${prefix}/query_range`, [
      ["query", "cpu_usage"],
      ["start", String(now - 600)],
      ["end", String(now)],
    ]);
    expectError(answer, 400, "bad_data");
    expect(answer.body.error).toMatch(/step/);
  });

  it("refuses a malformed query with 400 bad_data", async () => {
    const answer = await postForm(`${prefix}/query`, [
      ["query", "sum(rate(cpu_usage[5m])"],
      ["time", String(now)],
    ]);
    expectError(answer, 400, "bad_data");
  });

  it("refuses a query without a query as bad_data", async () => {
    expectError(await get(`${prefix}/query`, [["time", String(now)]]), 400, "bad_data");
  });

  it("refuses a timeout that is not a duration as bad_data", async () => {
    const answer = await get(`${prefix}/query`, [
      ["query", "1"],
      ["timeout", "soon"],
    ]);
    expectError(answer, 400, "bad_data");
    expect(answer.body.error).toMatch(/timeout/);
  });

  it("answers an evaluation error with 422 execution", async () => {
    const answer = await get(`${prefix}/query`, [
      ["query", "cpu_usage * on() cpu_usage"],
      ["time", String(now)],
    ]);
    expectError(answer, 422, "execution");
    expect(answer.body.error).toMatch(/many-to-many/);
  });

  it("lists label names, all of them or of the matching series", async () => {
    const range: Array<[string, string]> = [
      ["start", String(now - 600)],
      ["end", String(now)],
    ];
    const all = await get(`${prefix}/labels`, range);
    expect(all.body).toEqual({ status: "success", data: ["__name__", "host", "region"] });
    const posted = await postForm(`${prefix}/labels`, [...range, ["match[]", "cpu_usage"]]);
    expect(posted.body).toEqual({ status: "success", data: ["__name__", "host", "region"] });
  });

  it("lists a label's values, as Grafana's metric browser asks for __name__", async () => {
    const names = await get(`${prefix}/label/__name__/values`, [
      ["start", String(now - 600)],
      ["end", String(now)],
    ]);
    expect(names.body).toEqual({ status: "success", data: ["cpu_usage", "http_requests_total"] });
    const hosts = await get(`${prefix}/label/host/values`, [["match[]", '{region="eu-west"}']]);
    expect(hosts.body).toEqual({ status: "success", data: ["b-1", "b-2"] });
  });

  it("refuses a label name Prometheus would not take as bad_data", async () => {
    expectError(await get(`${prefix}/label/1st/values`), 400, "bad_data");
  });

  it("lists the series of each match[], by query string or form", async () => {
    const range: Array<[string, string]> = [
      ["start", String(now - 600)],
      ["end", String(now)],
    ];
    const euWest = await get(`${prefix}/series`, [
      ["match[]", 'cpu_usage{region="eu-west"}'],
      ...range,
    ]);
    expect(euWest.body).toEqual({
      status: "success",
      data: [
        { __name__: "cpu_usage", host: "b-1", region: "eu-west" },
        { __name__: "cpu_usage", host: "b-2", region: "eu-west" },
      ],
    });
    const two = await postForm(`${prefix}/series`, [
      ["match[]", 'cpu_usage{host="a-1"}'],
      ["match[]", 'http_requests_total{host="b-2"}'],
      ...range,
    ]);
    expect(two.status).toBe(200);
    const series = two.body.data as Array<Record<string, string>>;
    expect(series.map((s) => `${s.__name__}/${s.host}`).sort()).toEqual([
      "cpu_usage/a-1",
      "http_requests_total/b-2",
    ]);
  });

  it("refuses series without match[], or with a match[] that is not a selector", async () => {
    expectError(await get(`${prefix}/series`), 400, "bad_data");
    expectError(await get(`${prefix}/series`, [["match[]", "sum(cpu_usage)"]]), 400, "bad_data");
  });

  it("answers metadata with none", async () => {
    const answer = await get(`${prefix}/metadata`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: "success", data: {} });
  });

  it("answers buildinfo with a semver version Grafana can compare", async () => {
    const answer = await get(`${prefix}/status/buildinfo`);
    expect(answer.status).toBe(200);
    const data = answer.body.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(
      ["branch", "buildDate", "buildUser", "goVersion", "revision", "version"].sort(),
    );
    expect(data.version).toMatch(/^2\.42\.0\+entente(\.[0-9A-Za-z-]+)+$/);
  });

  it("refuses a method the route does not take in Prometheus' envelope", async () => {
    const answer = await read(
      await fetch(`${base}${prefix}/label/host/values`, {
        method: "POST",
        signal: AbortSignal.timeout(20_000),
      }),
    );
    expectError(answer, 400, "bad_data");
  });
});

/** An endpoint's requests and errors as the NATS services API counts them. */
async function countsOf(subject: string): Promise<{ requests: number; errors: number }> {
  const reply = await nc.request("$SRV.STATS.query-federation", "", { timeout: 5_000 });
  const stats = reply.json<{
    endpoints: Array<{ subject: string; num_requests: number; num_errors: number }>;
  }>();
  const found = stats.endpoints.find((e) => e.subject === subject);
  if (found === undefined) throw new Error(`no endpoint listens on ${subject}`);
  return { requests: found.num_requests, errors: found.num_errors };
}

describe("the API enters the PromQL endpoints through the front door", () => {
  it("counts its requests and errors on the endpoints' own stats", async () => {
    const before = await countsOf("entente.promql");
    await get("/api/v1/query", [["query", "1+1"]]);
    await get("/federated/api/v1/query", [["query", "sum("]]);
    const after = await countsOf("entente.promql");
    expect(after.requests).toBe(before.requests + 2);
    expect(after.errors).toBe(before.errors + 1);
    const values = await countsOf("entente.promql.values");
    await get("/api/v1/label/host/values");
    expect((await countsOf("entente.promql.values")).requests).toBe(values.requests + 1);
  });
});

describe("Entente's errors as Prometheus' error types", () => {
  it.each([
    ["BAD_REQUEST", undefined, "bad_data", 400],
    ["MALFORMED", undefined, "bad_data", 400],
    ["BAD_REQUEST", "execution", "execution", 422],
    ["BAD_REQUEST", "bad_data", "bad_data", 400],
    ["NOT_FOUND", undefined, "not_found", 404],
    ["DEADLINE_EXCEEDED", undefined, "timeout", 503],
    ["CANCELLED", undefined, "canceled", 503],
    ["UNAVAILABLE", undefined, "unavailable", 503],
    ["NO_RESPONDERS", undefined, "unavailable", 503],
    ["TOO_LARGE", undefined, "execution", 422],
    ["UNSUPPORTED", undefined, "execution", 422],
    ["STREAM_GAP", undefined, "internal", 500],
    ["INTERNAL", "nonsense", "internal", 500],
  ])("%s (errorType %s) is %s, answered %i", (code, declared, errorType, status) => {
    const error = new EntenteError(code, "why", {
      ...(declared === undefined ? {} : { details: { errorType: declared } }),
    });
    expect(prometheusError(error)).toEqual({
      status,
      body: { status: "error", errorType, error: "why" },
    });
  });
});

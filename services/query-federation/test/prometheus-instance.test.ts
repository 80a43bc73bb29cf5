/** A `kind: prometheus` instance against a real Prometheus holding generated data. */

import type { AddressInfo } from "node:net";
import { createServer, type Server, type Socket } from "node:net";
import type { EvalRange, Expr, LabelMatcher, VectorSelector } from "@entente/promql";
import { SUBJECTS } from "@entente/protocol";
import { Pacer } from "@entente/runtime/pace";
import {
  generateMetrics,
  type MetricSeries,
  metricsLayout,
  type PrometheusServer,
  startPrometheus,
  toOpenMetrics,
} from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { instancesSchema } from "../src/config.ts";
import { resolveInstanceSources } from "../src/instance-sources.ts";
import { PrometheusInstance } from "../src/instances/prometheus-instance.ts";
import type { FetchOptions } from "../src/instances/types.ts";
import { partialsOfOrdered } from "../src/paced-merge.ts";
import type { Point } from "../src/points.ts";
import { normalizeQuery } from "../src/query.ts";

const selector = (name: string, ...matchers: LabelMatcher[]): VectorSelector => ({
  type: "vectorSelector",
  name,
  matchers: [{ name: "__name__", op: "=", value: name }, ...matchers],
  offsetMs: 0,
});

const LOOKBACK_MS = 5 * 60_000;

/** Every part evaluated over the same range. */
const evaluation = (parts: Expr[], range: EvalRange) => ({
  parts: parts.map((expr) => ({ expr, range })),
  lookbackMs: LOOKBACK_MS,
  maxSamples: 10_000_000,
});
const MS = 1_000_000n;

function optionsOf(overrides: Partial<FetchOptions> = {}): FetchOptions {
  return {
    signal: new AbortController().signal,
    timeoutMs: 20_000,
    maxPoints: 1_000_000,
    ...overrides,
  };
}

/** An instant selector's sample at `t`: the latest within the lookback. */
function sampleAt(series: MetricSeries, t: number): { t: number; v: number } | undefined {
  let found: { t: number; v: number } | undefined;
  for (const s of series.samples) {
    if (s.t > t) break;
    if (s.t > t - LOOKBACK_MS) found = { t, v: s.v };
  }
  return found;
}

const byLabels = (a: { labels: object }, b: { labels: object }) =>
  JSON.stringify(Object.entries(a.labels).sort()) < JSON.stringify(Object.entries(b.labels).sort())
    ? -1
    : 1;

function sortedByTimeAndTags(points: Point[]): Point[] {
  const key = (p: Point) => JSON.stringify(Object.entries(p.tags).sort());
  return [...points].sort((a, b) =>
    a.timestamp !== b.timestamp ? (a.timestamp < b.timestamp ? -1 : 1) : key(a) < key(b) ? -1 : 1,
  );
}

describe("a prometheus instance", () => {
  const data = generateMetrics({ seriesCount: 60, specialValues: true });
  const layout = metricsLayout();
  let prometheus: PrometheusServer;
  let instance: PrometheusInstance;

  beforeAll(async () => {
    prometheus = await startPrometheus({ openMetrics: toOpenMetrics(data) });
    instance = new PrometheusInstance({ name: "prom", url: prometheus.url });
  });

  afterAll(async () => {
    await instance?.close();
    await prometheus?.stop();
  });

  describe("PromQL parts", () => {
    const time = layout.start + 20 * 60_000 + 1_234;

    it("answers an instant part as a vector of the latest samples", async () => {
      const part = selector("node_temperature", { name: "job", op: "=", value: "api-server" });
      const { values } = await instance.evaluatePromql(
        evaluation([part], { start: time, end: time, step: 0 }),
        optionsOf(),
      );
      const expected = data
        .filter((s) => s.labels.__name__ === "node_temperature" && s.labels.job === "api-server")
        .flatMap((s) => {
          const at = sampleAt(s, time);
          return at ? [{ labels: s.labels, ...at }] : [];
        });
      expect(expected.length).toBeGreaterThan(0);
      expect(values).toHaveLength(1);
      const [value] = values;
      expect(value?.type).toBe("vector");
      if (value?.type !== "vector") return;
      expect([...value.value].sort(byLabels)).toEqual(expected.sort(byLabels));
    });

    it("reads NaN, infinities, huge and tiny values exactly", async () => {
      const { values } = await instance.evaluatePromql(
        evaluation([selector("edge_values")], { start: time, end: time, step: 0 }),
        optionsOf(),
      );
      const [value] = values;
      if (value?.type !== "vector") throw new Error(`a vector expected, got ${value?.type}`);
      const byKind = Object.fromEntries(value.value.map((s) => [s.labels.kind, s.v]));
      expect(byKind).toEqual({
        nan: Number.NaN,
        pos_inf: Number.POSITIVE_INFINITY,
        neg_inf: Number.NEGATIVE_INFINITY,
        zero: 0,
        huge: 1.7e308,
        tiny: 5e-324,
      });
    });

    it("answers every part of a range evaluation as a matrix, in order", async () => {
      const range = {
        start: layout.start + 10 * 60_000,
        end: layout.start + 30 * 60_000,
        step: 60_000,
      };
      const temperature = selector("node_temperature", {
        name: "job",
        op: "=",
        value: "api-server",
      });
      const { values } = await instance.evaluatePromql(
        evaluation([{ type: "number", value: 2.5 }, temperature], range),
        optionsOf(),
      );
      const steps: number[] = [];
      for (let t = range.start; t <= range.end; t += range.step) steps.push(t);
      expect(values[0]).toEqual({
        type: "matrix",
        value: [{ labels: {}, samples: steps.map((t) => ({ t, v: 2.5 })) }],
      });
      const expected = data
        .filter((s) => s.labels.__name__ === "node_temperature" && s.labels.job === "api-server")
        .map((s) => ({
          labels: s.labels,
          samples: steps.flatMap((t) => {
            const at = sampleAt(s, t);
            return at ? [at] : [];
          }),
        }))
        .filter((s) => s.samples.length > 0);
      const matrix = values[1];
      if (matrix?.type !== "matrix") throw new Error(`a matrix expected, got ${matrix?.type}`);
      expect([...matrix.value].sort(byLabels)).toEqual(expected.sort(byLabels));
    });

    it("answers scalars and strings at one time", async () => {
      const { values } = await instance.evaluatePromql(
        evaluation(
          [
            { type: "number", value: -3 },
            { type: "string", value: 'quote " and \\ slash' },
          ],
          { start: time, end: time, step: 0 },
        ),
        optionsOf(),
      );
      expect(values).toEqual([
        { type: "scalar", t: time, v: -3 },
        { type: "string", t: time, v: 'quote " and \\ slash' },
      ]);
    });

    it("maps a part the server refuses to BAD_REQUEST with its errorType", async () => {
      const range = { start: time, end: time, step: 0 };
      const unknown: Expr = { type: "call", name: "no_such_function", args: [] };
      await expect(
        instance.evaluatePromql(evaluation([unknown], range), optionsOf()),
      ).rejects.toMatchObject({
        code: "BAD_REQUEST",
        retryable: false,
        details: { instance: "prom", errorType: "bad_data" },
      });
      // Many series on both sides of a one-to-one match on no labels: refused while evaluating.
      const many = selector("node_temperature");
      const duplicate: Expr = {
        type: "binary",
        op: "+",
        lhs: many,
        rhs: many,
        returnBool: false,
        matching: { card: "one-to-one", on: true, labels: [], include: [] },
      };
      await expect(
        instance.evaluatePromql(evaluation([duplicate], range), optionsOf()),
      ).rejects.toMatchObject({
        code: "BAD_REQUEST",
        details: { instance: "prom", errorType: "execution" },
      });
    });

    it("refuses an answer with more samples than it may return", async () => {
      const range = { start: layout.start, end: layout.end, step: 60_000 };
      await expect(
        instance.evaluatePromql(
          evaluation([selector("node_temperature")], range),
          optionsOf({ maxPoints: 10 }),
        ),
      ).rejects.toMatchObject({
        code: "TOO_LARGE",
        message: expect.stringContaining("instance prom"),
      });
    });
  });

  describe("raw reads", () => {
    const requests = data.filter(
      (s) => s.labels.__name__ === "http_requests_total" && s.labels.method === "GET",
    );
    // Bounds on samples: the first is read, the last is not (end is exclusive).
    const sampleTimes = (requests[0] as MetricSeries).samples.map((s) => s.t);
    const startMs = sampleTimes[20] as number;
    const endMs = sampleTimes[80] as number;

    function expectedPoints(series: MetricSeries[]): Point[] {
      return series.flatMap((s) => {
        const { __name__: _, ...tags } = s.labels;
        return s.samples
          .filter((p) => p.t >= startMs && p.t < endMs)
          .map((p) => ({
            metric: "http_requests_total",
            tags,
            timestamp: BigInt(p.t) * MS,
            value: p.v,
          }));
      });
    }

    const queryOf = (extra: Record<string, unknown> = {}) =>
      normalizeQuery({
        metric: "http_requests_total",
        tags: { method: "GET" },
        start: String(BigInt(startMs) * MS),
        end: String(BigInt(endMs) * MS),
        ...extra,
      });

    it("reads the samples in [start, end), in time order", async () => {
      const { points } = await instance.fetchRaw(queryOf(), optionsOf());
      const expected = expectedPoints(requests);
      expect(points.length).toBe(expected.length);
      for (let i = 1; i < points.length; i++) {
        expect((points[i - 1] as Point).timestamp <= (points[i] as Point).timestamp).toBe(true);
      }
      expect(sortedByTimeAndTags(points)).toEqual(sortedByTimeAndTags(expected));
      expect(points.some((p) => p.timestamp === BigInt(startMs) * MS)).toBe(true);
      expect(points.some((p) => p.timestamp === BigInt(endMs) * MS)).toBe(false);
    });

    it("leaves out a sample a nanosecond before start", async () => {
      const after = normalizeQuery({
        metric: "http_requests_total",
        tags: { method: "GET" },
        start: String(BigInt(startMs) * MS + 1n),
        end: String(BigInt(endMs) * MS),
      });
      const { points } = await instance.fetchRaw(after, optionsOf());
      const atStart = expectedPoints(requests).filter((p) => p.timestamp === BigInt(startMs) * MS);
      expect(atStart.length).toBeGreaterThan(0);
      expect(points.length).toBe(expectedPoints(requests).length - atStart.length);
      expect(points.some((p) => p.timestamp === BigInt(startMs) * MS)).toBe(false);
    });

    it("applies tag matchers Prometheus cannot take, and the limit", async () => {
      const absent = await instance.fetchRaw(
        queryOf({ tags: { method: "GET", "zone.name": "eu" } }),
        optionsOf(),
      );
      expect(absent.points).toEqual([]);
      const empty = await instance.fetchRaw(
        queryOf({ tags: { method: "GET", "zone.name": { "!=": "eu" } } }),
        optionsOf(),
      );
      expect(empty.points.length).toBe(expectedPoints(requests).length);
      const limited = await instance.fetchRaw(queryOf({ limit: 7 }), optionsOf());
      const all = await instance.fetchRaw(queryOf(), optionsOf());
      expect(limited.points).toEqual(all.points.slice(0, 7));
    });

    it("reduces raw samples to partials", async () => {
      const query = queryOf({ aggregation: { function: "rate", window: "5m", by: "code" } });
      const { partials } = await instance.fetchPartials(query, optionsOf());
      const aggregation = query.aggregation;
      if (!aggregation) throw new Error("aggregation expected");
      const ordered = expectedPoints(requests).sort((a, b) =>
        a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0,
      );
      const pacer = new Pacer(new AbortController().signal);
      const expected = await partialsOfOrdered(ordered, aggregation, pacer);
      const key = (p: { window: bigint; group: string[] }) => `${p.window}/${p.group.join(",")}`;
      expect(partials.length).toBeGreaterThan(0);
      expect(new Map(partials.map((p) => [key(p), p.count]))).toEqual(
        new Map(expected.map((p) => [key(p), p.count])),
      );
      const increase = (list: typeof partials) =>
        Object.fromEntries(
          list.map((p) => [key(p), (p.series ?? []).reduce((sum, s) => sum + s.increase, 0)]),
        );
      expect(increase(partials)).toEqual(increase(expected));
    });
  });

  it("answers the label sets of matching series", async () => {
    const labels = await instance.seriesLabels(
      [
        { name: "__name__", op: "=", value: "queue_depth" },
        { name: "queue", op: "=~", value: "Emails\\..*" },
      ],
      layout.start,
      layout.end,
      optionsOf(),
    );
    const expected = data
      .filter((s) => s.labels.__name__ === "queue_depth" && s.labels.queue === "Emails.High")
      .map((s) => s.labels);
    expect(expected.length).toBeGreaterThan(0);
    expect([...labels].sort((a, b) => byLabels({ labels: a }, { labels: b }))).toEqual(
      expected.sort((a, b) => byLabels({ labels: a }, { labels: b })),
    );
  });
});

describe("a prometheus instance that cannot answer", () => {
  const instant = { start: 1_000, end: 1_000, step: 0 };
  const part: Expr = { type: "number", value: 1 };
  let hanging: Server;
  let hangingUrl: string;
  const connected: Array<(socket: Socket) => void> = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections and never answers.
    hanging = createServer((socket) => {
      sockets.add(socket);
      for (const notify of connected.splice(0)) notify(socket);
    });
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => hanging?.close(resolve));
  });

  it("is UNAVAILABLE where nothing listens", async () => {
    // A port that was free a moment ago: bound, then closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const dead = new PrometheusInstance({ name: "dead", url: `http://127.0.0.1:${port}` });
    await expect(
      dead.evaluatePromql(evaluation([part], instant), optionsOf()),
    ).rejects.toMatchObject({
      code: "UNAVAILABLE",
      retryable: true,
      details: { instance: "dead" },
    });
  });

  it("ends at the caller's signal with its reason", async () => {
    const slow = new PrometheusInstance({ name: "slow", url: hangingUrl });
    const controller = new AbortController();
    const reason = new Error("the caller went away");
    connected.push(() => controller.abort(reason));
    await expect(
      slow.evaluatePromql(evaluation([part], instant), optionsOf({ signal: controller.signal })),
    ).rejects.toBe(reason);
  });

  it("ends at its timeout as DEADLINE_EXCEEDED", async () => {
    const slow = new PrometheusInstance({ name: "slow", url: hangingUrl, timeoutMs: 200 });
    await expect(
      slow.seriesLabels(
        [{ name: "__name__", op: "=", value: "up" }],
        0,
        1_000,
        optionsOf({ timeoutMs: 60_000 }),
      ),
    ).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED", details: { instance: "slow" } });
  });

  it("refuses a body that is not Prometheus' envelope, and takes a busy server as UNAVAILABLE", async () => {
    const { createServer: createHttpServer } = await import("node:http");
    const server = createHttpServer((request, response) => {
      const busy = request.url?.startsWith("/busy") ?? false;
      response.writeHead(busy ? 503 : 200, { "content-type": "text/html" });
      response.end("<html>not an API</html>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const html = new PrometheusInstance({ name: "html", url: base });
      await expect(
        html.evaluatePromql(evaluation([part], instant), optionsOf()),
      ).rejects.toMatchObject({ code: "BAD_RESPONSE", details: { instance: "html" } });
      const busy = new PrometheusInstance({ name: "busy", url: `${base}/busy/` });
      await expect(
        busy.evaluatePromql(evaluation([part], instant), optionsOf()),
      ).rejects.toMatchObject({ code: "UNAVAILABLE", retryable: true });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("a prometheus instance's configuration", () => {
  it("is resolved as its own kind and builds the instance", () => {
    const configured = instancesSchema.parse({
      prom: {
        kind: "prometheus",
        url: "http://127.0.0.1:9090",
        headers: { authorization: "Bearer t" },
        timeoutMs: 5_000,
      },
    });
    const [resolved] = resolveInstanceSources(configured ?? {}, SUBJECTS.query).instances;
    expect(resolved).toEqual({
      name: "prom",
      kind: "prometheus",
      config: {
        kind: "prometheus",
        url: "http://127.0.0.1:9090",
        headers: { authorization: "Bearer t" },
        timeoutMs: 5_000,
      },
    });
    if (resolved?.kind !== "prometheus") throw new Error("a prometheus instance expected");
    const instance = new PrometheusInstance({ name: resolved.name, ...resolved.config });
    expect(instance.kind).toBe("prometheus");
  });

  it("needs an http(s) url", () => {
    expect(() => instancesSchema.parse({ prom: { kind: "prometheus" } })).toThrow();
    expect(() =>
      instancesSchema.parse({ prom: { kind: "prometheus", url: "ftp://example.com" } }),
    ).toThrow(/base URL/);
  });
});

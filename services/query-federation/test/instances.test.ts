/**
 * The executor over embedded DuckDB instances, without NATS: what a database's rows become,
 * and the limits of a whole query.
 */
import { request } from "node:http";
import { createConnector } from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import { startNatsServer } from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { federationHttp, queryEndpoint } from "../src/endpoints.ts";
import {
  DEFAULT_QUERY_LIMITS,
  DuckdbStore,
  Federator,
  type MetricInstance,
  normalizeQuery,
  type Point,
} from "../src/index.ts";
import { BASE, SECOND } from "./generate.ts";

async function store(name: string, points: Point[]): Promise<DuckdbStore> {
  const s = new DuckdbStore(name, await createConnector(name, { kind: "duckdb" }));
  await s.ensureSchema();
  await s.load(points);
  return s;
}

function series(host: string, values: number[]): Point[] {
  return values.map((value, i) => ({
    metric: "m",
    tags: { host },
    timestamp: BASE + BigInt(i) * SECOND,
    value,
  }));
}

const range = { start: String(BASE), end: String(BASE + 3600n * SECOND) };

describe("rows without a value", () => {
  let federator: Federator;

  beforeAll(async () => {
    const s = await store("nulls", series("a", [1, 2, 3]));
    // A row whose value is NULL, as a PostgreSQL or MySQL table may hold: not a sample.
    await s.connector.execute({
      sql: `INSERT INTO points (metric, tags, "time", value) VALUES ('m', '{"host":"a"}', ${BASE - SECOND}, NULL), ('m', '{"host":"a"}', ${BASE + 10n * SECOND}, NULL)`,
      params: [],
    });
    federator = new Federator({ instances: [s] });
  });
  afterAll(() => federator?.close());

  it("are skipped by every aggregation as by raw reads", async () => {
    const ask = async (fn: string) => {
      const q = normalizeQuery({ metric: "m", ...range, aggregation: { function: fn } });
      return (await federator.query(q)).points.map((p) => p.value);
    };
    expect(await ask("count")).toEqual([3]);
    expect(await ask("avg")).toEqual([2]);
    expect(await ask("first")).toEqual([1]);
    expect(await ask("last")).toEqual([3]);
    const raw = await federator.query(normalizeQuery({ metric: "m", ...range }));
    expect(raw.points.map((p) => p.value)).toEqual([1, 2, 3]);
  });
});

/** An instance that answers only when its call is aborted, and remembers that it was. */
function waitingInstance(): MetricInstance & { aborted: boolean } {
  const wait = (options: { signal: AbortSignal }) =>
    new Promise<never>((_, reject) => {
      options.signal.addEventListener("abort", () => {
        instance.aborted = true;
        reject(options.signal.reason);
      });
    });
  const instance = {
    name: "waiting",
    kind: "duckdb" as const,
    aborted: false,
    fetchRaw: (_q: unknown, options: { signal: AbortSignal }) => wait(options),
    fetchPartials: (_q: unknown, options: { signal: AbortSignal }) => wait(options),
    close: async () => {},
  };
  return instance;
}

describe("HTTP", () => {
  it("cancels the instances' work when the client goes away", async () => {
    const instance = waitingInstance();
    const federator = new Federator({
      instances: [instance],
      settings: { instanceTimeoutMs: 60_000, defaultTimeoutMs: 60_000 },
    });
    // The query endpoint and its HTTP route, hosted as the service hosts them.
    const nats = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: nats.url, noAsyncTraces: true });
    let port = 0;
    const service = await HostedService.start(
      {
        name: "query-federation",
        version: "test",
        description: "a federator over an instance that waits",
        start: () => ({
          endpoints: [queryEndpoint(federator, DEFAULT_QUERY_LIMITS, "test.query")],
          http: federationHttp(federator, { port: 0, host: "127.0.0.1" }, (listening) => {
            port = listening;
          }),
        }),
      },
      {
        nc,
        config: loadConfig({ text: "log: { level: warn }\n", env: { NATS_URL: nats.url } }),
        client: new EntenteClient(nc),
        logger: createLogger({ service: "test", level: "warn" }),
      },
    );
    try {
      const req = request({
        port,
        host: "127.0.0.1",
        method: "POST",
        path: "/federated/query",
      });
      req.on("error", () => {});
      req.end(JSON.stringify({ metric: "m" }));
      const until = Date.now() + 10_000;
      while (federator.queries === 0 && Date.now() < until)
        await new Promise((r) => setTimeout(r, 20));
      req.destroy();
      while (!instance.aborted && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(instance.aborted).toBe(true);
    } finally {
      await service.stop(1_000);
      await nc.close();
      await nats.stop();
    }
  });
});

describe("limits", () => {
  it("count every instance's raw points against the query's, failing before slow instances end", async () => {
    const instances = [
      await store(
        "first",
        series(
          "a",
          Array.from({ length: 60 }, (_, i) => i),
        ),
      ),
      await store(
        "second",
        series(
          "b",
          Array.from({ length: 60 }, (_, i) => i),
        ),
      ),
      waitingInstance(),
    ];
    const federator = new Federator({
      instances,
      settings: {
        parallelism: 1,
        maxPoints: 100,
        instanceTimeoutMs: 60_000,
        defaultTimeoutMs: 60_000,
      },
    });
    try {
      const query = federator.query(normalizeQuery({ metric: "m", ...range }));
      const bound = new Promise((resolve) => setTimeout(resolve, 10_000, "still running"));
      const outcome = await Promise.race([
        query.then(
          () => "answered",
          (e) => e,
        ),
        bound,
      ]);
      expect(outcome).toMatchObject({ code: "TOO_LARGE" });
      expect((outcome as Error).message).toMatch(/limit of 100 points/);
      // With a limit, the same instances answer.
      const limited = await federator.query(
        normalizeQuery({ metric: "m", ...range, limit: 100, timeoutMs: 2_000 }),
      );
      expect(limited.points).toHaveLength(100);
    } finally {
      await federator.close();
    }
  });
});

describe("result cache", () => {
  it("keeps answers from different members of a replica group apart", async () => {
    const both = series("a", [1, 2]);
    const federator = new Federator({
      instances: [await store("r1", both.slice(0, 1)), await store("r2", both)],
      routing: { replicaGroups: [{ name: "same", instances: ["r1", "r2"], read: "merge" }] },
      settings: { cache: { enabled: true, maxEntries: 10, maxBytes: 1 << 20, ttlMs: 60_000 } },
    });
    try {
      const ask = async (instances: unknown) =>
        (
          await federator.query(
            normalizeQuery({ metric: "m", ...range, tags: { __instance__: instances } }),
          )
        ).points.length;
      expect(await ask("r1")).toBe(1);
      expect(await ask(["r1", "r2"])).toBe(2);
      expect(await ask("r1")).toBe(1);
      expect(federator.cache.view().hits).toBe(1);
    } finally {
      await federator.close();
    }
  });
});

describe("circuit breaker", () => {
  it("reports the instance's own failure when that failure opens the circuit between retries", async () => {
    const refusing: MetricInstance = {
      name: "refusing",
      kind: "postgres",
      fetchRaw: async () => {
        throw new EntenteError("UNAVAILABLE", "connect ECONNREFUSED 127.0.0.1:1");
      },
      fetchPartials: async () => {
        throw new EntenteError("UNAVAILABLE", "connect ECONNREFUSED 127.0.0.1:1");
      },
      close: async () => {},
    };
    const federator = new Federator({
      instances: [refusing, await store("fine", series("a", [1]))],
      settings: {
        breaker: { failureThreshold: 1, openMs: 60_000 },
        retry: { attempts: 3, backoffMs: 1, maxBackoffMs: 1 },
      },
    });
    try {
      const answer = await federator.query(normalizeQuery({ metric: "m", ...range }));
      expect(answer.partial?.errors).toEqual([
        { instance: "refusing", code: "UNAVAILABLE", message: "connect ECONNREFUSED 127.0.0.1:1" },
      ]);
      // Later queries are refused by the open circuit without calling the instance.
      const later = await federator.query(normalizeQuery({ metric: "m", ...range, limit: 5 }));
      expect(later.partial?.errors[0]?.message).toMatch(/circuit open/);
    } finally {
      await federator.close();
    }
  });
});

describe("replica groups read with merge", () => {
  it("answer a limited raw query with the union's first samples, each once", async () => {
    const all = series("a", [0, 1, 2, 3, 4]);
    const federator = new Federator({
      instances: [
        await store("m1", [all[0], all[2], all[4]] as Point[]),
        await store("m2", all.slice(0, 3)),
      ],
      routing: { replicaGroups: [{ name: "same", instances: ["m1", "m2"], read: "merge" }] },
    });
    try {
      const answer = await federator.query(normalizeQuery({ metric: "m", ...range, limit: 3 }));
      expect(answer.points.map((p) => p.value)).toEqual([0, 1, 2]);
    } finally {
      await federator.close();
    }
  });
});

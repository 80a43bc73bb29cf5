/**
 * One instance dead, one hanging, one answering garbage: the answer still arrives within the
 * deadline, partial and accurate about what failed; `partial: deny` makes it an error; the
 * dead instance's circuit opens; only complete results are cached.
 */

import { type Connector, createConnector } from "@entente/connectors";
import { type AnswerItem, EntenteError, joinAnswerItems, msgpackCodec } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import {
  freePort,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, hostFederation, startFederationWorker } from "./support.ts";

interface Stats {
  instances: Record<string, { queries: number; errors: number; circuit: string }>;
  cache: { hits: number; misses: number; entries: number };
  httpPort: number;
}

describe("partial failure", () => {
  let nats: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  const subs: Subscription[] = [];
  let hangingRequests = 0;
  let pg: PostgresService;
  let slowDb: Connector;
  let slowUrl: string;

  /** Statements still running pg_sleep in the slow instance's database. */
  async function sleepingStatements(): Promise<number> {
    const result = await slowDb.query({
      sql: "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%points%' AND query NOT LIKE '%pg_stat_activity%' AND pid <> pg_backend_pid()",
      params: [],
    });
    let n = 0;
    for await (const batch of result.batches) n = Number(batch[0]?.[0]);
    return n;
  }

  beforeAll(async () => {
    [nats, pg] = await Promise.all([startNatsServer(), postgres()]);
    // Slow: every read of its points sleeps far past any deadline here.
    slowUrl = await pg.createDatabase();
    slowDb = await createConnector("slow-setup", { kind: "postgres", url: slowUrl });
    await slowDb.execute({
      sql: "CREATE TABLE real_points (metric text, tags jsonb, time bigint, value float8)",
      params: [],
    });
    // A function scan runs whole whatever the filter, so every read really sleeps.
    await slowDb.execute({
      sql: `CREATE FUNCTION slow_points() RETURNS SETOF real_points LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_sleep(60); RETURN QUERY SELECT * FROM real_points; END $$`,
      params: [],
    });
    await slowDb.execute({ sql: "CREATE VIEW points AS SELECT * FROM slow_points()", params: [] });
    const deadPort = await freePort();
    ({ nc, client } = await clientOf(nats.url, "json"));
    // Hangs: takes the request and never answers.
    subs.push(
      nc.subscribe("test.hang.query.federate", {
        callback: () => {
          hangingRequests++;
        },
      }),
    );
    // Garbage: answers, but not with anything a federation would say.
    subs.push(
      nc.subscribe("test.junk.query.federate", {
        callback: (_err, msg) => {
          msg.respond(msgpackCodec.encode({ partials: [["not", "a", "partial"]], points: [[1]] }));
        },
      }),
    );
    await nc.flush();
    worker = await startFederationWorker(
      nats.url,
      `instances:
  good: { kind: duckdb }
  dead: { kind: postgres, url: "postgres://postgres@127.0.0.1:${deadPort}/gone", table: points }
  hang: { kind: entente, subject: test.hang.query }
  junk: { kind: entente, subject: test.junk.query }
  slow: { kind: postgres, url: "${slowUrl}", table: points }
queryFederation:
  demo: true
  instanceTimeoutMs: 600
  retry: { attempts: 2, backoffMs: 20 }
  breaker: { failureThreshold: 3, openMs: 600000 }
  cache: { enabled: true, maxEntries: 10, ttlMs: 600000 }
  http: { port: 0 }
`,
    );
  }, 60_000);

  afterAll(async () => {
    for (const s of subs) s.unsubscribe();
    await nc?.close();
    await worker?.stop();
    await slowDb?.close();
    await Promise.allSettled([nats?.stop(), pg?.stop()]);
  });

  // Fixed instants, so two asks a moment apart cover exactly the same points.
  const end = new Date();
  const aggregated = {
    metric: "cpu_usage",
    start: new Date(end.getTime() - 2 * 3_600_000).toISOString(),
    end: end.toISOString(),
    aggregation: { function: "avg", window: "10m", by: "host" },
    timeoutMs: 2_500,
  };

  async function ask(query: unknown): Promise<AnswerItem> {
    // The caller waits twice the query's budget: an answer after the deadline fails this.
    return joinAnswerItems(await client.collect("entente.query", query, { timeoutMs: 5_000 }));
  }

  it("answers within the deadline with what arrived, naming each failure", async () => {
    const answer = await ask(aggregated);
    expect(answer.partial?.succeeded).toBe(1);
    expect(answer.partial?.total).toBe(5);
    const byInstance = Object.fromEntries(
      (answer.partial?.errors ?? []).map((e) => [e.instance, e]),
    );
    expect(Object.keys(byInstance).sort()).toEqual(["dead", "hang", "junk", "slow"]);
    expect(byInstance.slow?.code).toBe("DEADLINE_EXCEEDED");
    expect(byInstance.dead?.code).toBe("UNAVAILABLE");
    expect(byInstance.hang?.code).toBe("DEADLINE_EXCEEDED");
    expect(byInstance.junk?.code).toBe("BAD_RESPONSE");
    expect(byInstance.junk?.message).toMatch(/junk/);
    expect(hangingRequests).toBeGreaterThan(0);

    // Accurate: exactly what the healthy instance holds.
    const alone = await ask({ ...aggregated, tags: { __instance__: "good" } });
    expect(alone.partial).toBeUndefined();
    expect(answer.points).toEqual(alone.points);
    expect(answer.points.length).toBeGreaterThan(0);
  });

  it("cancels the stragglers' work on the database", async () => {
    const until = Date.now() + 10_000;
    while ((await sleepingStatements()) > 0) {
      if (Date.now() > until) throw new Error("the slow instance's statements still run");
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await sleepingStatements()).toBe(0);
  });

  it("records what is still running at the query's deadline as timed out", async () => {
    const answer = await ask({ ...aggregated, timeoutMs: 300 });
    const codes = Object.fromEntries((answer.partial?.errors ?? []).map((e) => [e.instance, e]));
    expect(codes.hang?.code).toBe("DEADLINE_EXCEEDED");
    expect(codes.hang?.message).toMatch(/did not answer within/);
    expect(answer.partial?.succeeded).toBe(1);
  });

  it("answers within the caller's own deadline when the query names none, and stops the rest", async () => {
    // Instances with long timeouts: only the caller's deadline bounds this query.
    const patient = await hostFederation(
      nats.url,
      `instances:
  good: { kind: duckdb }
  hang: { kind: entente, subject: test.hang.query }
  slow: { kind: postgres, url: "${slowUrl}", table: points }
queryFederation:
  subject: entente.r.patient.query
  demo: true
  instanceTimeoutMs: 60000
  ingest: { enabled: false }
`,
    );
    try {
      const { timeoutMs: _none, ...query } = aggregated;
      // Watch the slow statement run while the query is under way.
      let running = true;
      let seenSleeping = 0;
      const watching = (async () => {
        while (running) {
          seenSleeping = Math.max(seenSleeping, await sleepingStatements());
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const items = await client
        .collect("entente.r.patient.query", query, { timeoutMs: 700 })
        .finally(() => {
          running = false;
        });
      await watching;
      expect(seenSleeping).toBeGreaterThan(0);
      const answer = joinAnswerItems(items);
      expect(answer.partial?.succeeded).toBe(1);
      expect(answer.partial?.errors.map((e) => [e.instance, e.code]).sort()).toEqual([
        ["hang", "DEADLINE_EXCEEDED"],
        ["slow", "DEADLINE_EXCEEDED"],
      ]);
      expect(answer.points.length).toBeGreaterThan(0);
      // The executor's deadline stopped the slow instance's statement (it would sleep 60 s).
      const until = Date.now() + 10_000;
      while ((await sleepingStatements()) > 0) {
        if (Date.now() > until) throw new Error("the slow instance's statement still runs");
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await patient.stop();
    }
  });

  it("returns raw points partially too", async () => {
    const answer = await ask({ metric: "cpu_usage", start: "-20m", timeoutMs: 2_500 });
    expect(answer.partial?.succeeded).toBe(1);
    expect(answer.points.length).toBeGreaterThan(0);
    expect(new Set(answer.points.map((p) => p.tags.__instance__))).toEqual(new Set(["good"]));
  });

  it("turns any failure into an error with partial: deny", async () => {
    const error = await client
      .request("entente.query", { ...aggregated, partial: "deny" }, { timeoutMs: 5_000 })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(EntenteError);
    expect((error as EntenteError).code).toBe("UNAVAILABLE");
    expect((error as EntenteError).message).toMatch(/partial: deny.*4 of 5 instances failed/);
    expect((error as EntenteError).message).toMatch(/dead/);
  });

  it("opens the circuit of an instance that keeps failing, and stops calling it", async () => {
    const stats = (await client.request("entente.query.stats", {})) as Stats;
    expect(stats.instances.dead?.circuit).toBe("open");
    expect(stats.instances.good?.circuit).toBe("closed");
    const before = stats.instances.dead?.queries ?? 0;
    const answer = await ask(aggregated);
    const dead = answer.partial?.errors.find((e) => e.instance === "dead");
    expect(dead?.message).toMatch(/circuit open/);
    const after = (await client.request("entente.query.stats", {})) as Stats;
    expect(after.instances.dead?.queries).toBe(before);
  });

  it("caches complete results only", async () => {
    const complete = {
      ...aggregated,
      tags: { __instance__: "good" },
      end: "1800000000000000000",
      start: "1700000000000000000",
    };
    const first = (await client.request("entente.query.stats", {})) as Stats;
    await ask(complete);
    await ask(complete);
    const second = (await client.request("entente.query.stats", {})) as Stats;
    expect(second.cache.hits - first.cache.hits).toBe(1);
    // A partial answer is never stored: asking again misses again.
    const partialQuery = {
      ...aggregated,
      end: "1800000000000000000",
      start: "1700000000000000000",
    };
    await ask(partialQuery);
    await ask(partialQuery);
    const third = (await client.request("entente.query.stats", {})) as Stats;
    expect(third.cache.hits).toBe(second.cache.hits);
    expect(third.cache.misses - second.cache.misses).toBe(2);
  });

  it("serves the same answers over HTTP, with a health endpoint", async () => {
    const { httpPort } = (await client.request("entente.query.stats", {})) as Stats;
    const base = `http://127.0.0.1:${httpPort}`;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { instances: Record<string, string> }).instances.dead).toBe(
      "open",
    );
    const ok = await fetch(`${base}/federated/query`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...aggregated, tags: { __instance__: "good" } }),
    });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as AnswerItem;
    expect(body.points.length).toBeGreaterThan(0);
    const bad = await fetch(`${base}/federated/query`, {
      method: "POST",
      body: JSON.stringify({ metric: "cpu_usage", aggregation: { function: "median" } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/median/);
    const denied = await fetch(`${base}/federated/query`, {
      method: "POST",
      body: JSON.stringify({ ...aggregated, partial: "deny" }),
    });
    expect(denied.status).toBe(503);
  });
});

/**
 * Every aggregation, federated over three instances of different kinds (DuckDB fed through
 * ingest, PostgreSQL, MariaDB with its own column names), equals the same aggregation computed
 * directly over all the data in one PostgreSQL database. A federation above the first one
 * (hierarchical, over NATS) gives the same answers from unmerged partials.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { AGGREGATION_FUNCTIONS, joinAnswerItems, toJson } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Point } from "../src/index.ts";
import { closeTo, generatePoints, SECOND } from "./generate.ts";
import { clientOf, hostFederation, startFederationWorker } from "./support.ts";

const START = 1_700_000_000n * SECOND;
const END = START + 1800n * SECOND;

async function insertPoints(
  connector: Connector,
  table: string,
  columns: [string, string, string, string],
  points: Point[],
): Promise<void> {
  const q = (n: string) => connector.dialect.quoteIdentifier(n);
  for (let i = 0; i < points.length; i += 500) {
    const chunk = points.slice(i, i + 500);
    const params: unknown[] = [];
    const rows = chunk.map((p) => {
      const at = params.length;
      params.push(p.metric, JSON.stringify(p.tags), String(p.timestamp), p.value);
      return `(${[1, 2, 3, 4].map((k) => connector.dialect.placeholder(at + k)).join(", ")})`;
    });
    await connector.execute({
      sql: `INSERT INTO ${q(table)} (${columns.map(q).join(", ")}) VALUES ${rows.join(", ")}`,
      params: params as never,
    });
  }
}

interface Case {
  name: string;
  tags: Record<string, unknown>;
  /** The same filter in PostgreSQL, over the reference table. */
  where: string;
}

const CASES: Case[] = [
  { name: "no filter", tags: {}, where: "TRUE" },
  {
    name: "!= and a portable regex (pushed down)",
    tags: { region: { "!=": "eu-west" }, host: { "=~": "h[0-6]" } },
    where:
      "COALESCE(tags->>'region','') <> 'eu-west' AND COALESCE(tags->>'host','') ~ '^(h[0-6])$'",
  },
  {
    name: "a regex applied after the read",
    tags: { host: { "!~": "h\\d*[37]" } },
    where: "COALESCE(tags->>'host','') !~ '^(h\\d*[37])$'",
  },
];

/** The reference: each function written by hand in PostgreSQL over all the points. */
function referenceSql(fn: string, by: string[], windowNs: bigint, where: string): string {
  const groups = by.map((t, i) => `COALESCE(tags->>'${t}','') AS g${i}`);
  const groupCols = ["w", ...by.map((_, i) => `g${i}`)];
  const base = `SELECT time - time % ${windowNs} AS w, ${[...groups, "time", "value", "tags"].join(", ")} FROM all_points WHERE metric = 'm' AND time >= ${START} AND time < ${END} AND ${where}`;
  const g = groupCols.join(", ");
  const simple: Record<string, string> = {
    sum: "SUM(value)",
    count: "COUNT(*)",
    avg: "AVG(value)",
    min: "MIN(value)",
    max: "MAX(value)",
    stddev: "STDDEV_POP(value)",
  };
  if (simple[fn]) return `SELECT ${g}, ${simple[fn]} FROM (${base}) b GROUP BY ${g}`;
  if (fn === "first")
    return `SELECT DISTINCT ON (${g}) ${g}, value FROM (${base}) b ORDER BY ${g}, time ASC, value ASC`;
  if (fn === "last")
    return `SELECT DISTINCT ON (${g}) ${g}, value FROM (${base}) b ORDER BY ${g}, time DESC, value DESC`;
  // rate: per series, increases between consecutive samples within the window, resets from 0.
  return `SELECT ${g}, SUM(inc) / ${Number(windowNs) / 1e9} FROM (
      SELECT ${g}, CASE WHEN pv IS NULL THEN 0 WHEN value >= pv THEN value - pv ELSE value END AS inc
      FROM (SELECT b.*, LAG(value) OVER (PARTITION BY tags::text, w ORDER BY time) AS pv FROM (${base}) b) x
    ) y GROUP BY ${g}`;
}

describe("federated aggregations equal direct computation", () => {
  let nats: NatsServer;
  let pg: PostgresService;
  let maria: MariaDbService;
  let reference: Connector;
  let regional: Worker;
  let global: Awaited<ReturnType<typeof hostFederation>>;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  const setup: Connector[] = [];

  beforeAll(async () => {
    [nats, pg, maria] = await Promise.all([startNatsServer(), postgres(), mariadb()]);
    // Gauges and counters in one metric: counters make rate meaningful, gauges the rest.
    const points = [
      ...generatePoints({ seed: 7, series: 6, perSeries: 150, spanSeconds: 1800 }),
      ...generatePoints({
        seed: 8,
        series: 6,
        perSeries: 150,
        spanSeconds: 1800,
        counter: true,
      }).map((p) => ({ ...p, tags: { ...p.tags, host: `${p.tags.host}c` } })),
    ];
    // Series go to shards whole; every third series is cut in time across two shards.
    const shards: Point[][] = [[], [], []];
    const series = [...new Set(points.map((p) => toJson(p.tags)))];
    for (const p of points) {
      const index = series.indexOf(toJson(p.tags));
      const shard = index % 3 === 0 ? (p.timestamp < START + 900n * SECOND ? 0 : 1) : index % 3;
      (shards[shard] as Point[]).push(p);
    }

    const refUrl = await pg.createDatabase();
    reference = await createConnector("reference", { kind: "postgres", url: refUrl });
    setup.push(reference);
    await reference.execute({
      sql: "CREATE TABLE all_points (metric text, tags jsonb, time bigint, value float8)",
      params: [],
    });
    await insertPoints(reference, "all_points", ["metric", "tags", "time", "value"], points);

    const pgUrl = await pg.createDatabase();
    const pgc = await createConnector("pg-setup", { kind: "postgres", url: pgUrl });
    setup.push(pgc);
    await pgc.execute({
      sql: "CREATE TABLE points (metric text, tags jsonb, time bigint, value float8)",
      params: [],
    });
    await insertPoints(pgc, "points", ["metric", "tags", "time", "value"], shards[1] as Point[]);

    const myUrl = await maria.createDatabase();
    const myc = await createConnector("my-setup", { kind: "mysql", url: myUrl });
    setup.push(myc);
    await myc.execute({
      sql: "CREATE TABLE readings (m VARCHAR(64), labels JSON, ts BIGINT, v DOUBLE, KEY (m, ts))",
      params: [],
    });
    await insertPoints(myc, "readings", ["m", "labels", "ts", "v"], shards[2] as Point[]);

    regional = await startFederationWorker(
      nats.url,
      `instances:
  duck: { kind: duckdb }
  pg: { kind: postgres, url: "${pgUrl}", table: points }
  my: { kind: mysql, url: "${myUrl}", table: readings, columns: { metric: m, tags: labels, time: ts, value: v } }
`,
    );
    global = await hostFederation(
      nats.url,
      `instances:
  regional: { kind: entente, subject: entente.query }
queryFederation:
  subject: entente.r.global.query
  ingest: { enabled: false }
`,
    );
    ({ nc, client } = await clientOf(nats.url));

    // The DuckDB shard arrives through ingest, in batches, as JSON and as MessagePack.
    const duck = shards[0] as Point[];
    expect(duck.length).toBeGreaterThan(200);
    for (let i = 0; i < duck.length; i += 100) {
      const batch = duck.slice(i, i + 100);
      const json = i % 200 === 0;
      const body = json
        ? new TextEncoder().encode(toJson(batch))
        : (await import("@entente/protocol")).msgpackCodec.encode(batch);
      // The ingest endpoint reads JSON only when told, as every Entente endpoint does.
      const h = headers();
      if (json) h.set("content-type", "application/json");
      await nc.request("entente.ingest.duck", body, { timeout: 5_000, headers: h });
    }
    const until = Date.now() + 30_000;
    for (;;) {
      const answer = joinAnswerItems(
        await client.collect("entente.query", {
          metric: "m",
          start: String(START),
          end: String(END),
          tags: { __instance__: "duck" },
          aggregation: { function: "count", window: "1h" },
        }),
      );
      const stored = answer.points.reduce((n, p) => n + (p.value ?? 0), 0);
      if (stored === duck.length) break;
      if (Date.now() > until) throw new Error(`ingest stored ${stored} of ${duck.length} points`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await global?.stop();
    await regional?.stop();
    for (const c of setup) await c.close();
    await Promise.allSettled([pg?.stop(), maria?.stop(), nats?.stop()]);
  });

  for (const testCase of CASES) {
    it(`every function, by several groupings and windows: ${testCase.name}`, async () => {
      let compared = 0;
      for (const fn of AGGREGATION_FUNCTIONS) {
        for (const by of [[], ["region"], ["host"], ["role", "region"]]) {
          for (const window of ["1m", "7s", "10m"]) {
            const windowNs =
              window === "1m" ? 60n * SECOND : window === "7s" ? 7n * SECOND : 600n * SECOND;
            const expected = new Map<string, number>();
            const result = await reference.query({
              sql: referenceSql(fn, by, windowNs, testCase.where),
              params: [],
            });
            for await (const batch of result.batches) {
              for (const row of batch) {
                const key = [String(row[0]), ...row.slice(1, 1 + by.length).map(String)].join("|");
                expected.set(key, Number(row[1 + by.length]));
              }
            }
            const query = {
              metric: "m",
              start: String(START),
              end: String(END),
              tags: testCase.tags,
              aggregation: { function: fn, window, by },
            };
            for (const subject of ["entente.query", "entente.r.global.query"]) {
              const answer = joinAnswerItems(await client.collect(subject, query));
              expect(answer.partial, `${subject} ${fn}`).toBeUndefined();
              const actual = new Map<string, number>();
              for (const p of answer.points) {
                const key = [String(p.timestamp), ...by.map((t) => p.tags[t] ?? "")].join("|");
                actual.set(key, p.value ?? Number.NaN);
              }
              const what = `${subject} ${fn} by [${by}] window ${window}`;
              expect([...actual.keys()].sort(), what).toEqual([...expected.keys()].sort());
              for (const [key, value] of expected) {
                const got = actual.get(key) as number;
                if (!closeTo(got, value, 1e-9))
                  throw new Error(`${what}: ${key}: ${got} ≠ ${value}`);
                compared++;
              }
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(500);
    }, 120_000);
  }

  it("raw points: every stored point once, tagged with its instance, in time order", async () => {
    const answer = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "m",
        start: String(START),
        end: String(END),
      }),
    );
    const result = await reference.query({ sql: "SELECT COUNT(*) FROM all_points", params: [] });
    let total = 0;
    for await (const batch of result.batches) total = Number(batch[0]?.[0]);
    expect(answer.points.length).toBe(total);
    expect(new Set(answer.points.map((p) => p.tags.__instance__))).toEqual(
      new Set(["duck", "pg", "my"]),
    );
    for (let i = 1; i < answer.points.length; i++) {
      expect(
        BigInt(answer.points[i - 1]?.timestamp as bigint) <=
          BigInt(answer.points[i]?.timestamp as bigint),
      ).toBe(true);
    }
    // The same points through the federation above, labelled with the path they took.
    const above = joinAnswerItems(
      await client.collect("entente.r.global.query", {
        metric: "m",
        start: String(START),
        end: String(END),
      }),
    );
    expect(above.points.length).toBe(total);
    expect(new Set(above.points.map((p) => p.tags.__instance__))).toEqual(
      new Set(["regional/duck", "regional/pg", "regional/my"]),
    );
    const limited = joinAnswerItems(
      await client.collect("entente.query", {
        metric: "m",
        start: String(START),
        end: String(END),
        limit: 10,
      }),
    );
    expect(limited.points.map((p) => p.timestamp)).toEqual(
      answer.points.slice(0, 10).map((p) => p.timestamp),
    );
  });
});

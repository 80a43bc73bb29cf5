/**
 * PromQL federated over instances that each hold a shard of the series equals one Prometheus
 * holding all of them: the differential expressions of the engine's own suite, asked over NATS
 * (`entente.promql`) of a federation of Entente stores (DuckDB, two PostgreSQL databases,
 * MariaDB) and of a federation of three real Prometheus servers (`kind: prometheus`), and
 * asked of one Prometheus over all the data.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Connector, createConnector } from "@entente/connectors";
import { EntenteError, joinPromqlItems } from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import {
  generateMetrics,
  type MariaDbService,
  type MetricSeries,
  mariadb,
  metricsLayout,
  type NatsServer,
  type PostgresService,
  type PrometheusServer,
  postgres,
  queryPrometheus,
  shardSeries,
  startNatsServer,
  startPrometheus,
  toOpenMetrics,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  difference,
  fromPrometheus,
  type Outcome,
} from "../../../packages/promql/test/differential/compare.ts";
import { EXPRESSION_GROUPS } from "../../../packages/promql/test/differential/expressions.ts";
import { clientOf, hostFederation, startFederationWorker } from "./support.ts";

const MINUTE = 60_000;
const DATA = { seed: 11, seriesCount: 60, specialValues: true };
const series = generateMetrics(DATA);
const layout = metricsLayout(DATA);

const INSTANTS = [
  layout.start + 10 * MINUTE + 1_234,
  layout.longGap.from + 2 * MINUTE,
  layout.longGap.from + 7 * MINUTE,
  layout.earlyStop + 4 * MINUTE,
  layout.end,
];
const RANGES = [
  { start: layout.start, end: layout.end, step: MINUTE },
  { start: layout.start + 5 * MINUTE + 500, end: layout.end + 6 * MINUTE, step: 37_000 },
];

type Query = { instant: number } | { start: number; end: number; step: number };

/**
 * Answers that depend on the order of the series, which sharding changes: a sum overflowing to
 * infinity in one order and not in another, and topk or bottomk among NaN values (Prometheus'
 * heap compares NaN as neither larger nor smaller, so which ones stay depends on the order).
 */
function orderDependent(expression: string): boolean {
  return (
    expression === "sum(queue_depth * 1e300)" ||
    /\b(topk|bottomk)\s*\(.*edge_values/.test(expression)
  );
}

/** topk and bottomk break ties by the order of the series: compare their values per step. */
const TIE_BREAKING = /\b(topk|bottomk)\s*\(/;

function valuesPerStep(outcome: Outcome): Outcome {
  if (outcome.kind !== "vector" && outcome.kind !== "matrix") return outcome;
  const byStep = new Map<number, number[]>();
  for (const series of outcome.series) {
    for (const [t, v] of series.points) byStep.set(t, [...(byStep.get(t) ?? []), v]);
  }
  const ranks: Array<Array<readonly [number, number]>> = [];
  for (const [t, values] of [...byStep].sort((a, b) => a[0] - b[0])) {
    values.sort((a, b) => a - b);
    values.forEach((v, rank) => {
      ranks[rank] = [...(ranks[rank] ?? []), [t, v] as const];
    });
  }
  return {
    kind: outcome.kind,
    series: ranks.map((points, rank) => ({ labels: { rank: String(rank) }, points })),
  };
}

const seconds = (ms: number) => ms / 1000;

function describeQuery(query: Query): string {
  return "instant" in query
    ? `instant ${new Date(query.instant).toISOString()}`
    : `range ${new Date(query.start).toISOString()}..${new Date(query.end).toISOString()} step ${query.step / 1000}s`;
}

/** Each expression once as an instant and once as a range query, times rotating. */
function queriesOf(index: number, instantOnly: boolean): Query[] {
  const instant = { instant: INSTANTS[index % INSTANTS.length] as number };
  if (instantOnly) return [instant];
  return [instant, RANGES[index % RANGES.length] as Query];
}

/** MariaDB's DOUBLE keeps neither NaN nor infinities, and reads -0 back as 0. */
function storableInMariadb(s: MetricSeries): boolean {
  return s.samples.every((p) => Number.isFinite(p.v) && !Object.is(p.v, -0));
}

async function createPointsTable(
  connector: Connector,
  shard: readonly MetricSeries[],
  table = "points",
): Promise<void> {
  const q = (n: string) => connector.dialect.quoteIdentifier(n);
  const tags = connector.dialect.kind === "postgres" ? "jsonb" : "JSON";
  await connector.execute({
    sql: `CREATE TABLE ${q(table)} (metric VARCHAR(200), tags ${tags}, ${q("time")} BIGINT, value DOUBLE PRECISION)`,
    params: [],
  });
  const rows = shard.flatMap((s) => {
    const { __name__: metric, ...rest } = s.labels;
    const text = JSON.stringify(rest);
    // Drivers send numbers as their JavaScript text, which drops the sign of -0.
    const value = (v: number) => (Object.is(v, -0) ? "-0" : v);
    return s.samples.map(
      (p) => [metric, text, String(BigInt(p.t) * 1_000_000n), value(p.v)] as const,
    );
  });
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    const params: unknown[] = [];
    const values = chunk.map((row) => {
      const at = params.length;
      params.push(...row);
      return `(${[1, 2, 3, 4].map((k) => connector.dialect.placeholder(at + k)).join(", ")})`;
    });
    await connector.execute({
      sql: `INSERT INTO ${q(table)} (metric, tags, ${q("time")}, value) VALUES ${values.join(", ")}`,
      params: params as never,
    });
  }
}

describe("PromQL federated over shards equals one Prometheus over all the data", () => {
  let nats: NatsServer;
  let pg: PostgresService;
  let maria: MariaDbService;
  let whole: PrometheusServer;
  const shards: PrometheusServer[] = [];
  let stores: Worker;
  let proms: Awaited<ReturnType<typeof hostFederation>>;
  let nc: NatsConnection;
  let client: Awaited<ReturnType<typeof clientOf>>["client"];
  let dir: string | undefined;

  beforeAll(async () => {
    [nats, pg, maria, whole] = await Promise.all([
      startNatsServer(),
      postgres(),
      mariadb(),
      startPrometheus({ openMetrics: toOpenMetrics(series) }),
    ]);
    // Entente stores: series whole per instance; the series MariaDB cannot hold go elsewhere.
    const [duck = [], pg1 = [], pg2 = [], my = []] = shardSeries(series, 4);
    const moved = my.filter((s) => !storableInMariadb(s));
    const myFinite = my.filter(storableInMariadb);
    dir = await mkdtemp(join(tmpdir(), "entente-promql-federation-"));
    const duckPath = join(dir, "duck.duckdb");
    const duckSetup = await createConnector("duck-setup", { kind: "duckdb", path: duckPath });
    await createPointsTable(duckSetup, duck);
    await duckSetup.close();
    const urls: string[] = [];
    for (const [shard, kind] of [
      [[...pg1, ...moved], "pg"],
      [pg2, "pg"],
      [myFinite, "my"],
    ] as const) {
      const url = kind === "pg" ? await pg.createDatabase() : await maria.createDatabase();
      const setup = await createConnector(`${kind}-setup`, {
        kind: kind === "pg" ? "postgres" : "mysql",
        url,
      });
      await createPointsTable(setup, shard);
      await setup.close();
      urls.push(url);
    }
    stores = await startFederationWorker(
      nats.url,
      `sources:
  duck: { kind: duckdb, path: "${duckPath}" }
  pg1: { kind: postgres, url: "${urls[0]}" }
  pg2: { kind: postgres, url: "${urls[1]}" }
  my: { kind: mysql, url: "${urls[2]}" }
instances:
  duck: { source: duck }
  pg1: { source: pg1, table: points }
  pg2: { source: pg2, table: points }
  my: { source: my, table: points }
queryFederation:
  ingest: { enabled: false }
`,
    );
    // Real Prometheus servers, a third of the series each.
    for (const shard of shardSeries(series, 3)) {
      shards.push(await startPrometheus({ openMetrics: toOpenMetrics(shard) }));
    }
    proms = await hostFederation(
      nats.url,
      `instances:
${shards.map((p, i) => `  prom${i}: { kind: prometheus, url: "${p.url}" }`).join("\n")}
queryFederation:
  subject: entente.r.prom.query
  promql: { subject: entente.r.prom.promql }
  ingest: { enabled: false }
`,
    );
    ({ nc, client } = await clientOf(nats.url));
  }, 180_000);

  afterAll(async () => {
    await nc?.close();
    await stores?.stop();
    await proms?.stop();
    await Promise.allSettled([
      ...shards.map((p) => p.stop()),
      whole?.stop(),
      pg?.stop(),
      maria?.stop(),
      nats?.stop(),
    ]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function askPrometheus(expression: string, query: Query): Promise<Outcome> {
    const answer =
      "instant" in query
        ? await queryPrometheus(whole.url, "/api/v1/query", {
            query: expression,
            time: String(seconds(query.instant)),
          })
        : await queryPrometheus(whole.url, "/api/v1/query_range", {
            query: expression,
            start: String(seconds(query.start)),
            end: String(seconds(query.end)),
            step: String(seconds(query.step)),
          });
    return fromPrometheus(answer);
  }

  async function askEntente(subject: string, expression: string, query: Query): Promise<Outcome> {
    const request =
      "instant" in query
        ? { query: expression, time: seconds(query.instant) }
        : {
            query: expression,
            start: seconds(query.start),
            end: seconds(query.end),
            step: seconds(query.step),
          };
    try {
      const data = joinPromqlItems(await client.collect(subject, request, { timeoutMs: 30_000 }));
      return fromPrometheus({ status: "success", data });
    } catch (err) {
      if (err instanceof EntenteError && typeof err.details?.errorType === "string") {
        return { kind: "error", errorType: err.details.errorType, message: err.message };
      }
      // A request the contract refuses (an empty query) is bad data, as the HTTP API says.
      if (err instanceof EntenteError && err.code === "BAD_REQUEST") {
        return { kind: "error", errorType: "bad_data", message: err.message };
      }
      throw err;
    }
  }

  for (const [federation, subject] of [
    ["Entente stores", "entente.promql"],
    ["Prometheus instances", "entente.r.prom.promql"],
  ] as const) {
    for (const group of EXPRESSION_GROUPS) {
      it(`${federation}: ${group.name}`, async () => {
        const mismatches: string[] = [];
        let compared = 0;
        for (const [index, expression] of group.expressions.entries()) {
          if (orderDependent(expression)) continue;
          const ties = TIE_BREAKING.test(expression);
          for (const query of queriesOf(index, group.instantOnly === true)) {
            let expected = await askPrometheus(expression, query);
            let actual = await askEntente(subject, expression, query);
            if (ties) [expected, actual] = [valuesPerStep(expected), valuesPerStep(actual)];
            const ordered = "instant" in query && /^\s*sort(_desc)?\s*\(/.test(expression);
            const found = difference(expected, actual, { ordered });
            if (found) mismatches.push(`${expression} at ${describeQuery(query)}:\n  ${found}`);
            compared += 1;
          }
        }
        expect(compared).toBeGreaterThan(0);
        expect(mismatches, mismatches.join("\n")).toEqual([]);
      }, 120_000);
    }
  }
});

/**
 * PromQL federation against one real Prometheus, in one run. The query is
 * `sum by (job) (rate(http_requests_total[5m]))` as a range query over 1 hour at 15 s steps;
 * 1,000 counter series per instance across 4 instances. Printed:
 *  - over 4 Entente stores (DuckDB files, a worker process) / one Prometheus holding all 4,000
 *    series, queried directly;
 *  - over 4 real Prometheus servers holding a quarter each (`kind: prometheus`, the sum and rate
 *    pushed down) / the same one Prometheus.
 * Both are timed as their users see them: the Entente answer over NATS (`entente.promql`),
 * Prometheus' over HTTP (`/api/v1/query_range`), by the same client, medians of several rounds.
 *
 *   node --conditions=@entente/source test/bench/promql.bench.ts
 *   (BENCH_SERIES=1000 per instance, BENCH_ROUNDS=9)
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createConnector } from "@entente/connectors";
import { joinPromqlItems } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type MetricSeries,
  type PrometheusServer,
  queryPrometheus,
  startNatsServer,
  startProcess,
  startPrometheus,
  toOpenMetrics,
} from "@entente/testkit";
import { connect } from "@nats-io/transport-node";

const INSTANCES = 4;
const SERIES = Number(process.env.BENCH_SERIES ?? 1_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const SCRAPE_MS = 15_000;
const START = Date.UTC(2025, 0, 1);
/** An hour queried, and the 5 minutes of lookback before it. */
const DATA_MS = 65 * 60_000;
const QUERY = {
  query: "sum by (job) (rate(http_requests_total[5m]))",
  start: (START + 5 * 60_000) / 1000,
  end: (START + DATA_MS) / 1000,
  step: 15,
};
const WORKER = resolve(import.meta.dirname, "../../services/query-federation/test/worker-main.ts");
const JOBS = ["api", "web", "batch", "auth", "search", "billing", "mail", "media"];

/** Counters that grow at their own rates, each with a reset somewhere in the hour. */
function shardOf(instance: number): MetricSeries[] {
  const out: MetricSeries[] = [];
  for (let s = 0; s < SERIES; s++) {
    const id = instance * SERIES + s;
    const labels = {
      __name__: "http_requests_total",
      job: JOBS[id % JOBS.length] as string,
      instance: `host-${instance}-${Math.floor(s / 10)}:9100`,
      path: `/p${s % 10}`,
    };
    const perScrape = 1 + (id % 17);
    const resetAt = (id * 7) % 260;
    const samples = [];
    let value = id % 100;
    for (let i = 0; i * SCRAPE_MS <= DATA_MS; i++) {
      value = i === resetAt ? 0 : value + perScrape + ((i * id) % 5);
      samples.push({ t: START + i * SCRAPE_MS + (id % 1000), v: value });
    }
    out.push({ labels, samples });
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timedRounds(run: () => Promise<unknown>): Promise<number> {
  for (let r = 0; r < 2; r++) await run(); // warm caches, plans and connections
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return median(times);
}

/** The answer's (job, step) values, to check that the three ways agree before timing them. */
function valuesOf(result: Array<{ metric: Record<string, string>; values: [number, string][] }>) {
  const out = new Map<string, number>();
  for (const series of result) {
    for (const [t, v] of series.values) out.set(`${series.metric.job}@${t}`, Number(v));
  }
  return out;
}

function assertSame(what: string, expected: Map<string, number>, actual: Map<string, number>) {
  if (expected.size !== actual.size) {
    throw new Error(`${what}: ${actual.size} values, Prometheus has ${expected.size}`);
  }
  for (const [key, value] of expected) {
    const other = actual.get(key);
    if (other === undefined || Math.abs(other - value) > 1e-6 * Math.max(1, Math.abs(value))) {
      throw new Error(`${what}: ${key} is ${other}, Prometheus says ${value}`);
    }
  }
}

const dir = await mkdtemp(join(tmpdir(), "entente-promql-bench-"));
const nats = await startNatsServer();
const servers: PrometheusServer[] = [];
const workers: ManagedProcess[] = [];
try {
  const shards = Array.from({ length: INSTANCES }, (_, i) => shardOf(i));
  const samples = shards.flat().reduce((n, s) => n + s.samples.length, 0);
  process.stdout.write(
    `data: ${INSTANCES} × ${SERIES} series, ${samples.toLocaleString("en")} samples; backfilling Prometheus …\n`,
  );
  const whole = await startPrometheus({ openMetrics: toOpenMetrics(shards.flat()) });
  servers.push(whole);
  for (const shard of shards)
    servers.push(await startPrometheus({ openMetrics: toOpenMetrics(shard) }));

  process.stdout.write("loading the Entente stores …\n");
  for (const [i, shard] of shards.entries()) {
    const csv = join(dir, `shard-${i}.csv`);
    const lines = ["metric,tags,time,value"];
    for (const s of shard) {
      const { __name__: metric, ...tags } = s.labels;
      const quoted = `"${JSON.stringify(tags).replaceAll('"', '""')}"`;
      for (const p of s.samples)
        lines.push(`${metric},${quoted},${BigInt(p.t) * 1_000_000n},${p.v}`);
    }
    await writeFile(csv, `${lines.join("\n")}\n`);
    const setup = await createConnector(`setup-${i}`, {
      kind: "duckdb",
      path: join(dir, `store-${i}.duckdb`),
    });
    await setup.execute({
      sql: `CREATE TABLE points AS SELECT metric, tags::JSON AS tags, "time"::BIGINT AS "time", value::DOUBLE AS value, NULL::BIGINT AS ingest_seq FROM read_csv('${csv}', header = true, quote = '"', escape = '"', columns = {'metric': 'VARCHAR', 'tags': 'VARCHAR', 'time': 'BIGINT', 'value': 'DOUBLE'})`,
      params: [],
    });
    await setup.close();
  }

  const limits = `  limits: { maxPoints: 5000000, maxBytes: 1073741824 }
  defaultTimeoutMs: 120000
  instanceTimeoutMs: 120000
  ingest: { enabled: false }`;
  const storesConfig = join(dir, "stores.yaml");
  await writeFile(
    storesConfig,
    `nats: { servers: ["${nats.url}"] }
log: { level: info }
sources:
${shards.map((_, i) => `  store${i}: { kind: duckdb, path: "${join(dir, `store-${i}.duckdb`)}", readOnly: true }`).join("\n")}
instances:
${shards.map((_, i) => `  store${i}: { source: store${i} }`).join("\n")}
queryFederation:
${limits}
`,
  );
  const promsConfig = join(dir, "proms.yaml");
  await writeFile(
    promsConfig,
    `nats: { servers: ["${nats.url}"] }
log: { level: info }
instances:
${servers
  .slice(1)
  .map((p, i) => `  prom${i}: { kind: prometheus, url: "${p.url}" }`)
  .join("\n")}
queryFederation:
  subject: entente.r.prom.query
  promql: { subject: entente.r.prom.promql }
${limits}
`,
  );
  for (const config of [storesConfig, promsConfig]) {
    workers.push(
      await startProcess({
        name: "query-federation worker",
        command: process.execPath,
        args: ["--conditions=@entente/source", WORKER, config],
        readyLine: /"msg":"service started"/,
        timeoutMs: 60_000,
      }),
    );
  }

  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const client = new EntenteClient(nc);
  const ask = (subject: string) => async () =>
    joinPromqlItems(await client.collect(subject, QUERY, { timeoutMs: 120_000 }));
  const askPrometheus = async () => {
    const answer = await queryPrometheus(whole.url, "/api/v1/query_range", {
      query: QUERY.query,
      start: String(QUERY.start),
      end: String(QUERY.end),
      step: String(QUERY.step),
    });
    if (answer.status !== "success") throw new Error(`Prometheus: ${answer.error}`);
    return answer.data as {
      result: Array<{ metric: Record<string, string>; values: [number, string][] }>;
    };
  };

  // The three must agree before their times mean anything.
  const expected = valuesOf((await askPrometheus()).result);
  for (const subject of ["entente.promql", "entente.r.prom.promql"]) {
    const answer = await ask(subject)();
    if (answer.resultType !== "matrix") throw new Error(`${subject}: ${answer.resultType}`);
    assertSame(subject, expected, valuesOf(answer.result));
  }

  const prometheusMs = await timedRounds(askPrometheus);
  const storesMs = await timedRounds(ask("entente.promql"));
  const promsMs = await timedRounds(ask("entente.r.prom.promql"));
  const row = (what: string, ms: number, target: string) =>
    `${what.padEnd(46)} ${ms.toFixed(1).padStart(8)} ms  ${(ms / prometheusMs).toFixed(2).padStart(6)}×  (target ${target})`;
  process.stdout.write(
    [
      "",
      `${QUERY.query}, 1 h at 15 s steps, medians of ${ROUNDS}:`,
      `${"one Prometheus, all series (baseline)".padEnd(46)} ${prometheusMs.toFixed(1).padStart(8)} ms`,
      row(`Entente over ${INSTANCES} stores (DuckDB)`, storesMs, "≤ 2×"),
      row(`Entente over ${INSTANCES} Prometheus servers`, promsMs, "≤ 1.3×"),
      "",
    ].join("\n"),
  );
  await nc.close();
} finally {
  for (const worker of workers) await worker.stop();
  await Promise.allSettled(servers.map((s) => s.stop()));
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}

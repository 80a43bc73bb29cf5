/**
 * Query federation over 8 DuckDB instances with 200,000 points each. Prints, in one run:
 *  - the federated `sum` by 1 minute: its latency over the slowest single instance's latency for
 *    the same query (each measured alone), and over the slowest instance's own time inside the
 *    federated run (what the executor adds on top of waiting for its slowest instance);
 *  - raw points per second through the executor;
 *  - queries per second with one and with two worker processes.
 *
 *   node --conditions=@entente/source test/bench/query-federation.bench.ts
 *   (BENCH_SECONDS=3 per qps run by default; BENCH_POINTS=200000 per instance)
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createConnector } from "@entente/connectors";
import { DuckdbStore, Federator, normalizeQuery, type Point } from "@entente/query-federation";
import { EntenteClient } from "@entente/runtime";
import { type ManagedProcess, startNatsServer, startProcess } from "@entente/testkit";
import { connect } from "@nats-io/transport-node";

const INSTANCES = 8;
const POINTS = Number(process.env.BENCH_POINTS ?? 200_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SERIES = 10;
const SECOND = 1_000_000_000n;
const BASE = 1_700_000_000n * SECOND;
const SPAN = BigInt(POINTS / SERIES) * SECOND;
const WORKER = resolve(import.meta.dirname, "../../services/query-federation/test/worker-main.ts");

function pointsOf(instance: number): Point[] {
  const points: Point[] = [];
  for (let s = 0; s < SERIES; s++) {
    const tags = { host: `i${instance}-h${s}`, region: `r${instance % 3}` };
    for (let i = 0; i < POINTS / SERIES; i++) {
      points.push({
        metric: "load",
        tags,
        timestamp: BASE + BigInt(i) * SECOND,
        value: ((i * 7 + s * 13 + instance) % 1000) / 10,
      });
    }
  }
  return points;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timed<T>(run: () => Promise<T>): Promise<[number, T]> {
  const started = performance.now();
  const value = await run();
  return [performance.now() - started, value];
}

const dir = await mkdtemp(join(tmpdir(), "entente-qf-bench-"));
const names = Array.from({ length: INSTANCES }, (_, i) => `shard-${i}`);
const path = (name: string) => join(dir, `${name}.duckdb`);
const workers: ManagedProcess[] = [];
const nats = await startNatsServer();
try {
  process.stdout.write(`loading ${INSTANCES} × ${POINTS} points …\n`);
  for (const [i, name] of names.entries()) {
    const store = new DuckdbStore(
      name,
      await createConnector(name, { kind: "duckdb", path: path(name) }),
    );
    await store.ensureSchema();
    await store.load(pointsOf(i));
    await store.close();
  }

  const stores = await Promise.all(
    names.map(
      async (name) =>
        new DuckdbStore(
          name,
          await createConnector(name, { kind: "duckdb", path: path(name), readOnly: true }),
          "points",
          true,
        ),
    ),
  );
  const federator = new Federator({
    instances: stores,
    settings: {
      maxPoints: 2_000_000,
      maxBytes: 1024 * 1024 * 1024,
      defaultTimeoutMs: 120_000,
      instanceTimeoutMs: 120_000,
    },
  });
  const sumQuery = {
    metric: "load",
    start: String(BASE),
    end: String(BASE + SPAN),
    aggregation: { function: "sum", window: "1m" },
  };
  const q = (extra: Record<string, unknown> = {}) => normalizeQuery({ ...sumQuery, ...extra });
  const ROUNDS = 7;
  // Warm every instance (caches, prepared plans) before measuring.
  for (let r = 0; r < 2; r++) await federator.query(q());

  const single: number[] = [];
  for (const name of names) {
    const times: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      times.push((await timed(() => federator.query(q({ tags: { __instance__: name } }))))[0]);
    }
    single.push(median(times));
  }
  const slowestAlone = Math.max(...single);

  const federated: number[] = [];
  const slowestInside: number[] = [];
  let windows = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // Each instance's own time inside this run, from its latency samples.
    const calls = new Map<string, number>();
    const wrapped = stores.map((store) => ({
      name: store.name,
      kind: store.kind,
      fetchRaw: store.fetchRaw.bind(store),
      close: async () => {},
      fetchPartials: async (...args: Parameters<typeof store.fetchPartials>) => {
        const [ms, result] = await timed(() => store.fetchPartials(...args));
        calls.set(store.name, ms);
        return result;
      },
    }));
    const measuring = new Federator({
      instances: wrapped,
      settings: { defaultTimeoutMs: 120_000, instanceTimeoutMs: 120_000 },
    });
    const [ms, answer] = await timed(() => measuring.query(q()));
    federated.push(ms);
    slowestInside.push(Math.max(...calls.values()));
    windows = answer.points.length;
  }
  const fed = median(federated);
  const inside = median(slowestInside);
  process.stdout.write(
    `\nsum by 1m over ${INSTANCES} instances (${windows} windows):\n` +
      `  federated                       ${fed.toFixed(1)} ms (median of ${ROUNDS})\n` +
      `  slowest instance alone          ${slowestAlone.toFixed(1)} ms  → ratio ${(fed / slowestAlone).toFixed(2)}\n` +
      `  slowest instance inside the run ${inside.toFixed(1)} ms  → ratio ${(fed / inside).toFixed(2)} (target ≤ 1.3)\n` +
      `  (all ${INSTANCES} instances share this machine's ${(await import("node:os")).availableParallelism()} cores: measured alone, each had them to itself)\n`,
  );

  // Raw points through the executor: a quarter of the range from every instance.
  const rawQuery = normalizeQuery({
    metric: "load",
    start: String(BASE),
    end: String(BASE + SPAN / 4n),
  });
  const rawRuns: number[] = [];
  let rawPoints = 0;
  for (let r = 0; r < 3; r++) {
    const [ms, answer] = await timed(() => federator.query(rawQuery));
    rawPoints = answer.points.length;
    rawRuns.push(ms);
  }
  const rawMs = median(rawRuns);
  process.stdout.write(
    `\nraw points through the executor: ${rawPoints} points in ${rawMs.toFixed(0)} ms → ${Math.round((rawPoints / rawMs) * 1000).toLocaleString("en")} points/s\n`,
  );
  await federator.close();

  // Queries per second through NATS with one and with two worker processes.
  const configFile = join(dir, "entente.yaml");
  await writeFile(
    configFile,
    `nats: { servers: ["${nats.url}"] }\nlog: { level: info }\nsources:\n${names
      .map((n) => `  ${n}: { kind: duckdb, path: ${path(n)}, readOnly: true }`)
      .join("\n")}\ninstances:\n${names
      .map((n) => `  ${n}: { source: ${n} }`)
      .join("\n")}\nqueryFederation: { ingest: { enabled: false } }\n`,
  );
  const startWorker = (n: number) =>
    startProcess({
      name: `query-federation worker ${n}`,
      command: process.execPath,
      args: ["--conditions=@entente/source", WORKER, configFile],
      readyLine: /"msg":"service started"/,
      timeoutMs: 60_000,
    });
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const client = new EntenteClient(nc);
  const lastTenMinutes = { ...sumQuery, start: String(BASE + SPAN - 600n * SECOND) };
  const qps = async (label: string, query: unknown) => {
    for (let i = 0; i < 4; i++) await client.request("entente.query", query, { timeoutMs: 60_000 });
    let done = 0;
    const until = performance.now() + SECONDS * 1000;
    const began = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < until) {
          await client.request("entente.query", query, { timeoutMs: 60_000 });
          done++;
        }
      }),
    );
    const rate = done / ((performance.now() - began) / 1000);
    process.stdout.write(`  ${label.padEnd(40)} ${rate.toFixed(1)} queries/s\n`);
    return rate;
  };
  process.stdout.write(`\nqueries per second (8 in flight, ${SECONDS} s each):\n`);
  workers.push(await startWorker(1));
  const oneFull = await qps("1 worker, sum by 1m, whole range", sumQuery);
  const oneRecent = await qps("1 worker, sum by 1m, last 10 minutes", lastTenMinutes);
  workers.push(await startWorker(2));
  const twoFull = await qps("2 workers, sum by 1m, whole range", sumQuery);
  const twoRecent = await qps("2 workers, sum by 1m, last 10 minutes", lastTenMinutes);
  process.stdout.write(
    `  two workers / one: ${(twoFull / oneFull).toFixed(2)} (whole range), ${(twoRecent / oneRecent).toFixed(2)} (last 10 minutes)\n`,
  );
  await nc.close();
} finally {
  for (const w of workers) await w.stop("SIGTERM", 10_000).catch(() => undefined);
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}

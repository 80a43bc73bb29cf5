/**
 * Reads by id across three regions on loopback, each its own nats-server, worker process (region
 * router and sql-join) and PostgreSQL database holding the rows it owns. Every region is reached by
 * the others through a proxy adding 20 ms one way, so a read from an owner region costs a 40 ms
 * round trip at least. A client in region 1 sends `entente.data.get` requests of one id each:
 * 70% owned locally, 30% by regions 2 and 3, each side drawn with a Zipf popularity.
 *
 * The same workload runs twice, on fresh regions: with replication off, then on. Each run
 * warms up first (the same requests in both), then measures. Prints p50/p99 latency, fetches
 * from owner regions per request, replica hits and the replica bytes held against the budget.
 *
 *   node --conditions=@entente/source test/bench/regions.bench.ts
 *   (BENCH_GETS=10000, BENCH_WARMUP=20000, BENCH_IN_FLIGHT=8, BENCH_REMOTE_IDS=250,
 *    BENCH_ZIPF=1.1, BENCH_SEED=1)
 */

import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { discover } from "@entente/client";
import { createConnector } from "@entente/connectors";
import { type DataGetReply, encodeId, type RegionsReply, SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type DelayProxy,
  eventually,
  type ManagedProcess,
  type NatsServer,
  type PostgresService,
  postgres,
  seededRandom,
  startDelayProxy,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { percentile } from "./stats.ts";

const GETS = Number(process.env.BENCH_GETS ?? 10_000);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20_000);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 8);
/** Ids per region that remote readers draw from; the local side draws from as many per region. */
const REMOTE_IDS = Number(process.env.BENCH_REMOTE_IDS ?? 250);
const LOCAL_IDS = 5_000;
const ZIPF = Number(process.env.BENCH_ZIPF ?? 1.1);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const ONE_WAY_MS = 20;
const LOCAL_SHARE = 0.7;
const BUDGET_BYTES = 256 * 1024;
const REPLICATION = `{ enabled: true, readsToReplicate: 1, windowMs: 60000, maxStalenessMs: 5000, budgetBytes: ${BUDGET_BYTES} }`;
const ROUTER =
  "probeIdleMs: 500, probeTimeoutMs: 2000, missedProbesForDown: 3, advertiseEveryMs: 1000, shortcutEveryMs: 3600000";

const ROOT = resolve(import.meta.dirname, "../..");
const WORKER = resolve(import.meta.dirname, "regions/worker.ts");

const TABLE = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price integer, note text)`;

/** A Zipf(s) sampler over ranks 0..n-1, by inverting its cumulative distribution. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank++) {
    total += 1 / (rank + 1) ** s;
    cumulative[rank] = total;
  }
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The ids one run asks for, in order: the same list for both runs. */
function workload(count: number, random: () => number): bigint[] {
  const local = zipfSampler(LOCAL_IDS, ZIPF, random);
  const remote = zipfSampler(2 * REMOTE_IDS, ZIPF, random);
  // Popularity ranks are spread over the rows so the hot ones are not all neighbours.
  const spread = (rank: number, of: number) => 1 + ((rank * 7_919) % of);
  return Array.from({ length: count }, () => {
    if (random() < LOCAL_SHARE) return encodeId(1, spread(local(), LOCAL_IDS));
    const rank = remote();
    return encodeId(2 + (rank % 2), spread(rank >> 1, REMOTE_IDS));
  });
}

interface Region {
  id: number;
  nats: NatsServer;
  proxy: DelayProxy;
  worker: ManagedProcess;
}

async function regionDatabase(pg: PostgresService, region: number): Promise<string> {
  const url = await pg.createDatabase();
  const setup = await createConnector(`setup_${region}`, { kind: "postgres", url });
  try {
    await setup.execute({ sql: TABLE, params: [] });
    await setup.execute({
      sql: `INSERT INTO items
              SELECT (${region}::bigint << 48) | g, 'item ' || g, g % 1000, repeat('n', 40 + g % 60)
                FROM generate_series(1, ${LOCAL_IDS}) g`,
      params: [],
    });
    await setup.execute({ sql: "ANALYZE items", params: [] });
  } finally {
    await setup.close();
  }
  return url;
}

async function startRegions(urls: string[], replication: boolean): Promise<Region[]> {
  const dir = await mkdtemp(join(tmpdir(), "entente-bench-regions-"));
  const servers: Array<{ nats: NatsServer; proxy: DelayProxy }> = [];
  for (let id = 1; id <= 3; id++) {
    const nats = await startNatsServer();
    servers.push({ nats, proxy: await startDelayProxy({ target: nats.url, delayMs: ONE_WAY_MS }) });
  }
  const rootProxy = (servers[0] as (typeof servers)[number]).proxy;
  const regions: Region[] = [];
  try {
    for (const [i, { nats, proxy }] of servers.entries()) {
      const id = i + 1;
      const joins = id === 1 ? "" : `, join: "${rootProxy.url}"`;
      const configFile = join(dir, `r${id}.yaml`);
      await writeFile(
        configFile,
        [
          `region: { name: r${id}, id: ${id}${id === 1 ? "" : ", parent: r1"} }`,
          "log: { level: info }",
          // Other regions reach this one through its delaying proxy.
          `regionRouter: { ${ROUTER}, url: "${proxy.url}"${joins} }`,
          `sources: { items_db: { kind: postgres, url: "${urls[i]}" } }`,
          "tables:",
          "  items: { table: items_db.public.items, id: id, writable: true }",
          ...(replication ? [`dataReplication: ${REPLICATION}`] : []),
          "",
        ].join("\n"),
      );
      const worker = await startProcess({
        name: `worker of r${id}`,
        command: process.execPath,
        args: ["--conditions=@entente/source", WORKER],
        cwd: ROOT,
        env: { ...process.env, ENTENTE_CONFIG: configFile, NATS_URL: nats.url },
        readyLine: /"msg":"worker ready"/,
        timeoutMs: 60_000,
      });
      regions.push({ id, nats, proxy, worker });
    }
  } catch (err) {
    await stopRegions(regions);
    for (const { nats, proxy } of servers.slice(regions.length)) {
      await proxy.close();
      await nats.stop();
    }
    throw err;
  }
  for (const region of regions) {
    const nc = await connect({ servers: region.nats.url, noAsyncTraces: true });
    try {
      const client = new EntenteClient(nc);
      await eventually(
        `the registry of r${region.id}`,
        async () => {
          const reply = await client.request<RegionsReply>(SUBJECTS.router.regions, {});
          return reply.regions.length === 3 && reply.regions.every((r) => r.reachable)
            ? true
            : undefined;
        },
        60_000,
      );
    } finally {
      await nc.close();
    }
  }
  return regions;
}

async function stopRegions(regions: Region[]): Promise<void> {
  for (const region of [...regions].reverse()) {
    await region.worker.stop();
    await region.proxy.close();
    await region.nats.stop();
  }
}

interface RunFigures {
  latencies: number[];
  /** Latencies by where the id was answered. */
  byPlace: Record<"local" | "replica" | "owner", number[]>;
  ownerFetches: number;
  replicaHits: number;
  failed: number;
}

/** Sends the ids, one request each, `IN_FLIGHT` at a time. */
async function run(client: EntenteClient, ids: bigint[]): Promise<RunFigures> {
  const figures: RunFigures = {
    latencies: [],
    byPlace: { local: [], replica: [], owner: [] },
    ownerFetches: 0,
    replicaHits: 0,
    failed: 0,
  };
  let next = 0;
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++] as bigint;
      const started = performance.now();
      try {
        const reply = await client.request<DataGetReply>(
          SUBJECTS.data.get,
          { table: "items", ids: [id.toString()] },
          { timeoutMs: 10_000 },
        );
        const ms = performance.now() - started;
        figures.latencies.push(ms);
        for (const served of reply.served) {
          if (served.from === "owner") figures.ownerFetches++;
          if (served.from === "replica") figures.replicaHits++;
          figures.byPlace[served.from].push(ms);
        }
        if (reply.partial) figures.failed++;
      } catch {
        figures.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return figures;
}

/** Replica bytes held in region 1, from its sql-join worker's stats (`$SRV.STATS`). */
async function replicaBytes(nc: NatsConnection): Promise<number | undefined> {
  const [stats] = await discover<{ endpoints: Array<{ data?: Record<string, unknown> }> }>(
    nc,
    "STATS",
    { service: "sql-join" },
  );
  const pairs = stats?.endpoints[0]?.data?.dataRegions as
    | Array<{ replicaBytes?: number }>
    | undefined;
  if (!pairs) return undefined;
  // Each pair reports the replicas of that owner in the region's store.
  return pairs.reduce((sum, pair) => sum + (pair.replicaBytes ?? 0), 0);
}

async function measure(urls: string[], replication: boolean, warmup: bigint[], ids: bigint[]) {
  const regions = await startRegions(urls, replication);
  try {
    const nc = await connect({ servers: (regions[0] as Region).nats.url, noAsyncTraces: true });
    try {
      const client = new EntenteClient(nc, { region: "r1", regionId: 1 });
      await run(client, warmup);
      const figures = await run(client, ids);
      return { figures, bytes: await replicaBytes(nc) };
    } finally {
      await nc.close();
    }
  } finally {
    await stopRegions(regions);
  }
}

async function main(): Promise<void> {
  const random = seededRandom(SEED);
  const warmup = workload(WARMUP, random);
  const ids = workload(GETS, random);
  const remoteShare = ids.filter((id) => id >> 48n !== 1n).length / ids.length;
  // No replica can answer a remote id the first time it is read: these set the floor of the tail.
  const seen = new Set(warmup);
  let firstReads = 0;
  for (const id of ids) {
    if (id >> 48n !== 1n && !seen.has(id)) firstReads++;
    seen.add(id);
  }
  const pg = await postgres();
  try {
    const urls = await Promise.all([1, 2, 3].map((r) => regionDatabase(pg, r)));
    const off = await measure(urls, false, warmup, ids);
    const on = await measure(urls, true, warmup, ids);
    const row = (label: string, r: { figures: RunFigures; bytes: number | undefined }) => {
      const sorted = [...r.figures.latencies].sort((a, b) => a - b);
      const bytes = r.bytes === undefined ? "-" : `${r.bytes} / ${BUDGET_BYTES}`;
      return {
        line: [
          label.padEnd(16),
          percentile(sorted, 50).toFixed(2).padStart(8),
          percentile(sorted, 90).toFixed(2).padStart(8),
          percentile(sorted, 99).toFixed(2).padStart(8),
          (r.figures.ownerFetches / ids.length).toFixed(4).padStart(12),
          String(r.figures.replicaHits).padStart(12),
          String(r.figures.failed).padStart(7),
          bytes.padStart(20),
        ].join("  "),
        p99: percentile(sorted, 99),
      };
    };
    const a = row("replication off", off);
    const b = row("replication on", on);
    console.log();
    console.log(
      `reads by id over 3 regions, ${ONE_WAY_MS} ms one way between them: ${GETS} gets of one id after ${WARMUP} to warm up, ${IN_FLIGHT} in flight, ${(remoteShare * 100).toFixed(1)}% owned remotely, Zipf ${ZIPF} over ${LOCAL_IDS} local and ${2 * REMOTE_IDS} remote ids`,
    );
    console.log(
      [
        "run".padEnd(16),
        "p50 ms".padStart(8),
        "p90 ms".padStart(8),
        "p99 ms".padStart(8),
        "owner/req".padStart(12),
        "replica hits".padStart(12),
        "failed".padStart(7),
        "replica bytes/budget".padStart(20),
      ].join("  "),
    );
    console.log(a.line);
    console.log(b.line);
    for (const [label, r] of [
      ["off", off],
      ["on", on],
    ] as const) {
      const places = Object.entries(r.figures.byPlace)
        .filter(([, ms]) => ms.length > 0)
        .map(([place, ms]) => {
          const sorted = [...ms].sort((x, y) => x - y);
          return `${place} ${ms.length} p50 ${percentile(sorted, 50).toFixed(2)} p99 ${percentile(sorted, 99).toFixed(2)}`;
        });
      console.log(`  replication ${label}, by where the id was read (ms): ${places.join("; ")}`);
    }
    console.log(
      `first reads of a remote id (no replica can answer them): ${((firstReads / ids.length) * 100).toFixed(2)}% of the measured gets`,
    );
    const ratio = b.p99 / a.p99;
    const withinBudget = on.bytes !== undefined && on.bytes <= BUDGET_BYTES;
    console.log(
      `p99 on/off ${ratio.toFixed(3)} (target <= 0.5: ${ratio <= 0.5 ? "met" : "NOT MET"}); replica budget ${withinBudget ? "respected" : on.bytes === undefined ? "not reported" : "EXCEEDED"}`,
    );
  } finally {
    await pg.stop();
  }
}

await main();
process.exit(0);

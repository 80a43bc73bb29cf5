/**
 * Hot and cold tiers against one PostgreSQL table (issue 17): `events` — 10 million events over
 * two years (see tiers/data.ts) — held twice:
 *
 *   PostgreSQL  one table with every event, indexed on created_at (the baseline);
 *   tiered      the last 30 days hot in PostgreSQL, the rest cold as Parquet (one file per day)
 *               in a cold store whose manifest carries the watermark, read as the logical table
 *               `events` by a real `entente serve sql-join` worker process.
 *
 * Timed in one run, a warm-up each and then interleaved runs, medians; every answer checked equal
 * (row counts, and sums to 1e-9 relative) before it is timed:
 *
 *   - a one-day aggregate in the cold range, a one-year aggregate in the cold range (target:
 *     Entente at least 5x faster than PostgreSQL), a range 15 days either side of the watermark
 *     (target: at most 1.5x PostgreSQL);
 *   - the move of one day from hot to cold (`entente.tiers` move, waited for) against moving one
 *     day within PostgreSQL (INSERT INTO events_archive SELECT …; DELETE …; in one transaction).
 *
 * Entente is asked as a user's program asks it (`entente.sql` through the runtime's NATS client),
 * PostgreSQL as its users ask it: a long-lived `psql` per variant, timed by `\timing`.
 *
 * The move: the worker runs with hotRetention = (days from the watermark to today) − 1, so the
 * move's target (midnight UTC today − hotRetention) is the watermark + 1 day and exactly the
 * oldest hot day qualifies. Before each further timed move the worker is stopped, the cold table
 * is put back to its generated metadata version and files, the day's rows are put back into the
 * hot table and the lifecycle's record of moves (the `entente_tiers` KV bucket) is purged; the run
 * ends with the data as generated, so the next run starts at once.
 *
 *   pnpm bench:tiers
 *   BENCH_RUNS=5 (timed runs per variant), BENCH_EVENTS=10000000,
 *   BENCH_TIERS_DIR (cold store and markers, under events-<N>/; default
 *   <os tmpdir>/entente-bench-tiers),
 *   BENCH_TIMEOUT_MS=3600000 (the whole run), ENTENTE_TEST_POSTGRES_URL (else 127.0.0.1:5432).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bucketNameOf, DEFAULT_DEPLOYMENT, SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import { type ManagedProcess, startNatsServer, startProcess } from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import { withPg } from "./pg.ts";
import { runBench } from "./run-bench.ts";
import { percentile } from "./stats.ts";
import {
  type ColdData,
  DAY_MS,
  dayText,
  indexAt,
  type Layout,
  loadLayout,
  prepareBaseline,
  prepareCold,
  prepareHot,
  resetCold,
  restoreBaseline,
  restoreHotRange,
  vacuumEvents,
} from "./tiers/data.ts";
import { Psql } from "./tiers/psql.ts";

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const DATA_DIR = resolve(process.env.BENCH_TIERS_DIR ?? join(tmpdir(), "entente-bench-tiers"));
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 3_600_000);
const SERVER_URL =
  process.env.ENTENTE_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(ROOT, "packages/server/src/bin.ts");
const CALL_TIMEOUT_MS = 180_000;

const log = (line: string) => console.log(`  ${line}`);
const cleanup: (() => Promise<unknown>)[] = [];

interface Answer {
  /** kind → [count, sum(amount)] */
  groups: Map<string, [number, number]>;
}

interface QueryCase {
  label: string;
  sql: string;
  target: "cold" | "boundary";
}

function queriesOf(layout: Layout): QueryCase[] {
  const w = layout.watermarkMs;
  const range = (from: number, to: number) =>
    `SELECT kind, count(*), sum(amount) FROM events WHERE created_at >= '${dayText(from)}' AND created_at < '${dayText(to)}' GROUP BY kind`;
  return [
    {
      label: `one day, cold (${dayText(w - 200 * DAY_MS)})`,
      sql: range(w - 200 * DAY_MS, w - 199 * DAY_MS),
      target: "cold",
    },
    {
      label: `one year, cold (${dayText(w - 400 * DAY_MS)} … ${dayText(w - 35 * DAY_MS)})`,
      sql: range(w - 400 * DAY_MS, w - 35 * DAY_MS),
      target: "cold",
    },
    {
      label: `boundary ±15 days (${dayText(w - 15 * DAY_MS)} … ${dayText(w + 15 * DAY_MS)})`,
      sql: range(w - 15 * DAY_MS, w + 15 * DAY_MS),
      target: "boundary",
    },
  ];
}

function answerOf(rows: unknown[][]): Answer {
  const groups = new Map<string, [number, number]>();
  for (const [kind, count, sum] of rows) groups.set(String(kind), [Number(count), Number(sum)]);
  return { groups };
}

/** Undefined when equal: counts exactly, sums to 1e-9 relative. */
function difference(expected: Answer, actual: Answer): string | undefined {
  if (expected.groups.size !== actual.groups.size) {
    return `${actual.groups.size} groups, PostgreSQL has ${expected.groups.size}`;
  }
  for (const [kind, [count, sum]] of expected.groups) {
    const other = actual.groups.get(kind);
    if (!other) return `no group ${kind}`;
    if (other[0] !== count) return `${kind}: count ${other[0]}, PostgreSQL says ${count}`;
    if (Math.abs(other[1] - sum) > 1e-9 * Math.max(1, Math.abs(sum))) {
      return `${kind}: sum ${other[1]}, PostgreSQL says ${sum}`;
    }
  }
  return undefined;
}

const describe = (a: Answer) => {
  let rows = 0;
  let sum = 0;
  for (const [count, s] of a.groups.values()) {
    rows += count;
    sum += s;
  }
  return `${a.groups.size} groups, ${rows.toLocaleString("en")} events, sum ${sum.toFixed(2)}`;
};

const median = (values: number[]) =>
  percentile(
    [...values].sort((x, y) => x - y),
    50,
  );
const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const list = (values: number[]) => values.map(fmt).join(", ");

/** The worker's configuration: the tiered table with the lifecycle (moves on demand only). */
function workerConfig(natsUrl: string, hotUrl: string, cold: ColdData, hotDays: number): string {
  return [
    `nats: { servers: ${JSON.stringify(natsUrl)} }`,
    "log: { level: info }",
    "sources:",
    `  hot: { kind: postgres, url: ${JSON.stringify(hotUrl)} }`,
    `  archive: { kind: coldstore, path: ${JSON.stringify(cold.path)} }`,
    "logicalTables:",
    "  events:",
    "    tiers:",
    "      column: created_at",
    "      hot: hot.public.events",
    "      cold: archive.main.events",
    "      lifecycle:",
    `        hotRetention: "${hotDays} days"`,
    '        coldRetention: "3650 days"',
    '        every: "off"',
    "        graceMs: 0",
    "",
  ].join("\n");
}

async function startWorker(configFile: string, natsUrl: string): Promise<ManagedProcess> {
  return startProcess({
    name: "entente serve sql-join",
    command: process.execPath,
    args: ["--conditions=@entente/source", BIN, "--config", configFile, "serve", "sql-join"],
    cwd: ROOT,
    env: { ...process.env, NATS_URL: natsUrl },
    readyLine: /"msg":"service started"/,
    timeoutMs: 120_000,
  });
}

async function main(): Promise<void> {
  console.log(
    `\nTiers benchmark: ${EVENTS.toLocaleString("en")} events over 2 years, 30 days hot in PostgreSQL, the rest cold in Parquet\n`,
  );
  console.log("data:");
  const dataDir = join(DATA_DIR, `events-${EVENTS}`);
  const layout = await loadLayout(dataDir, EVENTS);
  const w = layout.watermarkMs;
  log(
    `events ${dayText(Number(layout.startUs / 1000n))} … ${layout.end} (exclusive), one every ${(Number(layout.stepUs) / 1e6).toFixed(3)} s; watermark ${new Date(w).toISOString()}`,
  );
  log(`data directory ${dataDir}`);
  const baselineUrl = await prepareBaseline(SERVER_URL, layout, log);
  const hotUrl = await prepareHot(SERVER_URL, layout, log);
  const cold = await prepareCold(dataDir, layout, log);
  const size = (url: string) =>
    withPg(url, async (c) => {
      const r = await c.query("SELECT pg_total_relation_size('events')::float8 AS bytes");
      return `${(Number(r.rows[0]?.bytes) / 1024 ** 2).toFixed(0)} MiB`;
    });
  log(
    `sizes: PostgreSQL all events ${await size(baselineUrl)}, hot ${await size(hotUrl)} (with indexes); cold Parquet ${(cold.bytes / 1024 ** 2).toFixed(0)} MiB in ${cold.files} files`,
  );
  // A run cut short may have left a move behind: start from the data as generated.
  const undone = await resetCold(cold);
  if (undone > 0) log(`cold store: removed ${undone} files of an earlier move`);
  await restoreHotRange(hotUrl, layout, w, w + DAY_MS);
  const back = await restoreBaseline(baselineUrl);
  if (back > 0) log(`PostgreSQL: moved ${back} archived events back`);

  const nats = await startNatsServer();
  cleanup.unshift(() => nats.stop());
  const dir = await mkdtemp(join(tmpdir(), "entente-tiers-bench-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, "sql-join.yaml");
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const hotDays = Math.round((today - w) / DAY_MS) - 1;
  if (hotDays < 1) throw new Error(`the watermark ${dayText(w)} is not before yesterday`);
  await writeFile(configFile, workerConfig(nats.url, hotUrl, cold, hotDays));
  log(
    `worker: hotRetention "${hotDays} days" (a move's target: ${dayText(today - hotDays * DAY_MS)}, one day past the watermark)`,
  );

  let worker: ManagedProcess | undefined = await startWorker(configFile, nats.url);
  cleanup.unshift(async () => {
    await worker?.stop();
  });
  const nc = await connect({ servers: nats.url });
  cleanup.unshift(() => nc.close());
  const client = new EntenteClient(nc, { defaultTimeoutMs: CALL_TIMEOUT_MS });
  const entente = async (sql: string) => {
    const items = await client.collect<{ rows?: unknown[][] }>(
      SUBJECTS.sql,
      { sql },
      { timeoutMs: CALL_TIMEOUT_MS },
    );
    return items.flatMap((item) => item.rows ?? []);
  };

  /** Empties the lifecycle's record of moves (and its lease), as after the data was generated. */
  const forgetMoves = async () => {
    const stream = `KV_${bucketNameOf(DEFAULT_DEPLOYMENT, "tiers")}`;
    await nc.request(`$JS.API.STREAM.PURGE.${stream}`, "{}", { timeout: 10_000 }).catch(() => {});
  };

  // -- queries -----------------------------------------------------------------------------------
  const queries = queriesOf(layout);
  console.log(`\nqueries (answers checked equal, a warm-up each, then ${RUNS} interleaved runs):`);
  const results: { q: QueryCase; entente?: number; postgres?: number; problem?: string }[] = [];
  for (const q of queries) {
    console.log(`  ${q.label}\n    ${q.sql}`);
    const psql = await Psql.open(baselineUrl);
    try {
      const expected = answerOf((await psql.run(`${q.sql};`)).rows);
      const actual = answerOf(await entente(q.sql));
      const problem = difference(expected, actual);
      if (problem) {
        log(`  answers differ: ${problem}`);
        results.push({ q, problem: `answers differ: ${problem}` });
        continue;
      }
      log(`  answers equal: ${describe(expected)}`);
      const times = { entente: [] as number[], postgres: [] as number[] };
      for (let run = 0; run < RUNS; run++) {
        const started = performance.now();
        answerOf(await entente(q.sql));
        times.entente.push(performance.now() - started);
        times.postgres.push((await psql.run(`${q.sql};`)).ms);
      }
      const result = { q, entente: median(times.entente), postgres: median(times.postgres) };
      log(`  Entente    median ${fmt(result.entente)} ms (${list(times.entente)})`);
      log(`  PostgreSQL median ${fmt(result.postgres)} ms (${list(times.postgres)})`);
      results.push(result);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log(`  failed: ${message}`);
      results.push({ q, problem: message });
    } finally {
      await psql.close();
    }
  }

  console.log("\nEXPLAIN of the one-day query:");
  try {
    const plan = await entente(`EXPLAIN ${queries[0]?.sql}`);
    for (const [line] of plan) console.log(`    ${String(line)}`);
  } catch (error) {
    log(`EXPLAIN failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  // -- the move of one day -----------------------------------------------------------------------
  const day = { from: w, to: w + DAY_MS };
  const dayEvents = indexAt(layout, day.to) - indexAt(layout, day.from);
  const dayRange = `created_at >= '${dayText(day.from)}' AND created_at < '${dayText(day.to)}'`;
  console.log(
    `\nmove of one day (${dayText(day.from)}, ${dayEvents.toLocaleString("en")} events) from hot to cold, ${RUNS} runs:`,
  );
  const moveTimes = { entente: [] as number[], postgres: [] as number[] };
  let moveProblem: string | undefined;
  const pgMove = await Psql.open(baselineUrl);
  cleanup.unshift(() => pgMove.close());
  const checkSql = `SELECT count(*), sum(amount) FROM events WHERE ${dayRange}`;
  try {
    const truth = (await pgMove.run(`${checkSql};`)).rows[0] ?? [];
    for (let run = 0; run < RUNS; run++) {
      if (run > 0) {
        // Back to the data as generated, while no worker runs.
        await worker?.stop();
        worker = undefined;
        await resetCold(cold);
        await restoreHotRange(hotUrl, layout, day.from, day.to);
        await forgetMoves();
        worker = await startWorker(configFile, nats.url);
        // Warm, as a worker that has served queries is.
        await entente(queries[0]?.sql ?? "SELECT 1");
        await entente(queries[2]?.sql ?? "SELECT 1");
      }
      const started = performance.now();
      const reply = await client.request<{
        move: { state: string; rows: number; to: string; error?: string };
      }>(
        SUBJECTS.tiers,
        { op: "move", table: "events", wait: true },
        { timeoutMs: CALL_TIMEOUT_MS },
      );
      const ms = performance.now() - started;
      const { move } = reply;
      if (move.state !== "done") {
        throw new Error(`the move ended ${move.state}: ${move.error ?? JSON.stringify(move)}`);
      }
      if (Date.parse(move.to) !== day.to) {
        throw new Error(
          `the move went to ${move.to}; expected ${new Date(day.to).toISOString()} (one day)`,
        );
      }
      const [count, sum] = (await entente(checkSql))[0] ?? [];
      const left = await withPg(hotUrl, (c) =>
        c.query(`SELECT count(*)::int AS n FROM events WHERE ${dayRange}`),
      );
      if (
        Number(count) !== Number(truth[0]) ||
        Math.abs(Number(sum) - Number(truth[1])) > 1e-9 * Math.abs(Number(truth[1])) ||
        left.rows[0]?.n !== 0
      ) {
        throw new Error(
          `after the move Entente reads ${count} events (sum ${sum}) of the day, PostgreSQL ${truth[0]} (sum ${truth[1]}); the hot table still has ${left.rows[0]?.n}`,
        );
      }
      moveTimes.entente.push(ms);

      const moved = await pgMove.run(
        [
          "BEGIN;",
          `INSERT INTO events_archive SELECT * FROM events WHERE ${dayRange};`,
          `DELETE FROM events WHERE ${dayRange};`,
          "COMMIT;",
        ].join("\n"),
      );
      moveTimes.postgres.push(moved.ms);
      const archived = (await pgMove.run("SELECT count(*) FROM events_archive;")).rows[0]?.[0];
      if (Number(archived) !== dayEvents) {
        throw new Error(`PostgreSQL archived ${archived} events, expected ${dayEvents}`);
      }
      await restoreBaseline(baselineUrl);
      log(
        `run ${run + 1}: Entente ${fmt(ms)} ms (reports ${move.rows} rows; the day reads back equal, none left hot), PostgreSQL ${fmt(moved.ms)} ms (${moved.times.map(fmt).join(" + ")})`,
      );
    }
  } catch (error) {
    moveProblem = error instanceof Error ? error.message : String(error);
    log(`failed: ${moveProblem}`);
  } finally {
    // Leave the data as generated.
    await worker?.stop();
    worker = undefined;
    await resetCold(cold);
    await restoreHotRange(hotUrl, layout, day.from, day.to);
    await restoreBaseline(baselineUrl);
    await vacuumEvents(hotUrl);
    await vacuumEvents(baselineUrl);
  }

  // -- summary -----------------------------------------------------------------------------------
  console.log(`\nresults (${EVENTS.toLocaleString("en")} events; medians of ${RUNS} runs):`);
  console.log(
    `  ${"".padEnd(58)} ${"Entente".padStart(10)} ${"PostgreSQL".padStart(11)} ${"Entente/PG".padStart(11)}   target`,
  );
  const line = (
    label: string,
    e: number | undefined,
    p: number | undefined,
    target: string,
    met: ((ratio: number) => boolean) | undefined,
    problem?: string,
  ) => {
    if (e === undefined || p === undefined) {
      console.log(`  ${label.padEnd(58)} not measured: ${problem ?? "?"}`);
      return;
    }
    const ratio = e / p;
    const faster = ratio < 1 ? ` (${(1 / ratio).toFixed(1)}x faster)` : "";
    console.log(
      `  ${label.padEnd(58)} ${`${fmt(e)} ms`.padStart(10)} ${`${fmt(p)} ms`.padStart(11)} ${`${ratio.toFixed(2)}x`.padStart(11)}   ${met ? `${target}: ${met(ratio) ? "met" : "missed"}` : target}${faster}`,
    );
  };
  for (const r of results) {
    if (r.q.target === "cold") {
      line(r.q.label, r.entente, r.postgres, "≥ 5x faster", (x) => x <= 0.2, r.problem);
    } else {
      line(r.q.label, r.entente, r.postgres, "≤ 1.5x", (x) => x <= 1.5, r.problem);
    }
  }
  const moved = moveTimes.entente.length > 0 && moveTimes.postgres.length > 0;
  line(
    `move one day hot → cold (${moveTimes.entente.length} runs)`,
    moved ? median(moveTimes.entente) : undefined,
    moved ? median(moveTimes.postgres) : undefined,
    "(no target)",
    undefined,
    moveProblem,
  );
}

await runBench(main, cleanup, TIMEOUT_MS);

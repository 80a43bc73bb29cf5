/**
 * TPC-H — the 22 queries with the specification's validation parameters — in layout A:
 * lineitem and orders in PostgreSQL, part, partsupp and supplier in MariaDB, customer, nation and
 * region in DuckDB — timed three ways in one run:
 *
 *   Entente     `entente.sql` on a real `entente serve sql-join` worker process, timed as the
 *               client sees it: from the request to the last reply item, rows collected;
 *   fdw         one PostgreSQL coordinator with postgres_fdw and mysql_fdw foreign tables over
 *               the same sources and the DuckDB tables loaded into it (see tpch/fdw.ts);
 *   PostgreSQL  one database holding all eight tables (the reference).
 *
 * The two PostgreSQL baselines are timed as their users time them: one long-lived `psql` (the C
 * client) per database, its output sent to /dev/null (`\o`), each run's time the one psql's
 * `\timing` reports — the server's work and the transfer of the rows to psql, without a process
 * start and connection per run, which would add tens of milliseconds to every short query.
 *
 * Per query: each system's first run is its warm-up and its answer, Entente's and fdw's checked
 * equal to the reference's (a difference is printed loudly: it is a correctness bug, and the
 * query is still timed); then RUNS interleaved rounds, medians. The warm-up answers of the two
 * PostgreSQL databases are read through pg rather than psql, for typed values to compare; only
 * psql runs are timed. A run past the per-query timeout ends that system's runs of the query and
 * is reported as a timeout; the worker is restarted after one, so the next query finds it idle.
 *
 *   pnpm bench:tpch [scale factor]
 *   BENCH_SF=0.1 (else the argument), BENCH_RUNS=3 (timed runs per system and query),
 *   BENCH_QUERY_TIMEOUT_MS=300000, BENCH_TIMEOUT_MS=14400000 (the whole run),
 *   BENCH_QUERIES=5,9 (only these queries; all 22 by default),
 *   BENCH_EXPLAIN=1 (after a query's runs, prints Entente's EXPLAIN ANALYZE of it),
 *   ENTENTE_TEST_POSTGRES_URL / ENTENTE_TEST_MARIADB_URL pick the servers (else local ones).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  mariadb,
  postgres,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import type { SqlResult } from "../e2e/sql/compare.ts";
import { postgresExecutor, serviceExecutor } from "../e2e/sql/executors.ts";
import { answerMismatch } from "../e2e/sql/tpch/answers.ts";
import { tpchTables } from "../e2e/sql/tpch/generate.ts";
import {
  layoutTableName,
  type SourceLocations,
  TPCH_LAYOUTS,
  tpchWorkerConfigYaml,
} from "../e2e/sql/tpch/layouts.ts";
import { renameTables, type TpchQuery, tpchQueries } from "../e2e/sql/tpch/queries.ts";
import { runBench } from "./run-bench.ts";
import { Psql } from "./tiers/psql.ts";
import { loadReferenceAndLayout } from "./tpch/data.ts";
import { setUpCoordinator } from "./tpch/fdw.ts";
import {
  fmtMs,
  type Measure,
  median,
  printReport,
  type QueryResult,
  SYSTEMS,
  type SystemName,
} from "./tpch/report.ts";

const SF = Number(process.env.BENCH_SF ?? process.argv[2] ?? 0.1);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const QUERY_TIMEOUT_MS = Number(process.env.BENCH_QUERY_TIMEOUT_MS ?? 300_000);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 4 * 3_600_000);
const EXPLAIN = process.env.BENCH_EXPLAIN === "1";
/** Query numbers to run, or all of them. */
const QUERIES = process.env.BENCH_QUERIES?.split(",").map((q) =>
  Number(q.trim().replace(/^Q/i, "")),
);
const ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(ROOT, "packages/server/src/bin.ts");
const LAYOUT = TPCH_LAYOUTS.find((l) => l.name === "a")!;

const log = (line: string) => console.log(`  ${line}`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const messageOf = (error: unknown) =>
  error instanceof EntenteError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);

/** Steps that undo what the run set up, run last to first. */
const cleanup: (() => Promise<unknown>)[] = [];

/** One way to run a query: its answer (the warm-up) and a timed run. */
interface System {
  name: SystemName;
  answer(sql: string): Promise<SqlResult>;
  /** One run, in milliseconds. */
  time(sql: string): Promise<number>;
  /** After a run past the timeout, so the next query starts on an idle system. */
  recover?(): Promise<void>;
}

/** A run past the timeout, as each system reports it. */
function isTimeout(error: unknown, elapsedMs: number): boolean {
  if (elapsedMs >= QUERY_TIMEOUT_MS) return true;
  if (error instanceof EntenteError) return error.code === "DEADLINE_EXCEEDED";
  return /statement timeout/.test(messageOf(error));
}

/** A `psql` session whose every statement is cut off at the per-query timeout. */
async function openPsql(url: string): Promise<Psql> {
  const psql = await Psql.open(url);
  cleanup.unshift(() => psql.close());
  await psql.run(`SET statement_timeout = ${QUERY_TIMEOUT_MS};`);
  await psql.run("\\o /dev/null");
  return psql;
}

/** A PostgreSQL database as a system: answers through pg (typed values), times through psql. */
async function postgresSystem(name: SystemName, url: string): Promise<System> {
  const executor = await postgresExecutor(url);
  cleanup.unshift(() => executor.close());
  await executor.run(`SET statement_timeout = ${QUERY_TIMEOUT_MS}`);
  const psql = await openPsql(url);
  return {
    name,
    answer: (sql) => executor.run(sql),
    async time(sql) {
      const { times } = await psql.run(`${sql};`);
      if (times.length !== 1) throw new Error(`psql reported ${times.length} times for one query`);
      return times[0]!;
    },
  };
}

/** The `entente serve sql-join` worker process, restartable after a query past the timeout. */
async function ententeSystem(natsUrl: string, configFile: string): Promise<System> {
  const nc = await connect({ servers: natsUrl });
  cleanup.unshift(() => nc.close());
  // The service sends nothing while it computes: a slow query is not a stalled stream.
  const client = new EntenteClient(nc, {
    defaultTimeoutMs: QUERY_TIMEOUT_MS,
    stallTimeoutMs: QUERY_TIMEOUT_MS,
  });
  const run = serviceExecutor(client, SUBJECTS.sql, { timeoutMs: QUERY_TIMEOUT_MS });
  const start = () =>
    startProcess({
      name: "entente serve sql-join",
      command: process.execPath,
      args: ["--conditions=@entente/source", BIN, "--config", configFile, "serve", "sql-join"],
      cwd: ROOT,
      env: { ...process.env, NATS_URL: natsUrl },
      // Ready once it answers over all three sources.
      probe: () =>
        client.request(
          SUBJECTS.sql,
          { sql: `SELECT count(*) FROM ${layoutTableName(LAYOUT, "nation")}` },
          { timeoutMs: 2_000 },
        ),
      timeoutMs: 120_000,
    });
  let worker: ManagedProcess = await start();
  cleanup.unshift(() => worker.stop());
  return {
    name: "Entente",
    answer: run,
    async time(sql) {
      const started = performance.now();
      await run(sql);
      return performance.now() - started;
    },
    async recover() {
      await worker.stop();
      worker = await start();
    },
  };
}

/** A system's warm-up and timed runs of a query are recorded here. */
function emptyMeasures(): Record<SystemName, Measure> {
  return { Entente: { times: [] }, fdw: { times: [] }, PostgreSQL: { times: [] } };
}

/**
 * Runs `step` for `system`; on an error records the problem in `measure` (a timeout as such,
 * and the system recovers from it) and resolves to undefined.
 */
async function guarded<T>(
  system: System,
  measure: Measure,
  step: () => Promise<T>,
): Promise<T | undefined> {
  const started = performance.now();
  try {
    return await step();
  } catch (error) {
    const elapsed = performance.now() - started;
    const timeout = isTimeout(error, elapsed);
    measure.problem = { kind: timeout ? "timeout" : "failed", detail: messageOf(error) };
    log(
      `  ${system.name}: ${timeout ? "TIMEOUT" : "FAILED"} after ${fmtMs(elapsed)} ms: ${messageOf(error)}`,
    );
    if (timeout) await system.recover?.().catch((e) => log(`  ${system.name}: ${messageOf(e)}`));
    return undefined;
  }
}

async function measureQuery(
  query: TpchQuery,
  systems: readonly System[],
  unavailable: Partial<Record<SystemName, string>>,
): Promise<QueryResult> {
  const result: QueryResult = { id: query.id, measures: emptyMeasures(), mismatches: [] };
  for (const [name, detail] of Object.entries(unavailable)) {
    result.measures[name as SystemName].problem = { kind: "unavailable", detail };
  }
  const sqlFor = (system: System) =>
    system.name === "Entente"
      ? renameTables(query.sql, (table) => layoutTableName(LAYOUT, table))
      : query.sql;

  // Warm-ups: the reference's answer first, then each other answer checked against it.
  const reference = systems.find((s) => s.name === "PostgreSQL")!;
  const expected = await guarded(reference, result.measures.PostgreSQL, () =>
    reference.answer(query.sql),
  );
  for (const system of systems) {
    if (system === reference) continue;
    const measure = result.measures[system.name];
    const actual = await guarded(system, measure, () => system.answer(sqlFor(system)));
    if (actual === undefined || expected === undefined) continue;
    const mismatch = answerMismatch(sqlFor(system), expected, actual);
    if (mismatch) {
      result.mismatches.push({ system: system.name, detail: mismatch });
      log(`  !!! ${system.name}'s ANSWER DIFFERS from the reference's:`);
      for (const line of mismatch.split("\n")) log(`      ${line}`);
    }
  }
  if (expected) log(`  ${expected.rows.length} rows`);

  // Interleaved rounds, so a change in the machine's load affects every system alike.
  for (let round = 0; round < RUNS; round++) {
    for (const system of systems) {
      const measure = result.measures[system.name];
      if (measure.problem) continue;
      const ms = await guarded(system, measure, () => system.time(sqlFor(system)));
      if (ms !== undefined) measure.times.push(ms);
    }
  }
  const entente = systems.find((s) => s.name === "Entente");
  if (EXPLAIN && entente && !result.measures.Entente.problem) {
    // A failure of its own (logged) leaves the query's figures alone.
    const explained = await guarded(entente, { times: [] }, () =>
      entente.answer(`EXPLAIN ANALYZE ${sqlFor(entente)}`),
    );
    for (const [line] of explained?.rows ?? []) log(`    ${String(line)}`);
  }
  for (const name of SYSTEMS) {
    const { times, problem } = result.measures[name];
    if (problem?.kind === "unavailable") continue;
    const runs = times.length > 0 ? ` (${times.map(fmtMs).join(", ")})` : "";
    const outcome = problem ? problem.kind : `median ${fmtMs(median(times)!)} ms`;
    log(`  ${name.padEnd(10)} ${outcome}${runs}`);
  }
  return result;
}

interface Setup {
  systems: System[];
  unavailable: Partial<Record<SystemName, string>>;
}

/** Creates the databases, loads them, and starts the worker and the psql sessions. */
async function setUp(): Promise<Setup> {
  const [nats, pgServer, mariaServer] = await Promise.all([
    startNatsServer(),
    postgres(),
    mariadb(),
  ]);
  // Stopping the servers drops the databases created on them.
  cleanup.unshift(
    () => nats.stop(),
    () => pgServer.stop(),
    () => mariaServer.stop(),
  );
  const dir = await mkdtemp(join(tmpdir(), "entente-bench-tpch-"));
  cleanup.unshift(() => rm(dir, { recursive: true, force: true }));

  const tables = tpchTables(SF);
  const referenceUrl = await pgServer.createDatabase();
  const at: SourceLocations = {
    postgres: await pgServer.createDatabase(),
    mysql: await mariaServer.createDatabase(),
    duckdb: join(dir, "a.duckdb"),
  };
  const loadStarted = performance.now();
  await loadReferenceAndLayout(referenceUrl, LAYOUT, at, tables);
  log(`loaded the reference and layout A's sources in ${seconds(loadStarted)}`);

  const unavailable: Partial<Record<SystemName, string>> = {};
  const coordinatorUrl = await pgServer.createDatabase();
  const fdwStarted = performance.now();
  try {
    await setUpCoordinator(coordinatorUrl, LAYOUT, at, tables, log);
    log(`set up the fdw coordinator in ${seconds(fdwStarted)}`);
  } catch (error) {
    unavailable.fdw = messageOf(error);
    log(`!!! no fdw baseline: ${unavailable.fdw}`);
  }
  log(`data loaded in ${seconds(loadStarted)} in all`);

  const configFile = join(dir, "sql-join.yaml");
  await writeFile(configFile, tpchWorkerConfigYaml(nats.url, new Map([[LAYOUT, at]])));
  const systems = [
    await ententeSystem(nats.url, configFile),
    ...(unavailable.fdw ? [] : [await postgresSystem("fdw", coordinatorUrl)]),
    await postgresSystem("PostgreSQL", referenceUrl),
  ];
  return { systems, unavailable };
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log(
    `\nTPC-H at scale factor ${SF}, layout A (${LAYOUT.description}): Entente vs PostgreSQL with postgres_fdw + mysql_fdw vs one PostgreSQL database\n`,
  );
  console.log("data:");
  const { systems, unavailable } = await setUp();

  console.log(
    `\nqueries (a warm-up each, answers checked against the reference, then ${RUNS} interleaved runs; timeout ${fmtMs(QUERY_TIMEOUT_MS)} ms):`,
  );
  const results: QueryResult[] = [];
  for (const query of tpchQueries(SF).filter((q) => QUERIES?.includes(q.id) ?? true)) {
    console.log(`Q${query.id}`);
    results.push(await measureQuery(query, systems, unavailable));
  }
  console.log(`\nTPC-H SF ${SF}, medians of ${RUNS} runs (ms):`);
  printReport(results, QUERY_TIMEOUT_MS, unavailable.fdw === undefined);
  console.log(`\ntotal run time ${seconds(started)}`);
}

await runBench(main, cleanup, TIMEOUT_MS);

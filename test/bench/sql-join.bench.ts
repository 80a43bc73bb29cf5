/**
 * The SQL join seed workload: `users` (200,000 rows) in PostgreSQL, `orders` (2,000,000 rows) in
 * MariaDB, and
 *
 *   SELECT u.name, o.total FROM users u JOIN orders o ON u.id = o.user_id WHERE u.country = 'US'
 *
 * (100,000 rows) timed three ways in one run, each a median of several runs after a warm-up:
 *   federated   through `entente.sql`, the SQL join service in its own worker process;
 *   single      the same query in one PostgreSQL database holding both tables (the baseline);
 *   mysql_fdw   PostgreSQL joining its users to the MariaDB orders through a foreign table.
 * Prints the times and the ratios federated / single (target <= 2) and mysql_fdw / federated
 * (target >= 10). The data is created on first run and kept (see sql-join/data.ts).
 *
 *   node --conditions=@entente/source test/bench/sql-join.bench.ts
 *   BENCH_RUNS=5 (timed runs per variant), BENCH_FDW_RUNS=3, BENCH_SKIP_FDW=1
 *   ENTENTE_TEST_POSTGRES_URL / ENTENTE_TEST_MARIADB_URL pick the servers (else local ones).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import { mariadb, postgres, startNatsServer, startProcess } from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { EXPECTED_ROWS, prepareMariaDb, preparePostgres } from "./sql-join/data.ts";
import { setUpMysqlFdw } from "./sql-join/fdw.ts";
import { percentile } from "./stats.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FDW_RUNS = Number(process.env.BENCH_FDW_RUNS ?? 3);
const SEED_SQL =
  "SELECT u.name, o.total FROM users u JOIN orders o ON u.id = o.user_id WHERE u.country = 'US'";
const FDW_SQL =
  "SELECT u.name, o.total FROM users u JOIN orders_mysql o ON u.id = o.user_id WHERE u.country = 'US'";
const ROOT = resolve(import.meta.dirname, "../..");
const WORKER = resolve(import.meta.dirname, "sql-join/worker.ts");

const log = (line: string) => console.log(`  ${line}`);

interface Variant {
  label: string;
  runs: number;
  /** Runs the seed query once and resolves to the number of rows it returned. */
  call: () => Promise<number>;
}

interface Timing {
  label: string;
  runs: number[];
  median: number;
}

/**
 * One warm-up call per variant, then timed calls in rounds — each round runs every variant that
 * still has runs left — so a change in machine load affects all variants alike. Every call must
 * return exactly the expected rows.
 */
async function timeInterleaved(
  variants: Variant[],
  failures: Map<string, string>,
): Promise<Timing[]> {
  const call = async (variant: Variant) => {
    const rows = await variant.call();
    if (rows !== EXPECTED_ROWS) {
      throw new Error(`${variant.label}: ${rows} rows, expected ${EXPECTED_ROWS}`);
    }
  };
  // A variant whose warm-up fails is reported and left out, so the others are still measured.
  const working: Variant[] = [];
  for (const variant of variants) {
    try {
      await call(variant);
      working.push(variant);
    } catch (error) {
      failures.set(variant.label, error instanceof Error ? error.message : String(error));
      log(`${variant.label}: failed — ${failures.get(variant.label)}`);
    }
  }
  variants = working;
  const times = variants.map(() => [] as number[]);
  const rounds = Math.max(...variants.map((v) => v.runs));
  for (let round = 0; round < rounds; round++) {
    for (const [i, variant] of variants.entries()) {
      if (round >= variant.runs) continue;
      const started = performance.now();
      await call(variant);
      times[i]!.push(performance.now() - started);
    }
  }
  return variants.map((variant, i) => {
    const runs = times[i]!;
    const median = percentile(
      [...runs].sort((x, y) => x - y),
      50,
    );
    log(
      `${variant.label}: median ${median.toFixed(0)} ms (${runs.map((t) => t.toFixed(0)).join(", ")})`,
    );
    return { label: variant.label, runs, median };
  });
}

/** Rows of the seed query through pg, every row fetched to the client. */
async function pgRunner(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  // Decimals as numbers, as the service returns them.
  client.setTypeParser(1700, (text: string) => Number(text));
  await client.connect();
  return {
    run: async () => (await client.query({ text: sql, rowMode: "array" })).rows.length,
    close: () => client.end(),
  };
}

/** Starts nats-server and a sql-join worker process over the benchmark databases. */
async function startFederated(
  usersUrl: string,
  ordersUrl: string,
  cleanup: (() => Promise<unknown>)[],
): Promise<Variant> {
  const nats = await startNatsServer({ jetstream: false });
  cleanup.unshift(() => nats.stop());
  const dir = await mkdtemp(join(tmpdir(), "entente-sql-bench-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const configFile = join(dir, "sql-join.yaml");
  await writeFile(
    configFile,
    [
      `nats: { servers: ${JSON.stringify(nats.url)} }`,
      "log: { level: info }",
      "sources:",
      `  users_db: { kind: postgres, url: ${JSON.stringify(usersUrl)} }`,
      `  orders_db: { kind: mysql, url: ${JSON.stringify(ordersUrl)} }`,
      "tables:",
      "  users: users_db.public.users",
      "  orders: orders_db.orders",
      "",
    ].join("\n"),
  );
  const worker = await startProcess({
    name: "sql-join worker",
    command: process.execPath,
    args: ["--conditions=@entente/source", WORKER],
    cwd: ROOT,
    env: { ...process.env, ENTENTE_CONFIG: configFile, NATS_URL: nats.url },
    readyLine: /"msg":"service started"/,
    timeoutMs: 60_000,
  });
  cleanup.unshift(() => worker.stop());
  const nc = await connect({ servers: nats.url });
  cleanup.unshift(() => nc.close());
  const client = new EntenteClient(nc, { defaultTimeoutMs: 300_000 });
  return {
    label: "federated, entente.sql",
    runs: RUNS,
    call: async () => {
      const items = await client.collect<{ rows?: unknown[][] }>(
        SUBJECTS.sql,
        { sql: SEED_SQL },
        { timeoutMs: 300_000 },
      );
      return items.reduce((n, item) => n + (item.rows?.length ?? 0), 0);
    },
  };
}

async function main(): Promise<void> {
  console.log(
    "\nSQL join benchmark: the seed query over users (PostgreSQL) and orders (MariaDB)\n",
  );
  const [pgServer, mariaServer] = await Promise.all([postgres(), mariadb()]);
  const cleanup: (() => Promise<unknown>)[] = [() => pgServer.stop(), () => mariaServer.stop()];
  try {
    console.log("data:");
    const [usersUrl, singleUrl, ordersUrl] = [
      await preparePostgres(pgServer.url, "entente_bench_users", ["users"], log),
      await preparePostgres(pgServer.url, "entente_bench_single", ["users", "orders"], log),
      await prepareMariaDb(mariaServer.url, "entente_bench_orders", log),
    ];

    const single = await pgRunner(singleUrl, SEED_SQL);
    cleanup.unshift(() => single.close());
    const variants: Variant[] = [
      { label: "single PostgreSQL database", runs: RUNS, call: single.run },
    ];

    let federatedProblem: string | undefined;
    try {
      variants.push(await startFederated(usersUrl, ordersUrl, cleanup));
    } catch (error) {
      federatedProblem = error instanceof Error ? error.message : String(error);
      log(`federated: the worker did not start — ${federatedProblem}`);
    }

    let fdwVariant: Variant | undefined;
    let fdwProblem: string | undefined = process.env.BENCH_SKIP_FDW
      ? "skipped (BENCH_SKIP_FDW)"
      : await setUpMysqlFdw(usersUrl, ordersUrl, "entente_bench_orders", log);
    if (fdwProblem === undefined) {
      const viaFdw = await pgRunner(usersUrl, FDW_SQL);
      cleanup.unshift(() => viaFdw.close());
      fdwVariant = { label: "PostgreSQL + mysql_fdw", runs: FDW_RUNS, call: viaFdw.run };
    } else {
      log(`mysql_fdw: ${fdwProblem}`);
    }

    // Single and federated alternate, so a change in load hits both; mysql_fdw runs apart, since
    // its full scans of the MariaDB table would slow whatever runs next.
    console.log("\ntimings (a warm-up each, then interleaved runs; median):");
    const failures = new Map<string, string>();
    const timings = await timeInterleaved(variants, failures);
    if (fdwVariant) timings.push(...(await timeInterleaved([fdwVariant], failures)));
    const baseline = timings.find((t) => t.label.startsWith("single"));
    if (!baseline) throw new Error(`the baseline failed: ${failures.get(variants[0]!.label)}`);
    federatedProblem ??= failures.get("federated, entente.sql");
    const federated = timings.find((t) => t.label.startsWith("federated"));
    const fdw = timings.find((t) => t.label.includes("mysql_fdw"));
    fdwProblem ??= failures.get("PostgreSQL + mysql_fdw");

    console.log(`\nresults (${EXPECTED_ROWS.toLocaleString("en")} rows each):`);
    const row = (t: Timing) => `  ${t.label.padEnd(30)} ${t.median.toFixed(0).padStart(8)} ms`;
    for (const t of [baseline, federated, fdw]) if (t) console.log(row(t));
    console.log("");
    if (federated) {
      const slower = federated.median / baseline.median;
      console.log(
        `  federated / single database = ${slower.toFixed(2)}x   (target <= 2x: ${slower <= 2 ? "met" : "missed"})`,
      );
    } else {
      console.log(`  federated / single database: not measured — ${federatedProblem}`);
    }
    if (fdw && federated) {
      const faster = fdw.median / federated.median;
      console.log(
        `  mysql_fdw / federated       = ${faster.toFixed(2)}x   (target >= 10x: ${faster >= 10 ? "met" : "missed"})`,
      );
    } else if (fdw) {
      const ratio = fdw.median / baseline.median;
      console.log(
        `  mysql_fdw / federated: not measured (mysql_fdw / single database = ${ratio.toFixed(2)}x)`,
      );
    } else {
      console.log(`  mysql_fdw / federated: not measured — ${fdwProblem}`);
    }
  } finally {
    for (const step of cleanup) await step().catch(() => {});
  }
}

await main();

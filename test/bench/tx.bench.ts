/**
 * The two-statement transfer across databases: a debit in PostgreSQL and a credit in MariaDB,
 *
 *   UPDATE accounts SET balance = balance - $1 WHERE id = $2      (PostgreSQL, bank.accounts)
 *   UPDATE accounts SET balance = balance + $1 WHERE id = $2      (MariaDB, shop.accounts)
 *
 * random accounts out of 10,000 on each side, at 1, 8 and 32 concurrent clients (each a closed
 * loop), measured three ways in the same run:
 *   2PC        both statements as one `statements` transaction through `entente.sql`, committed
 *              by two-phase commit (PREPARE TRANSACTION, XA, the decision in JetStream KV);
 *   separate   the same two statements as single writes through `entente.sql`, one after the
 *              other, each committed on its own (no atomicity);
 *   pgbench    one local PostgreSQL transaction (BEGIN; UPDATE; UPDATE; COMMIT) on one database
 *              of the same server holding both tables, run by pgbench (-f, -c, -j, -T, --log).
 * The sql-join worker is its own process (`entente serve sql-join`); this process is the client.
 * Prints throughput and latency per client count, the ratios 2PC/separate and 2PC/pgbench, the
 * worker's CPU per transfer, and checks after each Entente run that nothing is left prepared
 * (and, for 2PC, that the sum of balances across both databases is unchanged). Then a short
 * traced run shows where a 2PC transfer's time goes inside the worker.
 *
 *   node --conditions=@entente/source test/bench/tx.bench.ts
 *   BENCH_SECONDS=8 (measured per configuration), BENCH_WARMUP_SECONDS=2, BENCH_CLIENTS=1,8,32,
 *   BENCH_ACCOUNTS=10000, BENCH_POOL_SIZE (each source's poolSize; default the connectors'),
 *   BENCH_TRACE_SECONDS=3 (0: no traced run), BENCH_WORKER_NODE_ARGS (node options of the worker)
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SUBJECTS } from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
  startOtlpReceiver,
  startProcess,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import mysql from "mysql2/promise";
import pg from "pg";
import { percentile } from "./stats.ts";
import { breakdown, formatBreakdown } from "./tx/breakdown.ts";
import { findPgbench, runPgbench } from "./tx/pgbench.ts";
import { probeSteps } from "./tx/probe.ts";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CLIENTS = (process.env.BENCH_CLIENTS ?? "1,8,32").split(",").map(Number);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 10_000);
const POOL_SIZE = process.env.BENCH_POOL_SIZE ? Number(process.env.BENCH_POOL_SIZE) : undefined;
const TRACE_SECONDS = Number(process.env.BENCH_TRACE_SECONDS ?? 3);
/** Extra node options for the worker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter(Boolean);
/** Linux's USER_HZ, the unit of /proc's CPU times. */
const CLOCK_TICKS = 100;
const START_BALANCE = 1_000_000_000;
const TARGET = 0.5;

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(ROOT, "packages/server/src/bin.ts");

const DEBIT = "UPDATE bank.accounts SET balance = balance - $1 WHERE id = $2";
const CREDIT = "UPDATE shop.accounts SET balance = balance + $1 WHERE id = $2";
const PGBENCH_SCRIPT = [
  `\\set debit random(1, ${ACCOUNTS})`,
  `\\set credit random(1, ${ACCOUNTS})`,
  "\\set amount random(1, 100)",
  "BEGIN;",
  "UPDATE bank_accounts SET balance = balance - :amount WHERE id = :debit;",
  "UPDATE shop_accounts SET balance = balance + :amount WHERE id = :credit;",
  "COMMIT;",
  "",
].join("\n");

const randomId = () => 1 + Math.floor(Math.random() * ACCOUNTS);
const randomAmount = () => 1 + Math.floor(Math.random() * 100);

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  done: number;
  failed: number;
  firstError?: string;
  /** Worker CPU (user + system) per transfer, ms. */
  cpuMs?: number;
  /** The same by thread kind, user and system apart. */
  cpuByThread?: Map<string, number>;
  /** This process's (the client's) CPU per transfer, ms. */
  clientCpuMs?: number;
  /** How busy the machine's CPUs were while measured, 0..1. */
  machineBusy?: number;
}

function figures(latencies: number[], seconds: number, failed: number): Figures {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    done: latencies.length,
    failed,
  };
}

/** CPU time so far (ms) of a process's threads by kind, user and system apart, from /proc. */
function threadCpu(pid: number): Map<string, number> | undefined {
  const out = new Map<string, number>();
  const kind = (comm: string) =>
    comm === "MainThread"
      ? "main"
      : comm === "WorkerThread"
        ? "parse threads"
        : /^V8/.test(comm)
          ? "V8 (GC, compiler)"
          : /libuv/.test(comm)
            ? "libuv pool"
            : "other";
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
      const add = (key: string, ticks: number) =>
        out.set(key, (out.get(key) ?? 0) + (ticks * 1000) / CLOCK_TICKS);
      add(`${kind(comm)} user`, Number(fields[11]));
      add(`${kind(comm)} sys`, Number(fields[12]));
    }
    return out;
  } catch {
    return undefined;
  }
}

/** The machine's CPU ticks so far, busy and in all, from /proc/stat. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] as string;
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    // idle and iowait are the 4th and 5th.
    return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

interface Reading {
  worker: Map<string, number> | undefined;
  machine: { busy: number; total: number } | undefined;
  /** This process (the client) CPU so far, ms. */
  client: number;
}

function reading(workerPid: number): Reading {
  const own = process.cpuUsage();
  return {
    worker: threadCpu(workerPid),
    machine: machineTicks(),
    client: (own.user + own.system) / 1000,
  };
}

/** The worker's CPU per transfer between two readings: the total, and by thread kind. */
function cpuPer(
  from: Map<string, number> | undefined,
  to: Map<string, number> | undefined,
  transfers: number,
): { total: number; byThread: Map<string, number> } | undefined {
  if (!from || !to || transfers === 0) return undefined;
  const byThread = new Map<string, number>();
  let total = 0;
  for (const [key, ms] of to) {
    const d = (ms - (from.get(key) ?? 0)) / transfers;
    total += d;
    byThread.set(key, d);
  }
  return { total, byThread };
}

/**
 * `clients` closed loops calling `transfer` for the warm-up, then `SECONDS` measured: the
 * transfers started in the measured window count, with their latencies.
 */
async function closedLoop(
  clients: number,
  transfer: () => Promise<void>,
  workerPid: number,
  seconds = SECONDS,
  warmupSeconds = WARMUP_SECONDS,
): Promise<Figures & { latencies: number[] }> {
  const measureFrom = performance.now() + warmupSeconds * 1000;
  const measureTo = measureFrom + seconds * 1000;
  const latencies: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let cpuFrom: Reading | undefined;
  const cpuTimer = setTimeout(
    () => {
      cpuFrom = reading(workerPid);
    },
    Math.max(0, measureFrom - performance.now()),
  );
  let cpuTo: Reading | undefined;
  const lane = async () => {
    for (;;) {
      const started = performance.now();
      if (started >= measureTo) return;
      try {
        await transfer();
        if (started >= measureFrom) latencies.push(performance.now() - started);
      } catch (err) {
        if (started >= measureFrom) failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  const endTimer = setTimeout(
    () => {
      cpuTo = reading(workerPid);
    },
    Math.max(0, measureTo - performance.now()),
  );
  await Promise.all(Array.from({ length: clients }, lane));
  clearTimeout(cpuTimer);
  clearTimeout(endTimer);
  cpuTo ??= reading(workerPid);
  const result = { ...figures(latencies, seconds, failed), latencies };
  if (firstError !== undefined) Object.assign(result, { firstError });
  const cpu = cpuPer(cpuFrom?.worker, cpuTo?.worker, latencies.length);
  if (cpu) {
    result.cpuMs = cpu.total;
    result.cpuByThread = cpu.byThread;
  }
  if (cpuFrom && cpuTo && latencies.length > 0) {
    result.clientCpuMs = (cpuTo.client - cpuFrom.client) / latencies.length;
    if (cpuFrom.machine && cpuTo.machine) {
      result.machineBusy =
        (cpuTo.machine.busy - cpuFrom.machine.busy) / (cpuTo.machine.total - cpuFrom.machine.total);
    }
  }
  return result;
}

interface Databases {
  pgServer: PostgresService;
  mariaServer: MariaDbService;
  bankUrl: string;
  shopUrl: string;
  singleUrl: string;
  bank: pg.Client;
  shop: mysql.Connection;
  single: pg.Client;
}

async function setUpDatabases(): Promise<Databases> {
  const [pgServer, mariaServer] = await Promise.all([
    postgres({ settings: { max_prepared_transactions: "128", max_connections: "200" } }),
    mariadb(),
  ]);
  const bankUrl = await pgServer.createDatabase();
  const singleUrl = await pgServer.createDatabase();
  const shopUrl = await mariaServer.createDatabase();
  const bank = new pg.Client({ connectionString: bankUrl });
  const single = new pg.Client({ connectionString: singleUrl });
  for (const c of [bank, single]) {
    c.on("error", () => {});
    await c.connect();
  }
  const table = (name: string) => [
    `CREATE TABLE ${name} (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))`,
    `INSERT INTO ${name} SELECT g, ${START_BALANCE} FROM generate_series(1, ${ACCOUNTS}) g`,
    `VACUUM ANALYZE ${name}`,
  ];
  for (const sql of table("accounts")) await bank.query(sql);
  for (const sql of [...table("bank_accounts"), ...table("shop_accounts")]) await single.query(sql);
  const shop = await mysql.createConnection({ uri: shopUrl });
  for (const sql of [
    "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL, CHECK (balance >= 0)) ENGINE=InnoDB",
    `INSERT INTO accounts SELECT seq, ${START_BALANCE} FROM seq_1_to_${ACCOUNTS}`,
    "ANALYZE TABLE accounts",
  ]) {
    await shop.query(sql);
  }
  return { pgServer, mariaServer, bankUrl, shopUrl, singleUrl, bank, shop, single };
}

/** The sum of balances on both sides, and what is left prepared (PostgreSQL server-wide, XA). */
async function audit(db: Databases) {
  const pgSum = await db.bank.query("SELECT sum(balance)::text AS s FROM accounts");
  const [myRows] = await db.shop.query("SELECT CAST(SUM(balance) AS CHAR) AS s FROM accounts");
  const pgPrepared = await db.bank.query("SELECT count(*)::int AS n FROM pg_prepared_xacts");
  const [xa] = await db.shop.query("XA RECOVER");
  return {
    sum: BigInt(pgSum.rows[0].s) + BigInt((myRows as { s: string }[])[0]?.s ?? "0"),
    prepared: Number(pgPrepared.rows[0].n) + (xa as unknown[]).length,
  };
}

async function singleSum(db: Databases): Promise<bigint> {
  const r = await db.single.query(
    "SELECT ((SELECT sum(balance) FROM bank_accounts) + (SELECT sum(balance) FROM shop_accounts))::text AS s",
  );
  return BigInt(r.rows[0].s);
}

async function startWorker(
  db: Databases,
  natsUrl: string,
  dir: string,
  name: string,
  env: Record<string, string> = {},
): Promise<ManagedProcess> {
  const pool = POOL_SIZE === undefined ? "" : `, poolSize: ${POOL_SIZE}`;
  const configFile = join(dir, `${name}.yaml`);
  await writeFile(
    configFile,
    [
      `nats: { servers: ${JSON.stringify(natsUrl)} }`,
      "log: { level: info }",
      "sources:",
      `  bank: { kind: postgres, url: ${JSON.stringify(db.bankUrl)}${pool} }`,
      `  shop: { kind: mysql, url: ${JSON.stringify(db.shopUrl)}${pool} }`,
      "writes: { sources: [bank, shop] }",
      "",
    ].join("\n"),
  );
  return startProcess({
    name,
    command: process.execPath,
    args: [...WORKER_NODE_ARGS, "--conditions=@entente/source", BIN, "serve", "sql-join"],
    cwd: ROOT,
    env: { ...process.env, ENTENTE_CONFIG: configFile, NATS_URL: natsUrl, ...env },
    readyLine: /"msg":"service started"/,
    timeoutMs: 60_000,
  });
}

interface SqlReply {
  transaction?: { twoPhase?: boolean; outcome?: string };
  affectedRows?: number;
}

function transfers(client: EntenteClient) {
  const call = async (body: Record<string, unknown>) =>
    Object.assign({}, ...(await client.collect<SqlReply>(SUBJECTS.sql, body))) as SqlReply;
  return {
    twoPhase: async () => {
      const amount = randomAmount();
      const reply = await call({
        statements: [
          { sql: DEBIT, params: [amount, randomId()] },
          { sql: CREDIT, params: [amount, randomId()] },
        ],
      });
      if (reply.transaction?.outcome !== "committed" || reply.transaction.twoPhase !== true) {
        throw new Error(`not committed by two-phase commit: ${JSON.stringify(reply)}`);
      }
    },
    separate: async () => {
      const amount = randomAmount();
      const debit = await call({ sql: DEBIT, params: [amount, randomId()] });
      const credit = await call({ sql: CREDIT, params: [amount, randomId()] });
      if (debit.affectedRows !== 1 || credit.affectedRows !== 1) {
        throw new Error(`a write changed no row: ${JSON.stringify([debit, credit])}`);
      }
    },
  };
}

const fmt = (n: number | undefined, digits = 2) =>
  n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits);

async function main(): Promise<void> {
  console.log("\nTransfer benchmark: debit in PostgreSQL, credit in MariaDB\n");
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const pgbench = await findPgbench();
    const db = await setUpDatabases();
    cleanup.unshift(
      () => db.pgServer.stop(),
      () => db.mariaServer.stop(),
    );
    cleanup.unshift(
      () => db.bank.end(),
      () => db.single.end(),
      () => db.shop.end(),
    );
    const nats: NatsServer = await startNatsServer();
    cleanup.unshift(() => nats.stop());
    const dir = await mkdtemp(join(tmpdir(), "entente-bench-tx-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const worker = await startWorker(db, nats.url, dir, "sql-join worker");
    cleanup.unshift(() => worker.stop());
    const nc: NatsConnection = await connect({ servers: nats.url, noAsyncTraces: true });
    cleanup.unshift(() => nc.close());
    const client = new EntenteClient(nc, { defaultTimeoutMs: 30_000 });
    const transfer = transfers(client);
    await transfer.twoPhase();
    await transfer.separate();

    console.log(
      `${availableParallelism()} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(
          ", ",
        )} before; MariaDB at ${new URL(db.shopUrl).host}, PostgreSQL at ${new URL(db.bankUrl).host} (fsync off)`,
    );
    console.log(
      `${ACCOUNTS} accounts a side, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s measured per configuration; worker pool ${POOL_SIZE ?? "default (8)"} per source; pgbench: ${pgbench ?? "NOT FOUND"}`,
    );
    const rows: {
      clients: number;
      twoPhase: Figures;
      separate: Figures;
      pgbench?: Figures;
      checks: string[];
    }[] = [];
    for (const clients of CLIENTS) {
      const checks: string[] = [];
      const before = await audit(db);
      const twoPhase = await closedLoop(clients, transfer.twoPhase, worker.pid);
      const after = await audit(db);
      const sumOk = after.sum === before.sum;
      checks.push(
        `2PC: sum ${sumOk ? "unchanged" : `CHANGED by ${after.sum - before.sum}`}, ${after.prepared} left prepared`,
      );
      const separate = await closedLoop(clients, transfer.separate, worker.pid);
      const afterSeparate = await audit(db);
      checks.push(
        `separate: ${afterSeparate.prepared} left prepared, sum ${afterSeparate.sum === after.sum ? "unchanged" : `changed by ${afterSeparate.sum - after.sum} (no atomicity)`}`,
      );
      let baseline: Figures | undefined;
      if (pgbench) {
        const sumBefore = await singleSum(db);
        const r = await runPgbench({
          binary: pgbench,
          url: db.singleUrl,
          script: PGBENCH_SCRIPT,
          clients,
          seconds: SECONDS,
          warmupSeconds: WARMUP_SECONDS,
        });
        const sorted = [...r.latencies].sort((a, b) => a - b);
        baseline = {
          perSecond: r.perSecond,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          done: r.latencies.length,
          failed: r.failed,
        };
        checks.push(
          `pgbench: sum ${(await singleSum(db)) === sumBefore ? "unchanged" : "CHANGED"}`,
        );
      }
      const row = {
        clients,
        twoPhase,
        separate,
        checks,
        ...(baseline ? { pgbench: baseline } : {}),
      };
      rows.push(row);
      console.log(
        `  ${clients} clients: 2PC ${fmt(twoPhase.perSecond, 0)}/s (${twoPhase.done} done, ${twoPhase.failed} failed), separate ${fmt(separate.perSecond, 0)}/s (${separate.done} done, ${separate.failed} failed), pgbench ${fmt(baseline?.perSecond, 0)}/s; ${checks.join("; ")}`,
      );
      for (const [label, f] of [
        ["2PC", twoPhase],
        ["separate", separate],
      ] as const) {
        if (f.firstError) console.log(`    ${label}: first error: ${f.firstError}`);
      }
    }

    console.log("\nresults (tx/s = transfers per second; latencies in ms, per transfer):");
    console.log(
      [
        "clients".padStart(7),
        "2PC tx/s".padStart(9),
        "p50".padStart(7),
        "p99".padStart(7),
        "cpu ms".padStart(7),
        "sep tx/s".padStart(9),
        "p50".padStart(7),
        "p99".padStart(7),
        "cpu ms".padStart(7),
        "pgb tx/s".padStart(9),
        "p50".padStart(7),
        "p99".padStart(7),
        "2PC/sep".padStart(8),
        "2PC/pgb".padStart(8),
      ].join(" "),
    );
    for (const r of rows) {
      console.log(
        [
          String(r.clients).padStart(7),
          fmt(r.twoPhase.perSecond, 0).padStart(9),
          fmt(r.twoPhase.p50).padStart(7),
          fmt(r.twoPhase.p99).padStart(7),
          fmt(r.twoPhase.cpuMs).padStart(7),
          fmt(r.separate.perSecond, 0).padStart(9),
          fmt(r.separate.p50).padStart(7),
          fmt(r.separate.p99).padStart(7),
          fmt(r.separate.cpuMs).padStart(7),
          fmt(r.pgbench?.perSecond, 0).padStart(9),
          fmt(r.pgbench?.p50).padStart(7),
          fmt(r.pgbench?.p99).padStart(7),
          `${fmt(r.twoPhase.perSecond / r.separate.perSecond)}x`.padStart(8),
          (r.pgbench ? `${fmt(r.twoPhase.perSecond / r.pgbench.perSecond, 3)}x` : "-").padStart(8),
        ].join(" "),
      );
    }
    console.log("  (cpu ms: the sql-join worker process's user + system CPU per transfer)");
    for (const r of rows) {
      for (const [label, f] of [
        ["2PC", r.twoPhase],
        ["separate", r.separate],
      ] as const) {
        if (!f.cpuByThread) continue;
        const parts = [...f.cpuByThread]
          .filter(([, ms]) => ms >= 0.05)
          .sort((a, b) => b[1] - a[1])
          .map(([k, ms]) => `${k} ${ms.toFixed(2)}`);
        console.log(
          `  ${label} at ${r.clients} clients: worker cpu ms per transfer ${parts.join(", ")}; client (this process) ${fmt(f.clientCpuMs)} ms; machine CPUs ${f.machineBusy === undefined ? "-" : `${(100 * f.machineBusy).toFixed(0)}%`} busy`,
        );
      }
    }
    for (const r of rows) console.log(`  checks at ${r.clients} clients: ${r.checks.join("; ")}`);
    console.log(
      `  load average (1, 5, 15 min) at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(", ")} on ${availableParallelism()} CPUs`,
    );
    const at32 = rows.find((r) => r.clients === 32);
    if (at32) {
      const ratio = at32.twoPhase.perSecond / at32.separate.perSecond;
      console.log(
        `\n  2PC / separate at 32 clients = ${ratio.toFixed(3)}x   (target >= ${TARGET}x: ${ratio >= TARGET ? "met" : "NOT MET"})`,
      );
    }

    console.log(
      "\nthe steps of a 2PC transfer timed one at a time from this process (no Entente; 200 rounds, one connection each):",
    );
    for (const step of await probeSteps(db.bankUrl, db.shopUrl, nc, ACCOUNTS)) {
      console.log(
        `  ${step.step.padEnd(26)} p50 ${fmt(step.p50, 3).padStart(7)} ms   p99 ${fmt(step.p99, 3).padStart(7)} ms`,
      );
    }

    if (TRACE_SECONDS > 0) {
      await worker.stop();
      await tracedRun(db, dir);
    }
  } finally {
    for (const step of cleanup) await step().catch(() => {});
  }
}

/**
 * A worker exporting its spans to a local receiver, on a fresh NATS server (so its decision log
 * starts empty), runs 2PC transfers at 1 and at the most clients; prints where the time goes.
 */
async function tracedRun(db: Databases, dir: string): Promise<void> {
  const receiver = await startOtlpReceiver();
  const nats = await startNatsServer();
  let worker: ManagedProcess | undefined;
  let nc: NatsConnection | undefined;
  try {
    worker = await startWorker(db, nats.url, dir, "traced sql-join worker", {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.tracesUrl,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_BSP_MAX_QUEUE_SIZE: "200000",
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "2000",
      OTEL_TRACES_SAMPLER: "always_on",
    });
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
    const client = new EntenteClient(nc, { defaultTimeoutMs: 30_000 });
    const transfer = transfers(client);
    await transfer.twoPhase();
    console.log(
      `\nwhere a 2PC transfer's time goes in the worker (a traced worker, ${TRACE_SECONDS} s per client count; tracing adds its own cost):`,
    );
    for (const clients of [...new Set([1, Math.max(...CLIENTS)])]) {
      await new Promise((r) => setTimeout(r, 500));
      receiver.clear();
      const run = await closedLoop(clients, transfer.twoPhase, worker.pid, TRACE_SECONDS, 1);
      await new Promise((r) => setTimeout(r, 1500));
      const b = breakdown(receiver.spans());
      for (const line of formatBreakdown(
        `${clients} clients, ${fmt(run.perSecond, 0)}/s`,
        b,
        run.p50,
      )) {
        console.log(line);
      }
      if (clients === 1) {
        const names = [...b.names.entries()].map(([n, c]) => `${n} ×${c}`).join(", ");
        console.log(`    spans seen: ${names}`);
      }
    }
  } finally {
    await nc?.close().catch(() => {});
    await worker?.stop().catch(() => {});
    await nats.stop().catch(() => {});
    await receiver.close().catch(() => {});
  }
}

await main();
process.exit(0);

/**
 * The baseline of the transfer benchmark: PostgreSQL's own client tool, pgbench, running the
 * transfer as one local transaction on one database holding both tables. Found where the testkit
 * finds the server binaries (Debian's /usr/lib/postgresql/<version>/bin first), else on PATH.
 */
import { execFile } from "node:child_process";
import { access, constants, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { postgresInstallDirs } from "@entente/testkit";

const run = promisify(execFile);

/** The pgbench binary, or undefined when there is none. */
export async function findPgbench(): Promise<string | undefined> {
  const dirs = [
    ...(await postgresInstallDirs()),
    ...(process.env.PATH ?? "").split(":").filter(Boolean),
  ];
  for (const dir of dirs) {
    const candidate = join(dir, "pgbench");
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export interface PgbenchRun {
  /** pgbench's own figure, without the initial connection time. */
  perSecond: number;
  /** Every transaction's latency in ms, from `--log`. */
  latencies: number[];
  failed: number;
}

export interface PgbenchOptions {
  binary: string;
  /** The database holding both tables. */
  url: string;
  /** The transaction script (`-f`). */
  script: string;
  clients: number;
  seconds: number;
  /** Seconds run first, unmeasured. */
  warmupSeconds: number;
}

/** Runs the script with `-c clients -j min(clients, 2) -T seconds`, after a warm-up run. */
export async function runPgbench(options: PgbenchOptions): Promise<PgbenchRun> {
  const dir = await mkdtemp(join(tmpdir(), "entente-bench-pgbench-"));
  try {
    const scriptFile = join(dir, "transfer.sql");
    await writeFile(scriptFile, options.script);
    const url = new URL(options.url);
    const connection = [
      ...["-h", url.hostname, "-p", url.port || "5432", "-U", decodeURIComponent(url.username)],
      url.pathname.slice(1),
    ];
    const base = [
      "-n",
      "-f",
      scriptFile,
      "-c",
      String(options.clients),
      "-j",
      String(Math.min(options.clients, 2)),
    ];
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password) };
    if (options.warmupSeconds > 0) {
      await run(options.binary, [...base, "-T", String(options.warmupSeconds), ...connection], {
        env,
        cwd: dir,
      });
    }
    const prefix = join(dir, "tx");
    const { stdout } = await run(
      options.binary,
      [...base, "-T", String(options.seconds), "-l", `--log-prefix=${prefix}`, ...connection],
      { env, cwd: dir, maxBuffer: 16 * 1024 * 1024 },
    );
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
    const failedLine = /number of failed transactions: (\d+)/.exec(stdout);
    const latencies: number[] = [];
    for (const file of await readdir(dir)) {
      if (!file.startsWith("tx.")) continue;
      // client_id transaction_no time(us) script_no time_epoch time_us
      for (const line of (await readFile(join(dir, file), "utf8")).split("\n")) {
        const fields = line.split(" ");
        if (fields.length < 6) continue;
        const us = Number(fields[2]);
        if (Number.isFinite(us)) latencies.push(us / 1000);
      }
    }
    return {
      perSecond: tps ? Number(tps[1]) : latencies.length / options.seconds,
      latencies,
      failed: failedLine ? Number(failedLine[1]) : 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

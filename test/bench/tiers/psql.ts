/**
 * A long-lived `psql` process (the C client, as PostgreSQL's users time their queries): statements
 * go to its standard input with `\timing on`, and each call returns the rows psql printed
 * (unaligned, tab-separated) and the sum of the `Time:` lines it printed for them.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";

const END = "__entente_bench_end__";

export interface PsqlResult {
  rows: string[][];
  /** Milliseconds, as psql's `\timing` reports them, summed over the call's statements. */
  ms: number;
  /** Each statement's time. */
  times: number[];
}

export class Psql {
  readonly #proc: ChildProcessWithoutNullStreams;
  #stdout = "";
  #stderr = "";
  #waiting: (() => void) | undefined;
  #exited = false;

  private constructor(proc: ChildProcessWithoutNullStreams) {
    this.#proc = proc;
    proc.stdout.setEncoding("utf8");
    proc.stderr.setEncoding("utf8");
    proc.stdout.on("data", (chunk: string) => {
      this.#stdout += chunk;
      this.#waiting?.();
    });
    proc.stderr.on("data", (chunk: string) => {
      this.#stderr += chunk;
    });
    proc.on("exit", () => {
      this.#exited = true;
      this.#waiting?.();
    });
  }

  /** Starts psql on `url` with the session in UTC. */
  static async open(url: string): Promise<Psql> {
    const proc = spawn(
      "psql",
      ["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=0", "-d", url],
      { env: { ...process.env, PGTZ: "UTC", PGAPPNAME: "entente-bench-tiers" } },
    );
    const psql = new Psql(proc);
    await new Promise<void>((resolve, reject) => {
      proc.once("spawn", resolve);
      proc.once("error", reject);
    });
    await psql.run("\\timing on");
    return psql;
  }

  /** Runs `script` (statements ending in `;`, or psql commands) and waits for all its output. */
  async run(script: string): Promise<PsqlResult> {
    if (this.#exited) throw new Error(`psql has exited: ${this.#stderr.trim()}`);
    this.#stdout = "";
    this.#stderr = "";
    this.#proc.stdin.write(`${script}\n\\echo ${END}\n`);
    while (!this.#stdout.includes(`${END}\n`)) {
      if (this.#exited) throw new Error(`psql has exited: ${this.#stderr.trim()}`);
      await new Promise<void>((resolve) => {
        this.#waiting = resolve;
      });
      this.#waiting = undefined;
    }
    const lines = this.#stdout.slice(0, this.#stdout.indexOf(`${END}\n`)).split("\n");
    // psql writes errors to stderr, which may arrive just after stdout: give it a moment.
    await new Promise((resolve) => setImmediate(resolve));
    if (/\b(ERROR|FATAL):/.test(this.#stderr)) {
      throw new Error(`psql: ${this.#stderr.trim().split("\n").slice(0, 3).join(" / ")}`);
    }
    const rows: string[][] = [];
    const times: number[] = [];
    for (const line of lines) {
      const time = /^Time: ([\d.]+) ms/.exec(line);
      if (time) times.push(Number(time[1]));
      else if (line !== "" && line !== "Timing is on.") rows.push(line.split("\t"));
    }
    return { rows, ms: times.reduce((a, b) => a + b, 0), times };
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((resolve) => this.#proc.once("exit", resolve));
    this.#proc.stdin.end("\\q\n");
    const timer = setTimeout(() => this.#proc.kill("SIGTERM"), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

import { execFile, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { signalProcessGroup, trackProcessGroup, untrackProcessGroup } from "./cleanup.ts";
import { LogBuffer } from "./log-buffer.ts";

export interface StartProcessOptions {
  /** Used in messages, e.g. "nats-server". */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as another user (only possible as root). */
  uid?: number;
  gid?: number;
  /** The process is ready once it prints a line matching this. */
  readyLine?: RegExp;
  /** Polled (after `readyLine`, if any) until it resolves; a rejection means "not yet". */
  probe?: () => Promise<unknown>;
  /** Bound on the whole start; default 30 s. */
  timeoutMs?: number;
  /** Where output goes; pass the same buffer across restarts to keep earlier runs visible. */
  logs?: LogBuffer;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logs: LogBuffer;
  readonly running: boolean;
  readonly exited: Promise<ExitStatus>;
  /** Sends `signal` (default SIGKILL) to the process group and waits until the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** Asks the process to exit with `signal`, and kills it if it has not within `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
}

/** A server that failed to start; `logs` holds what it printed. */
export class ProcessStartError extends Error {
  readonly logs: string[];

  constructor(message: string, logs: LogBuffer) {
    const tail = logs.tail(40);
    super(tail === "" ? message : `${message}\n--- last output ---\n${tail}`);
    this.name = "ProcessStartError";
    this.logs = logs.lines();
  }
}

/**
 * Starts a server process in its own process group (so wrapper scripts and the children they
 * fork are signalled together) and resolves once it is ready: after `readyLine` and `probe`, or
 * at once if neither is given. The group is killed when the test process exits.
 */
export async function startProcess(options: StartProcessOptions): Promise<ManagedProcess> {
  const { name, command, args, timeoutMs = 30_000 } = options;
  const logs = options.logs ?? new LogBuffer();
  const commandLine = [command, ...args].join(" ");
  logs.push(`$ ${commandLine}`);

  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Later "error" events (none are expected) must not crash the test process.
  child.on("error", () => {});
  const spawned = new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid ?? 0));
    child.once("error", reject);
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      // Its last words (often the reason it failed) may still be in the pipes: read them first,
      // but do not wait on a grandchild that keeps a pipe open.
      const drained = Promise.all([child.stdout, child.stderr].map(closed));
      void Promise.race([drained, sleep(500)]).then(() => resolve({ code, signal }));
    });
    // A process that never spawned has no exit event.
    child.once("error", () => resolve({ code: null, signal: null }));
  });
  let running = true;

  let pid: number;
  try {
    pid = await spawned;
  } catch (error) {
    throw new ProcessStartError(`could not run ${name} (${commandLine}): ${String(error)}`, logs);
  }
  trackProcessGroup(pid);
  logs.follow(child.stdout);
  logs.follow(child.stderr);
  void exited.then((status) => {
    running = false;
    untrackProcessGroup(pid);
    logs.push(`[${name} exited: ${describeExit(status)}]`);
  });

  const kill = async (signal: NodeJS.Signals = "SIGKILL"): Promise<ExitStatus> => {
    if (running) signalProcessGroup(pid, signal);
    return exited;
  };
  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000) => {
    if (!running) return exited;
    signalProcessGroup(pid, signal);
    const timer = setTimeout(() => signalProcessGroup(pid, "SIGKILL"), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  const handle: ManagedProcess = {
    name,
    pid,
    logs,
    exited,
    kill,
    stop,
    get running() {
      return running;
    },
  };

  try {
    await waitUntilReady(handle, options, timeoutMs);
  } catch (error) {
    await kill("SIGKILL");
    throw error;
  }
  return handle;
}

async function waitUntilReady(
  proc: ManagedProcess,
  options: StartProcessOptions,
  timeoutMs: number,
): Promise<void> {
  const abort = new AbortController();
  let lastProbeError: unknown;
  const timeout = sleep(timeoutMs, undefined, { signal: abort.signal }).then(() => {
    const why = lastProbeError === undefined ? "" : ` (last check: ${String(lastProbeError)})`;
    throw new ProcessStartError(
      `${options.name} did not become ready within ${timeoutMs} ms${why}`,
      proc.logs,
    );
  });
  const died = proc.exited.then((status) => {
    throw new ProcessStartError(
      `${options.name} exited before it was ready (${describeExit(status)})`,
      proc.logs,
    );
  });
  const ready = (async () => {
    if (options.readyLine !== undefined) {
      await lineMatching(proc.logs, options.readyLine, abort.signal);
    }
    const probe = options.probe;
    if (probe === undefined) return;
    while (!abort.signal.aborted) {
      try {
        await probe();
        return;
      } catch (error) {
        lastProbeError = error;
      }
      await sleep(100);
    }
  })();
  try {
    await Promise.race([ready, timeout, died]);
  } finally {
    abort.abort();
    // The losing promises must not surface as unhandled rejections.
    timeout.catch(() => {});
    died.catch(() => {});
  }
}

// Only lines printed from now on count: a buffer shared across restarts holds earlier runs.
function lineMatching(logs: LogBuffer, pattern: RegExp, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const stop = logs.onLine((line) => {
      if (!pattern.test(line)) return;
      stop();
      resolve();
    });
    signal.addEventListener("abort", stop, { once: true });
  });
}

function closed(stream: Readable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once("close", () => resolve()));
}

function describeExit({ code, signal }: ExitStatus): string {
  return signal !== null ? `signal ${signal}` : `code ${code}`;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
}

/** Runs a setup command (initdb, rabbitmqctl, ...) to completion; its output is in the error. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        uid: options.uid,
        gid: options.gid,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim();
        if (error === null) resolve(output);
        else
          reject(new Error(`${[command, ...args].join(" ")} failed: ${error.message}\n${output}`));
      },
    );
  });
}

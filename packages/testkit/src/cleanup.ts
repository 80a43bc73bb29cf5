import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import type { Socket } from "node:net";

/**
 * Servers and temp dirs the testkit owns must not outlive the test process. A normal exit runs
 * the `exit` hook below; a worker that is killed (SIGKILL, or SIGTERM with no handler) never runs
 * it, so a small watchdog process holds a pipe to us and cleans up when that pipe closes.
 */

const groups = new Set<number>();
const dirs = new Set<string>();
let watchdog: Socket | undefined;
let hooked = false;

// Runs in its own process: reads "+pid 123" / "-dir /tmp/x" lines, cleans up on end of input.
const WATCHDOG_SOURCE = `
const { rmSync } = require("node:fs");
const pids = new Set();
const dirs = new Set();
let pending = "";
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => {});
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  pending += chunk;
  let newline;
  while ((newline = pending.indexOf("\\n")) >= 0) {
    const line = pending.slice(0, newline);
    pending = pending.slice(newline + 1);
    const set = line.slice(1, 4) === "pid" ? pids : dirs;
    const value = line.slice(5);
    if (line[0] === "+") set.add(value); else set.delete(value);
  }
});
const reap = () => {
  for (const pid of pids) {
    try { process.kill(-Number(pid), "SIGKILL"); } catch {
      try { process.kill(Number(pid), "SIGKILL"); } catch {}
    }
  }
  for (const dir of dirs) {
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch {}
  }
  process.exit(0);
};
process.stdin.on("end", reap);
process.stdin.on("error", reap);
`;

function tell(line: string): void {
  if (watchdog === undefined) {
    const child = spawn(process.execPath, ["-e", WATCHDOG_SOURCE], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
      env: { PATH: process.env.PATH ?? "" },
    });
    child.on("error", () => {});
    child.unref();
    watchdog = child.stdin as Socket;
    watchdog.on("error", () => {});
    watchdog.unref();
  }
  watchdog.write(`${line}\n`);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", () => {
    for (const pid of groups) signalProcessGroup(pid, "SIGKILL");
    for (const dir of dirs) removeDirSync(dir);
  });
}

/** Sends `signal` to the process group led by `pid`, or to `pid` alone if it has no group. */
export function signalProcessGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

export function trackProcessGroup(pid: number): void {
  hook();
  groups.add(pid);
  tell(`+pid ${pid}`);
}

export function untrackProcessGroup(pid: number): void {
  if (groups.delete(pid)) tell(`-pid ${pid}`);
}

export function trackDir(dir: string): void {
  hook();
  dirs.add(dir);
  tell(`+dir ${dir}`);
}

export function untrackDir(dir: string): void {
  if (dirs.delete(dir)) tell(`-dir ${dir}`);
}

function removeDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch {
    // Best effort at exit: a leftover temp dir must not turn a passing run into a failure.
  }
}

import { resolve } from "node:path";
import { type ManagedProcess, startProcess } from "@entente/testkit";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(ROOT, "packages/server/src/bin.ts");

export interface WorkerProcessOptions {
  service?: string;
  natsUrl: string;
  env?: NodeJS.ProcessEnv;
  name?: string;
}

/**
 * Starts `entente serve <service>` as a separate process, the way an operator would, and
 * resolves once it has logged that its services started.
 */
export function startWorkerProcess(options: WorkerProcessOptions): Promise<ManagedProcess> {
  return startProcess({
    name: options.name ?? `entente ${options.service ?? "diagnostics"}`,
    command: process.execPath,
    args: ["--conditions=@entente/source", BIN, "serve", options.service ?? "diagnostics"],
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: options.natsUrl,
      ...options.env,
    },
    readyLine: /"msg":"service started"/,
    timeoutMs: 30_000,
  });
}

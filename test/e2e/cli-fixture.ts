/**
 * For suites that run the real `entente` executable: a NATS server, a worker with the given
 * services on the embedded default, and a configuration file that points the command line at
 * that server.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig, type ServiceDefinition, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";

export const ROOT = resolve(import.meta.dirname, "../..");
export const BIN = join(ROOT, "packages/server/src/bin.ts");

export interface CliFixture {
  nats: NatsServer;
  worker: Worker;
  /** A directory of the suite's own, removed at the end. */
  dir: string;
  /** `-c` this file to reach the fixture's server. */
  configFile: string;
  stop(): Promise<void>;
}

export async function startCliFixture(services: ServiceDefinition[]): Promise<CliFixture> {
  const nats = await startNatsServer();
  const worker = await startWorker({
    services,
    config: loadConfig({ text: "log: { level: warn }\n", env: { NATS_URL: nats.url } }),
  });
  const dir = await mkdtemp(join(tmpdir(), "entente-cli-"));
  const configFile = join(dir, "cli.yaml");
  await writeFile(configFile, `nats: { servers: ["${nats.url}"] }\n`);
  return {
    nats,
    worker,
    dir,
    configFile,
    async stop() {
      await worker.stop();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

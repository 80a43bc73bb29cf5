import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type DiscoveryOptions, discovery, notFound } from "./discovery.ts";
import { isAddressInUse, withFreePort } from "./free-port.ts";
import { LogBuffer } from "./log-buffer.ts";
import { type ManagedProcess, startProcess } from "./process.ts";
import { once } from "./service.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";

const HOST = "127.0.0.1";

export const NATS_INSTALL_HINT =
  "nats-server on PATH (https://github.com/nats-io/nats-server/releases, " +
  "`brew install nats-server`, or `go install github.com/nats-io/nats-server/v2@latest`)";

export interface StartNatsServerOptions {
  /** Enable JetStream (`-js`); default true. */
  jetstream?: boolean;
  /** Extra command line arguments, e.g. cluster or leaf node settings. */
  args?: readonly string[];
  /**
   * A server configuration file's text (authorization, accounts, tls, …), written to a temp
   * file and passed with `-c`. Host, port and JetStream settings above win over it.
   */
  config?: string;
  /** JetStream store directory to use; default a fresh temp dir. A given dir is never removed. */
  storeDir?: string;
  /** Port to listen on; default a free one. */
  port?: number;
  /** Path of the nats-server binary; default found on PATH. */
  binary?: string;
  /** Where to look for the binary. */
  discovery?: DiscoveryOptions;
  /** Bound on each start; default 15 s. */
  timeoutMs?: number;
  /** How many output lines to keep; default 500. */
  logLines?: number;
}

/** A nats-server process owned by the test, which can crash and come back. */
export interface NatsServer extends AsyncDisposable {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last output lines, across restarts. */
  logs(): string[];
  /** Sends `signal` (default SIGKILL, a crash) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port and store dir; stops it first if it runs. */
  restart(): Promise<void>;
  /** Graceful shutdown, then removes the store dir if the testkit created it. Final. */
  stop(): Promise<void>;
}

/** Finds nats-server, or throws saying how to install it. */
export async function findNatsServerBinary(options?: DiscoveryOptions): Promise<string> {
  const found = discovery(options);
  const binary = await found.findBinary(["nats-server"]);
  if (binary !== undefined) return binary;
  throw new Error(
    `${notFound(["nats-server"], found.searchPath()).unavailable}. Install ${NATS_INSTALL_HINT}.`,
  );
}

/** Always starts a new local nats-server, for tests that need several or need to crash one. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const binary = options.binary ?? (await findNatsServerBinary(options.discovery));
  const jetstream = options.jetstream ?? true;
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await makeTempDir("nats"));
  const logs = new LogBuffer(options.logLines ?? 500);
  const configDir = options.config === undefined ? undefined : await makeTempDir("nats-conf");
  const configArgs: string[] = [];
  if (configDir !== undefined && options.config !== undefined) {
    const file = join(configDir, "nats-server.conf");
    await writeFile(file, options.config);
    configArgs.push("-c", file);
  }
  const removeDirs = async () => {
    if (ownsStore) await removeTempDir(storeDir);
    if (configDir !== undefined) await removeTempDir(configDir);
  };
  const launch = (port: number): Promise<ManagedProcess> =>
    startProcess({
      name: "nats-server",
      command: binary,
      args: [
        "-a",
        HOST,
        "-p",
        String(port),
        ...configArgs,
        ...(jetstream ? ["-js", "-sd", storeDir] : []),
        ...(options.args ?? []),
      ],
      readyLine: /Server is ready/,
      timeoutMs: options.timeoutMs ?? 15_000,
      logs,
    });

  let port: number;
  let proc: ManagedProcess;
  try {
    if (options.port !== undefined) {
      port = options.port;
      proc = await launch(port);
    } else {
      ({ port, proc } = await withFreePort(async (p) => ({ port: p, proc: await launch(p) })));
    }
  } catch (error) {
    await removeDirs();
    throw error;
  }

  let stopped = false;
  const stop = once(async () => {
    stopped = true;
    await proc.stop("SIGINT");
    await removeDirs();
  });

  return {
    url: `nats://${HOST}:${port}`,
    host: HOST,
    port,
    storeDir,
    get pid() {
      return proc.running ? proc.pid : undefined;
    },
    get running() {
      return proc.running;
    },
    logs: () => logs.lines(),
    async kill(signal = "SIGKILL") {
      await proc.kill(signal);
    },
    async restart() {
      if (stopped) throw new Error(`nats-server on port ${port} was stopped; start a new one`);
      if (proc.running) await proc.stop("SIGINT");
      // The old socket can linger for a moment after the process is gone.
      for (let attempt = 1; ; attempt++) {
        try {
          proc = await launch(port);
          return;
        } catch (error) {
          if (attempt >= 5 || !isAddressInUse(error)) throw error;
          await sleep(200);
        }
      }
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

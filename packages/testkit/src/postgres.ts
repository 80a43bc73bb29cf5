import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client } from "pg";
import { type RunningContainer, startContainer } from "./containers.ts";
import {
  type Discovery,
  type DiscoveryOptions,
  discoverService,
  discovery,
  isExecutable,
  notFound,
  type ServiceInfo,
  type Unavailable,
  unavailable,
} from "./discovery.ts";
import { isAddressInUse, withFreePort } from "./free-port.ts";
import { LogBuffer } from "./log-buffer.ts";
import { type ManagedProcess, runCommand, startProcess } from "./process.ts";
import { once, type ServiceHandle, type ServiceSource } from "./service.ts";
import { checkDatabaseName, withDatabase } from "./sql-names.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";
import { uniqueName } from "./unique-name.ts";
import { findAccount, runningAsRoot } from "./users.ts";
import { waitFor } from "./wait.ts";

export const POSTGRES_SERVICE: ServiceInfo = {
  title: "PostgreSQL",
  envVar: "ENTENTE_TEST_POSTGRES_URL",
  envExample: "postgres://postgres@127.0.0.1:5432/postgres",
  install:
    "the PostgreSQL server binaries initdb and postgres (Debian/Ubuntu `apt-get install " +
    "postgresql`, Fedora `dnf install postgresql-server`, macOS `brew install postgresql@17`)",
  image: "postgres:17",
};

export interface PostgresOptions {
  discovery?: DiscoveryOptions;
  /** Bound on start and readiness; default 30 s (containers: 120 s). */
  timeoutMs?: number;
  /**
   * Server settings, each passed as `-c name=value`, e.g. `{ max_prepared_transactions: "64" }`.
   * A server from ENTENTE_TEST_POSTGRES_URL cannot take them, so with settings the variable is
   * ignored and a server of its own is started (local binaries, else a container).
   */
  settings?: Record<string, string>;
}

export interface PostgresService extends ServiceHandle {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /**
   * Creates an empty database (default: a unique name) and returns its URL, so parallel tests
   * never share tables. On a server from the environment, `stop()` drops it again.
   */
  createDatabase(name?: string): Promise<string>;
  /**
   * Stops the server cleanly (SIGINT: prepared transactions survive) and starts it again on
   * the same data directory and port. Only for a server started from local binaries.
   */
  restart(): Promise<void>;
}

const HOST = "127.0.0.1";

/** A PostgreSQL server: from ENTENTE_TEST_POSTGRES_URL, local binaries, or a container. */
export function postgres(options: PostgresOptions = {}): Promise<PostgresService> {
  const settings = settingArgs(options.settings ?? {});
  const found = discovery(
    options.settings === undefined ? options.discovery : withoutUrl(options.discovery),
  );
  const timeoutMs = options.timeoutMs;
  return discoverService(POSTGRES_SERVICE, found, {
    async fromUrl(url) {
      await waitFor(`${POSTGRES_SERVICE.envVar}=${url}`, () => ping(url), timeoutMs ?? 10_000);
      return postgresService(url, "env", async () => {});
    },
    fromBinary: () => startLocalPostgres(found, settings, timeoutMs ?? 30_000),
    async fromContainer() {
      const urlOf = (c: RunningContainer) =>
        `postgres://postgres@${c.host}:${c.port(5432)}/postgres`;
      const container = await startContainer({
        image: POSTGRES_SERVICE.image,
        ports: [5432],
        env: { POSTGRES_HOST_AUTH_METHOD: "trust" },
        command: ["postgres", ...settings],
        startupTimeoutMs: timeoutMs,
        // The image restarts the server once after initialising; only the final one is on TCP.
        ready: { what: "PostgreSQL container", check: (c) => ping(urlOf(c)), timeoutMs },
      });
      return postgresService(urlOf(container), "container", () => container.stop());
    },
  });
}

/** Discovery that never takes the environment's server, which cannot take settings. */
function withoutUrl(options: DiscoveryOptions = {}): DiscoveryOptions {
  return {
    ...options,
    env: { ...(options.env ?? process.env), [POSTGRES_SERVICE.envVar]: undefined },
  };
}

function settingArgs(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
}

async function startLocalPostgres(
  found: Discovery,
  settings: readonly string[],
  timeoutMs: number,
): Promise<PostgresService | Unavailable> {
  const knownDirs = await postgresInstallDirs();
  const server = await found.findBinary(["postgres"], knownDirs);
  const sibling = server && join(dirname(server), "initdb");
  const initdb =
    sibling && (await isExecutable(sibling))
      ? sibling
      : await found.findBinary(["initdb"], knownDirs);
  if (server === undefined || initdb === undefined) {
    return notFound(["initdb", "postgres"], found.searchPath(knownDirs));
  }
  // PostgreSQL refuses to run as root; as root we run it as an unprivileged account instead.
  const account = runningAsRoot() ? await findAccount(["postgres", "nobody"]) : undefined;
  if (runningAsRoot() && account === undefined) {
    return unavailable(
      "postgres refuses to run as root, and there is no 'postgres' or 'nobody' account to run it as",
    );
  }
  const asUser = account && { uid: account.uid, gid: account.gid };
  const dir = await makeTempDir("postgres", asUser);
  const dataDir = join(dir, "data");
  try {
    await runCommand(
      initdb,
      ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"],
      { cwd: dir, ...asUser, timeoutMs },
    );
    // One buffer across restarts, so a failed restart shows the earlier runs too.
    const logs = new LogBuffer();
    const launch = (port: number) =>
      startProcess({
        name: "postgres",
        command: server,
        // Durability is pointless for a throwaway test database; skipping it makes tests faster.
        args: [
          ...["-D", dataDir, "-p", String(port), "-h", HOST, "-k", dir],
          ...["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
          ...settings,
        ],
        cwd: dir,
        ...asUser,
        probe: () => ping(urlAt(port)),
        timeoutMs,
        logs,
      });
    const started = await withFreePort(async (port) => ({ port, proc: await launch(port) }));
    const port = started.port;
    let proc = started.proc;
    let stopped = false;
    return postgresService(
      urlAt(port),
      "binary",
      async () => {
        stopped = true;
        await proc.stop("SIGINT");
        await removeTempDir(dir);
      },
      async () => {
        if (stopped) throw new Error(`PostgreSQL on port ${port} was stopped; start a new one`);
        await proc.stop("SIGINT");
        proc = await relaunch(() => launch(port));
      },
    );
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

function urlAt(port: number): string {
  return `postgres://postgres@${HOST}:${port}/postgres`;
}

/** Starts again on the same port, which the old server's socket may hold for a moment. */
async function relaunch(launch: () => Promise<ManagedProcess>): Promise<ManagedProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch();
    } catch (error) {
      if (attempt >= 5 || !isAddressInUse(error)) throw error;
      await sleep(200);
    }
  }
}

/** Where distributions install PostgreSQL outside PATH, newest version first. */
export async function postgresInstallDirs(): Promise<string[]> {
  const versioned = async (base: string, pattern: RegExp, suffix: string) => {
    const entries = await readdir(base).catch(() => [] as string[]);
    return entries
      .map((entry) => ({ entry, version: Number(pattern.exec(entry)?.[1]) }))
      .filter(({ version }) => !Number.isNaN(version))
      .sort((a, b) => b.version - a.version)
      .map(({ entry }) => join(base, entry, suffix));
  };
  return [
    ...(await versioned("/usr/lib/postgresql", /^(\d+)$/, "bin")), // Debian, Ubuntu
    ...(await versioned("/usr", /^pgsql-(\d+)$/, "bin")), // PGDG RPMs
    ...(await versioned("/opt/homebrew/opt", /^postgresql@(\d+)$/, "bin")), // Homebrew
    ...(await versioned("/usr/local/opt", /^postgresql@(\d+)$/, "bin")),
  ];
}

async function ping(url: string): Promise<void> {
  await withClient(url, (client) => client.query("SELECT 1"));
}

async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A server shutting down ends idle connections; that must not crash the test process.
  client.on("error", () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function postgresService(
  url: string,
  source: ServiceSource,
  release: () => Promise<void>,
  restart?: () => Promise<void>,
): PostgresService {
  const parsed = new URL(url);
  const created: string[] = [];
  const stop = once(async () => {
    // Databases on someone else's server are dropped; owned servers go away with their data.
    if (source === "env" && created.length > 0) await dropDatabases(url, created);
    await release();
  });
  return {
    url,
    source,
    host: parsed.hostname,
    port: parsed.port === "" ? 5432 : Number(parsed.port),
    user: decodeURIComponent(parsed.username) || "postgres",
    database: decodeURIComponent(parsed.pathname.slice(1)) || "postgres",
    async createDatabase(name = uniqueName("test")) {
      checkDatabaseName(name);
      // template0 cannot be connected to, so creation never fails because of a busy template1.
      await withClient(url, (client) =>
        client.query(`CREATE DATABASE "${name}" TEMPLATE template0`),
      );
      created.push(name);
      return withDatabase(url, name);
    },
    async restart() {
      if (restart === undefined) {
        throw new Error(
          `cannot restart the PostgreSQL server at ${url} (${source}): only a server the testkit started from local binaries can be restarted`,
        );
      }
      await restart();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function dropDatabases(url: string, names: readonly string[]): Promise<void> {
  await withClient(url, async (client) => {
    for (const name of names) {
      // WITH (FORCE) (PostgreSQL 13+) ends sessions a test forgot to close.
      await client
        .query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
        .catch(() => client.query(`DROP DATABASE IF EXISTS "${name}"`))
        .catch(() => {});
    }
  }).catch(() => {});
}

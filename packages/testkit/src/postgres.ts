import { readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
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
import { withFreePort } from "./free-port.ts";
import { runCommand, startProcess } from "./process.ts";
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
}

const HOST = "127.0.0.1";

/** A PostgreSQL server: from ENTENTE_TEST_POSTGRES_URL, local binaries, or a container. */
export function postgres(options: PostgresOptions = {}): Promise<PostgresService> {
  const found = discovery(options.discovery);
  const timeoutMs = options.timeoutMs;
  return discoverService(POSTGRES_SERVICE, found, {
    async fromUrl(url) {
      await waitFor(`${POSTGRES_SERVICE.envVar}=${url}`, () => ping(url), timeoutMs ?? 10_000);
      return postgresService(url, "env", async () => {});
    },
    fromBinary: () => startLocalPostgres(found, timeoutMs ?? 30_000),
    async fromContainer() {
      const urlOf = (c: RunningContainer) =>
        `postgres://postgres@${c.host}:${c.port(5432)}/postgres`;
      const container = await startContainer({
        image: POSTGRES_SERVICE.image,
        ports: [5432],
        env: { POSTGRES_HOST_AUTH_METHOD: "trust" },
        startupTimeoutMs: timeoutMs,
        // The image restarts the server once after initialising; only the final one is on TCP.
        ready: { what: "PostgreSQL container", check: (c) => ping(urlOf(c)), timeoutMs },
      });
      return postgresService(urlOf(container), "container", () => container.stop());
    },
  });
}

async function startLocalPostgres(
  found: Discovery,
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
    const { url, proc } = await withFreePort(async (port) => {
      const url = `postgres://postgres@${HOST}:${port}/postgres`;
      const proc = await startProcess({
        name: "postgres",
        command: server,
        // Durability is pointless for a throwaway test database; skipping it makes tests faster.
        args: [
          ...["-D", dataDir, "-p", String(port), "-h", HOST, "-k", dir],
          ...["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        ],
        cwd: dir,
        ...asUser,
        probe: () => ping(url),
        timeoutMs,
      });
      return { url, proc };
    });
    return postgresService(url, "binary", async () => {
      await proc.stop("SIGINT");
      await removeTempDir(dir);
    });
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/** Where distributions install PostgreSQL outside PATH, newest version first. */
async function postgresInstallDirs(): Promise<string[]> {
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

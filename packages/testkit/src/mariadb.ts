import { mkdir } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { type Connection, createConnection } from "mysql2/promise";
import { type RunningContainer, startContainer } from "./containers.ts";
import {
  type Discovery,
  type DiscoveryOptions,
  discoverService,
  discovery,
  notFound,
  type ServiceInfo,
  type Unavailable,
} from "./discovery.ts";
import { withFreePort } from "./free-port.ts";
import { runCommand, startProcess } from "./process.ts";
import { once, type ServiceHandle, type ServiceSource } from "./service.ts";
import { checkDatabaseName, withDatabase } from "./sql-names.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";
import { uniqueName } from "./unique-name.ts";
import { runningAsRoot } from "./users.ts";
import { waitFor } from "./wait.ts";

export const MARIADB_SERVICE: ServiceInfo = {
  title: "MariaDB",
  envVar: "ENTENTE_TEST_MARIADB_URL",
  envExample: "mysql://root@127.0.0.1:3306/test",
  install:
    "the MariaDB server binaries mariadbd and mariadb-install-db (Debian/Ubuntu `apt-get " +
    "install mariadb-server`, Fedora `dnf install mariadb-server`, macOS `brew install mariadb`)",
  image: "mariadb:11",
};

export interface MariaDbOptions {
  discovery?: DiscoveryOptions;
  /** Bound on start and readiness; default 30 s (containers: 120 s). */
  timeoutMs?: number;
  /**
   * Server options, each passed as `--name=value`, e.g. `{ "sql-mode": "NO_BACKSLASH_ESCAPES" }`.
   * A server from ENTENTE_TEST_MARIADB_URL cannot take them, so with settings the variable is
   * ignored and a server of its own is started (local binaries, else a container).
   */
  settings?: Record<string, string>;
}

export interface MariaDbService extends ServiceHandle {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The database the URL points at; created if it did not exist. */
  readonly database: string;
  /**
   * Creates an empty database (default: a unique name) and returns its URL, so parallel tests
   * never share tables. On a server from the environment, `stop()` drops it again.
   */
  createDatabase(name?: string): Promise<string>;
}

const HOST = "127.0.0.1";
const DEFAULT_DATABASE = "test";

/** A MariaDB server: from ENTENTE_TEST_MARIADB_URL, local binaries, or a container. */
export function mariadb(options: MariaDbOptions = {}): Promise<MariaDbService> {
  const settings = Object.entries(options.settings ?? {}).map(
    ([name, value]) => `--${name}=${value}`,
  );
  const found = discovery(
    options.settings === undefined ? options.discovery : withoutUrl(options.discovery),
  );
  const timeoutMs = options.timeoutMs;
  return discoverService(MARIADB_SERVICE, found, {
    async fromUrl(url) {
      await waitFor(`${MARIADB_SERVICE.envVar}=${url}`, () => ping(url), timeoutMs ?? 10_000);
      await ensureDatabase(url);
      return mariaDbService(url, "env", async () => {});
    },
    fromBinary: () => startLocalMariaDb(found, settings, timeoutMs ?? 30_000),
    async fromContainer() {
      const urlOf = (c: RunningContainer) =>
        `mysql://root@${c.host}:${c.port(3306)}/${DEFAULT_DATABASE}`;
      const container = await startContainer({
        image: MARIADB_SERVICE.image,
        ports: [3306],
        command: settings,
        env: { MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: "1", MARIADB_DATABASE: DEFAULT_DATABASE },
        startupTimeoutMs: timeoutMs,
        // The image initialises with networking off, so TCP answers only when it is done.
        ready: { what: "MariaDB container", check: (c) => ping(urlOf(c)), timeoutMs },
      });
      return mariaDbService(urlOf(container), "container", () => container.stop());
    },
  });
}

/** Discovery that never takes the environment's server, which cannot take settings. */
function withoutUrl(options: DiscoveryOptions = {}): DiscoveryOptions {
  return {
    ...options,
    env: { ...(options.env ?? process.env), [MARIADB_SERVICE.envVar]: undefined },
  };
}

async function startLocalMariaDb(
  found: Discovery,
  settings: readonly string[],
  timeoutMs: number,
): Promise<MariaDbService | Unavailable> {
  const server = await found.findBinary(["mariadbd", "mysqld"]);
  const installDb = await found.findBinary(["mariadb-install-db", "mysql_install_db"]);
  if (server === undefined || installDb === undefined) {
    return notFound(["mariadbd", "mariadb-install-db"], found.searchPath());
  }
  // mariadbd refuses to run as root unless told to explicitly.
  const asRoot = runningAsRoot() ? [`--user=${userInfo().username}`] : [];
  const dir = await makeTempDir("mariadb");
  const dataDir = join(dir, "data");
  // A private tmpdir: mariadbd deletes every "#sql*" file in its tmpdir when it starts, which
  // would take the temporary tables of another server sharing /tmp from under its statements.
  const tmpDir = join(dir, "tmp");
  try {
    await mkdir(tmpDir);
    await runCommand(
      installDb,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        `--tmpdir=${tmpDir}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        ...asRoot,
      ],
      { cwd: dir, timeoutMs },
    );
    const { url, proc } = await withFreePort(async (port) => {
      const url = `mysql://root@${HOST}:${port}/`;
      const proc = await startProcess({
        name: "mariadbd",
        command: server,
        args: [
          "--no-defaults",
          `--datadir=${dataDir}`,
          `--tmpdir=${tmpDir}`,
          `--port=${port}`,
          `--bind-address=${HOST}`,
          `--socket=${join(dir, "mysqld.sock")}`,
          `--pid-file=${join(dir, "mysqld.pid")}`,
          "--skip-name-resolve",
          // A throwaway test database needs neither durability nor a big buffer pool.
          "--innodb-buffer-pool-size=32M",
          "--innodb-flush-log-at-trx-commit=0",
          ...settings,
          ...asRoot,
        ],
        cwd: dir,
        probe: () => ping(url),
        timeoutMs,
      });
      return { url: withDatabase(url, DEFAULT_DATABASE), proc };
    });
    await ensureDatabase(url);
    return mariaDbService(url, "binary", async () => {
      await proc.stop("SIGTERM", 30_000);
      await removeTempDir(dir);
    });
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/** Connects to the server without selecting a database, so a missing one is no failure. */
async function withConnection<T>(url: string, use: (db: Connection) => Promise<T>): Promise<T> {
  const connection = await createConnection({ uri: withDatabase(url, ""), connectTimeout: 5_000 });
  // A server shutting down ends idle connections; that must not crash the test process.
  connection.on("error", () => {});
  try {
    return await use(connection);
  } finally {
    await connection.end().catch(() => {});
  }
}

async function ping(url: string): Promise<void> {
  await withConnection(url, (db) => db.query("SELECT 1"));
}

async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (name === "") return;
  checkDatabaseName(name);
  await withConnection(url, (db) => db.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``));
}

function mariaDbService(
  url: string,
  source: ServiceSource,
  release: () => Promise<void>,
): MariaDbService {
  const parsed = new URL(url);
  const created: string[] = [];
  const stop = once(async () => {
    // Databases on someone else's server are dropped; owned servers go away with their data.
    if (source === "env" && created.length > 0) {
      await withConnection(url, async (db) => {
        for (const name of created) await db.query(`DROP DATABASE IF EXISTS \`${name}\``);
      }).catch(() => {});
    }
    await release();
  });
  return {
    url,
    source,
    host: parsed.hostname,
    port: parsed.port === "" ? 3306 : Number(parsed.port),
    user: decodeURIComponent(parsed.username) || "root",
    database: decodeURIComponent(parsed.pathname.slice(1)),
    async createDatabase(name = uniqueName("test")) {
      checkDatabaseName(name);
      await withConnection(url, (db) => db.query(`CREATE DATABASE \`${name}\``));
      created.push(name);
      return withDatabase(url, name);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

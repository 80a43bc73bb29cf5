import { realpath, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { connect } from "amqplib";
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
} from "./discovery.ts";
import { freePort, withFreePort } from "./free-port.ts";
import { runCommand, startProcess } from "./process.ts";
import { once, type ServiceHandle, type ServiceSource } from "./service.ts";
import { makeTempDir, removeTempDir } from "./temp-dir.ts";
import { uniqueName } from "./unique-name.ts";
import { waitFor } from "./wait.ts";

export const RABBITMQ_SERVICE: ServiceInfo = {
  title: "RabbitMQ",
  envVar: "ENTENTE_TEST_RABBITMQ_URL",
  envExample: "amqp://guest:guest@127.0.0.1:5672",
  install:
    "RabbitMQ so that rabbitmq-server is found (Debian/Ubuntu `apt-get install rabbitmq-server`, " +
    "macOS `brew install rabbitmq`)",
  image: "rabbitmq:4",
};

/** Management API of a broker from the environment, needed only by `createVhost`. */
export const RABBITMQ_MANAGEMENT_ENV = "ENTENTE_TEST_RABBITMQ_MANAGEMENT_URL";

export interface RabbitMqOptions {
  discovery?: DiscoveryOptions;
  /** Bound on start and readiness; default 60 s (containers: 120 s). */
  timeoutMs?: number;
}

export interface RabbitMqService extends ServiceHandle {
  readonly host: string;
  readonly port: number;
  /**
   * Creates a vhost (default: a unique name) the URL's user may use fully, and returns the URL
   * for it. A broker from the environment needs ENTENTE_TEST_RABBITMQ_MANAGEMENT_URL for this;
   * its vhosts are deleted again by `stop()`. Where vhosts are too costly, `uniqueName()` for
   * queue and exchange names isolates tests as well.
   */
  createVhost(name?: string): Promise<string>;
}

const HOST = "127.0.0.1";

/** A RabbitMQ broker: from ENTENTE_TEST_RABBITMQ_URL, a local rabbitmq-server, or a container. */
export function rabbitmq(options: RabbitMqOptions = {}): Promise<RabbitMqService> {
  const found = discovery(options.discovery);
  const timeoutMs = options.timeoutMs;
  return discoverService(RABBITMQ_SERVICE, found, {
    async fromUrl(url) {
      await waitFor(`${RABBITMQ_SERVICE.envVar}=${url}`, () => ping(url), timeoutMs ?? 10_000);
      return fromEnvironment(url, found.url(RABBITMQ_MANAGEMENT_ENV));
    },
    fromBinary: () => startLocalRabbitMq(found, timeoutMs ?? 60_000),
    async fromContainer() {
      const urlOf = (c: RunningContainer) => `amqp://guest:guest@${c.host}:${c.port(5672)}`;
      const container = await startContainer({
        image: RABBITMQ_SERVICE.image,
        ports: [5672],
        startupTimeoutMs: timeoutMs,
        ready: { what: "RabbitMQ container", check: (c) => ping(urlOf(c)), timeoutMs },
      });
      const url = urlOf(container);
      const ctl = async (args: string[]) => {
        const result = await container.exec(["rabbitmqctl", ...args]);
        if (result.exitCode !== 0)
          throw new Error(`rabbitmqctl ${args.join(" ")}: ${result.output}`);
      };
      return rabbitMqService(url, "container", {
        add: (vhost) => addVhostWithCtl(ctl, vhost, "guest"),
        release: () => container.stop(),
      });
    },
  });
}

interface VhostControl {
  add(vhost: string): Promise<void>;
  remove?(vhost: string): Promise<void>;
  release(): Promise<void>;
}

async function startLocalRabbitMq(
  found: Discovery,
  timeoutMs: number,
): Promise<RabbitMqService | Unavailable> {
  const launcher = await found.findBinary(["rabbitmq-server"]);
  if (launcher === undefined) return notFound(["rabbitmq-server"], found.searchPath());
  const { server, ctl } = await rabbitScripts(launcher);
  const dir = await makeTempDir("rabbitmq");
  try {
    // Own config, plugin list and env file, so the machine's broker settings (ports, node
    // name, management plugin) cannot clash with this one.
    await writeFile(join(dir, "rabbitmq.conf"), "loopback_users.guest = true\n");
    await writeFile(join(dir, "enabled_plugins"), "[].\n");
    await writeFile(join(dir, "rabbitmq-env.conf"), "");
    const { port, env, proc } = await withFreePort(async (port) => {
      const env = rabbitEnv(dir, port, await freePort());
      const url = `amqp://guest:guest@${HOST}:${port}`;
      const proc = await startProcess({
        name: "rabbitmq-server",
        command: server,
        args: [],
        env,
        cwd: dir,
        probe: () => ping(url),
        timeoutMs,
      });
      return { port, env, proc };
    });
    const node = env.RABBITMQ_NODENAME ?? "";
    const run = async (args: string[]) => {
      await runCommand(ctl, ["-n", node, ...args], { env, cwd: dir, timeoutMs: 60_000 });
    };
    return rabbitMqService(`amqp://guest:guest@${HOST}:${port}`, "binary", {
      add: (vhost) => addVhostWithCtl(run, vhost, "guest"),
      async release() {
        await proc.stop("SIGTERM", 30_000);
        await removeTempDir(dir);
      },
    });
  } catch (error) {
    await removeTempDir(dir);
    throw error;
  }
}

/**
 * Distribution packages wrap rabbitmq-server in a script that switches to the rabbitmq user and
 * fixed directories; the script it wraps takes our environment as given.
 */
async function rabbitScripts(launcher: string): Promise<{ server: string; ctl: string }> {
  const resolved = await realpath(launcher);
  const dir = dirname(resolved);
  const server = basename(resolved) === "rabbitmq-server" ? resolved : join(dir, "rabbitmq-server");
  const ctl = join(dir, "rabbitmqctl");
  return {
    server: (await isExecutable(server)) ? server : launcher,
    ctl: (await isExecutable(ctl)) ? ctl : join(dirname(launcher), "rabbitmqctl"),
  };
}

function rabbitEnv(dir: string, port: number, distPort: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // The Erlang cookie lives in HOME; a private one keeps other nodes out.
    HOME: dir,
    RABBITMQ_NODENAME: `entente-${port}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONF_ENV_FILE: join(dir, "rabbitmq-env.conf"),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_LOGS: "-",
    RABBITMQ_PID_FILE: join(dir, "rabbitmq.pid"),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
    ERL_EPMD_ADDRESS: HOST,
  };
}

async function addVhostWithCtl(
  ctl: (args: string[]) => Promise<void>,
  vhost: string,
  user: string,
): Promise<void> {
  await ctl(["add_vhost", vhost]);
  await ctl(["set_permissions", "-p", vhost, user, ".*", ".*", ".*"]);
}

function fromEnvironment(url: string, managementUrl: string | undefined): RabbitMqService {
  const amqp = new URL(url);
  const user = decodeURIComponent(amqp.username) || "guest";
  if (managementUrl === undefined) {
    return rabbitMqService(url, "env", {
      add: async () => {
        throw new Error(
          `createVhost on the broker from ${RABBITMQ_SERVICE.envVar} needs its management API: ` +
            `enable rabbitmq_management and set ${RABBITMQ_MANAGEMENT_ENV}, e.g. ` +
            `${RABBITMQ_MANAGEMENT_ENV}=http://guest:guest@127.0.0.1:15672 ` +
            "(or isolate tests with uniqueName() for queue and exchange names)",
        );
      },
      release: async () => {},
    });
  }
  const api = managementApi(managementUrl, amqp);
  return rabbitMqService(url, "env", {
    async add(vhost) {
      await api("PUT", `/api/vhosts/${encodeURIComponent(vhost)}`);
      await api(
        "PUT",
        `/api/permissions/${encodeURIComponent(vhost)}/${encodeURIComponent(user)}`,
        {
          configure: ".*",
          write: ".*",
          read: ".*",
        },
      );
    },
    async remove(vhost) {
      await api("DELETE", `/api/vhosts/${encodeURIComponent(vhost)}`);
    },
    release: async () => {},
  });
}

/** Calls the management HTTP API; credentials come from its URL, else from the AMQP URL. */
function managementApi(managementUrl: string, amqp: URL) {
  const base = new URL(managementUrl);
  const user = decodeURIComponent(base.username || amqp.username) || "guest";
  const password = decodeURIComponent(base.password || amqp.password) || "guest";
  base.username = "";
  base.password = "";
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
  return async (method: string, path: string, body?: unknown): Promise<void> => {
    const response = await fetch(new URL(path, base), {
      method,
      headers: { authorization, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(
        `${method} ${path} on ${base.origin}: HTTP ${response.status} ${await response.text()}`,
      );
    }
  };
}

function rabbitMqService(
  url: string,
  source: ServiceSource,
  vhosts: VhostControl,
): RabbitMqService {
  const parsed = new URL(url);
  const created: string[] = [];
  const stop = once(async () => {
    for (const vhost of created) await vhosts.remove?.(vhost).catch(() => {});
    await vhosts.release();
  });
  return {
    url,
    source,
    host: parsed.hostname,
    port: parsed.port === "" ? 5672 : Number(parsed.port),
    async createVhost(name = uniqueName("test")) {
      await vhosts.add(name);
      created.push(name);
      const vhostUrl = new URL(url);
      vhostUrl.pathname = `/${encodeURIComponent(name)}`;
      return vhostUrl.toString();
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

async function ping(url: string): Promise<void> {
  const connection = await connect(url, { timeout: 5_000 });
  connection.on("error", () => {});
  await connection.close();
}

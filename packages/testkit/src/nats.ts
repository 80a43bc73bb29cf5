import { connect } from "@nats-io/transport-node";
import { startContainer } from "./containers.ts";
import {
  type DiscoveryOptions,
  discoverService,
  discovery,
  notFound,
  type ServiceInfo,
} from "./discovery.ts";
import { NATS_INSTALL_HINT, type NatsServer, startNatsServer } from "./nats-server.ts";
import { hostAndPort, once, type ServiceHandle } from "./service.ts";

export const NATS_SERVICE: ServiceInfo = {
  title: "NATS server with JetStream",
  envVar: "ENTENTE_TEST_NATS_URL",
  envExample: "nats://127.0.0.1:4222",
  install: NATS_INSTALL_HINT,
  image: "nats:2",
};

export interface NatsServiceOptions {
  /** Extra nats-server arguments when the testkit starts the server itself. */
  args?: readonly string[];
  discovery?: DiscoveryOptions;
  /** Bound on start and readiness; default 15 s (containers: 120 s). */
  timeoutMs?: number;
}

export interface NatsService extends ServiceHandle {
  readonly host: string;
  readonly port: number;
  /** The process, when the testkit started a local binary. */
  readonly server?: NatsServer;
}

/** A NATS server with JetStream: from ENTENTE_TEST_NATS_URL, a local binary, or a container. */
export function natsServer(options: NatsServiceOptions = {}): Promise<NatsService> {
  const found = discovery(options.discovery);
  return discoverService<NatsService>(NATS_SERVICE, found, {
    async fromUrl(url) {
      await checkNats(url, options.timeoutMs ?? 15_000);
      const { host, port } = hostAndPort(url.split(",")[0] ?? url, 4222);
      const stop = once(async () => {});
      return { url, host, port, source: "env", stop, [Symbol.asyncDispose]: stop };
    },
    async fromBinary() {
      const binary = await found.findBinary(["nats-server"]);
      if (binary === undefined) return notFound(["nats-server"], found.searchPath());
      const server = await startNatsServer({
        binary,
        args: options.args,
        timeoutMs: options.timeoutMs,
      });
      const { url, host, port, stop } = server;
      return { url, host, port, server, source: "binary", stop, [Symbol.asyncDispose]: stop };
    },
    async fromContainer() {
      const container = await startContainer({
        image: NATS_SERVICE.image,
        ports: [4222],
        command: ["-js", ...(options.args ?? [])],
        readyLog: /Server is ready/,
        startupTimeoutMs: options.timeoutMs,
      });
      const host = container.host;
      const port = container.port(4222);
      const stop = once(() => container.stop());
      const url = `nats://${host}:${port}`;
      return { url, host, port, source: "container", stop, [Symbol.asyncDispose]: stop };
    },
  });
}

/** Fails with a clear message if nothing answers at `url` or it has no JetStream. */
async function checkNats(url: string, timeoutMs: number): Promise<void> {
  const nc = await connect({ servers: url, timeout: timeoutMs, reconnect: false }).catch(
    (error: unknown) => {
      throw new Error(`${NATS_SERVICE.envVar}=${url} is set, but connecting failed: ${error}`);
    },
  );
  try {
    await nc.request("$JS.API.INFO", "", { timeout: Math.min(timeoutMs, 5_000) });
  } catch (error) {
    throw new Error(
      `${NATS_SERVICE.envVar}=${url} is set, but JetStream does not answer there ` +
        `(start nats-server with -js): ${error}`,
    );
  } finally {
    await nc.close();
  }
}

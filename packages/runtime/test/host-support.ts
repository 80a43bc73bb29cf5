import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { EntenteClient } from "../src/client.ts";
import { type LoadedConfig, loadConfig } from "../src/config/load.ts";
import { createLogger } from "../src/logger.ts";
import { HostedService } from "../src/service/host.ts";
import type { ServiceDefinition, ServiceInstance } from "../src/service/types.ts";

export interface TestHost {
  nc: NatsConnection;
  config: LoadedConfig;
  hosted: HostedService;
  /** A client on its own connection, like a caller elsewhere. */
  client: EntenteClient;
  clientNc: NatsConnection;
  stop(): Promise<void>;
}

/** Hosts one service on a real NATS server, with a separate client connection. */
export async function hostService(
  url: string,
  name: string,
  instance: ServiceInstance,
  settings = "",
): Promise<TestHost> {
  const config = loadConfig({ text: `log:\n  level: silent\n${settings}`, env: { NATS_URL: url } });
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const clientNc = await connect({ servers: url, noAsyncTraces: true });
  const definition: ServiceDefinition = {
    name,
    version: "0.0.1",
    description: "runtime test service",
    start: () => instance,
  };
  const logger = createLogger({ service: name, level: "silent" });
  const hosted = await HostedService.start(definition, {
    nc,
    config,
    client: new EntenteClient(nc),
    logger,
  });
  return {
    nc,
    config,
    hosted,
    client: new EntenteClient(clientNc),
    clientNc,
    async stop() {
      await hosted.stop(1_000);
      await clientNc.close();
      await nc.close();
    },
  };
}

/** Resolves the next time `signal` aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true }),
  );
}

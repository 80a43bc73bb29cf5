/** Shared by the service suites: the service hosted against a given NATS server. */
import {
  createLogger,
  EntenteClient,
  HostedService,
  loadConfig,
  startWorker,
  type Worker,
} from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { queryFederationService } from "../src/index.ts";

function configOf(natsUrl: string, yaml: string) {
  return loadConfig({
    text: `nats: { servers: ["${natsUrl}"] }\nlog: { level: warn }\n${yaml}`,
    env: {},
  });
}

/** A worker (connection, tracing, the service): one per process. */
export async function startFederationWorker(natsUrl: string, yaml = ""): Promise<Worker> {
  return startWorker({ services: [queryFederationService], config: configOf(natsUrl, yaml) });
}

/** Another federation in the same process, on a connection of its own. */
export async function hostFederation(
  natsUrl: string,
  yaml: string,
): Promise<{ nc: NatsConnection; service: HostedService; stop(): Promise<void> }> {
  const config = configOf(natsUrl, yaml);
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
  const logger = createLogger({ service: "entente-query-federation", level: "warn" });
  const service = await HostedService.start(queryFederationService, {
    nc,
    config,
    client: new EntenteClient(nc),
    logger,
  });
  return {
    nc,
    service,
    async stop() {
      await service.stop(1_000);
      await nc.close();
    },
  };
}

export async function clientOf(natsUrl: string, encoding: "json" | "msgpack" = "msgpack") {
  const nc = await connect({ servers: natsUrl, noAsyncTraces: true });
  return { nc, client: new EntenteClient(nc, { encoding }) };
}

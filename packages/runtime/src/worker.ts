import type { NatsConnection } from "@nats-io/nats-core";
import { EntenteClient } from "./client.ts";
import { type LoadedConfig, loadConfig } from "./config/load.ts";
import { connectNats } from "./connection.ts";
import { createLogger, type Logger } from "./logger.ts";
import { HostedService } from "./service/host.ts";
import type { ServiceDefinition } from "./service/types.ts";
import { HopLatencyProcessor } from "./tracing/hop-latency.ts";
import { startTracing } from "./tracing/sdk.ts";
import type { HopObservation } from "./tracing/types.ts";

export interface WorkerOptions {
  /** The services this process runs. */
  services: ServiceDefinition[];
  /** Configuration already loaded; else loaded from `configFile` / `ENTENTE_CONFIG`. */
  config?: LoadedConfig;
  configFile?: string;
  /** Trace service name; defaults to `entente-<service>` or `entente` for several. */
  name?: string;
  /** Receives a latency observation for every finished outgoing hop. */
  onHopObservation?: (observation: HopObservation) => void;
}

export interface Worker {
  nc: NatsConnection;
  client: EntenteClient;
  config: LoadedConfig;
  logger: Logger;
  services: HostedService[];
  /** Stops taking work, finishes what is in flight, drains the connection. Idempotent. */
  stop(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const config = options.config ?? loadConfig({ file: options.configFile });
  const name =
    options.name ??
    (options.services.length === 1 ? `entente-${options.services[0]?.name}` : "entente");
  const logger = createLogger({ service: name, level: config.config.log.level });
  const tracing = await startTracing({
    serviceName: name,
    ...(options.onHopObservation
      ? { spanProcessors: [new HopLatencyProcessor(options.onHopObservation)] }
      : {}),
  });
  const nc = await connectNats(config.config.nats, { name, logger });
  const client = new EntenteClient(nc, {
    region: config.config.region.name,
    defaultTimeoutMs: config.config.runtime.defaultTimeoutMs,
    credit: config.config.runtime.streamCredit,
  });
  const services: HostedService[] = [];
  for (const definition of options.services) {
    services.push(await HostedService.start(definition, { nc, config, client, logger }));
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const grace = config.config.runtime.shutdownGraceMs;
      logger.info({ inFlight: services.reduce((n, s) => n + s.inFlightCount, 0) }, "stopping");
      // Stop every service taking work first, so none is handed new work while another drains.
      await Promise.all(services.map((s) => s.stopAccepting()));
      await Promise.all(services.map((s) => s.stop(grace)));
      await nc.drain();
      await tracing.shutdown();
      logger.info("stopped");
    })();
    return stopping;
  };
  return { nc, client, config, logger, services, stop };
}

/**
 * Runs a worker as the process: SIGTERM or SIGINT stops it gracefully and the process exits 0;
 * a second signal exits at once.
 */
export async function runWorkerProcess(options: WorkerOptions): Promise<Worker> {
  const worker = await startWorker(options);
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      worker.logger.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    signalled = true;
    worker.logger.info({ signal }, "signal received: draining");
    worker.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        worker.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  worker.nc.closed().then((err) => {
    if (err && !signalled) {
      worker.logger.fatal({ err }, "NATS connection closed");
      process.exit(1);
    }
  });
  return worker;
}

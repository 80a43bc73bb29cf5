import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { EntenteClient } from "./client.ts";
import {
  ConfigError,
  type ConfigProblem,
  type ConfigSections,
  type LoadedConfig,
  loadConfig,
} from "./config/load.ts";
import { configSchema } from "./config/schema.ts";
import { connectNats } from "./connection.ts";
import { createLogger, type Logger } from "./logger.ts";
import { type Probes, type Readiness, startProbes } from "./probes.ts";
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
  /**
   * Every top-level section a configuration may hold besides the core ones and those the
   * services started here declare (e.g. the sections of services other workers run from the same
   * file). Given, any other top-level key is refused before anything starts; absent, unknown keys
   * are not checked.
   */
  knownSections?: readonly string[];
}

export interface Worker {
  nc: NatsConnection;
  client: EntenteClient;
  config: LoadedConfig;
  logger: Logger;
  services: HostedService[];
  /** The port of `/healthz` and `/readyz`, when `runtime.probePort` is set. */
  probePort?: number;
  /** Stops taking work, finishes what is in flight, drains the connection. Idempotent. */
  stop(): Promise<void>;
}

/** The top-level sections of the runtime's own configuration (`region`, `nats`, ...). */
export const CORE_SECTIONS: readonly string[] = Object.keys(configSchema.shape);

/**
 * Validates every section the services declare (`ServiceDefinition.sections`) and, when
 * `knownSections` is given, refuses top-level keys nobody reads. Throws one `ConfigError`
 * listing every mistake found, each with its position.
 */
export function validateWorkerConfig(
  config: ConfigSections,
  services: readonly ServiceDefinition[],
  knownSections?: readonly string[],
): void {
  const problems = sectionProblems(config, services, knownSections);
  if (problems.length > 0) throw new ConfigError(problems.sort(byPosition));
}

/**
 * Loads `file` (else `ENTENTE_CONFIG`, else the embedded default) for these services: mistakes
 * in the core sections and in the services' sections are reported together.
 */
export function loadWorkerConfig(
  file: string | undefined,
  services: readonly ServiceDefinition[],
  knownSections?: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  let config: LoadedConfig;
  try {
    config = loadConfig({ file, env, sections: sectionSchemas(services, knownSections) });
  } catch (err) {
    if (!(err instanceof ConfigError) || err.sections === undefined) throw err;
    const more = sectionProblems(err.sections, services, knownSections);
    throw new ConfigError([...err.problems, ...more].sort(byPosition));
  }
  validateWorkerConfig(config, services, knownSections);
  return config;
}

/** The schemas of the services' sections; sections only named are known by name alone. */
function sectionSchemas(
  services: readonly ServiceDefinition[],
  knownSections: readonly string[] = [],
): Record<string, z.ZodType> {
  const schemas: Record<string, z.ZodType> = {};
  for (const name of knownSections) schemas[name] = z.unknown();
  for (const service of services) Object.assign(schemas, service.sections);
  return schemas;
}

function sectionProblems(
  config: ConfigSections,
  services: readonly ServiceDefinition[],
  knownSections: readonly string[] | undefined,
): ConfigProblem[] {
  const schemas = new Map<string, z.ZodType>();
  for (const service of services) {
    for (const [key, schema] of Object.entries(service.sections ?? {})) {
      if (!schemas.has(key)) schemas.set(key, schema);
    }
  }
  const problems: ConfigProblem[] = [];
  const check = (key: string, schema: z.ZodType) => {
    try {
      config.section(key, schema);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  };
  if (knownSections !== undefined) {
    const known = new Set([...CORE_SECTIONS, ...schemas.keys(), ...knownSections]);
    const list = [...known].sort().join(", ");
    for (const key of Object.keys(config.raw)) {
      if (known.has(key)) continue;
      check(
        key,
        z.custom(() => false, { message: `unknown section (known sections: ${list})` }),
      );
    }
  }
  for (const [key, schema] of schemas) check(key, schema);
  return problems;
}

/** File positions in reading order; other origins (environment, default) keep their order after. */
function byPosition(a: ConfigProblem, b: ConfigProblem): number {
  const at = (p: ConfigProblem) => /:(\d+):(\d+)$/.exec(p.origin);
  const pa = at(a);
  const pb = at(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : 0;
  return Number(pa[1]) - Number(pb[1]) || Number(pa[2]) - Number(pb[2]);
}

/**
 * Starts the services on one connection. The whole configuration is validated first (every
 * mistake reported at once, nothing started); if any service then fails to start, those that
 * did are stopped and the connection drained before the error is thrown: a worker runs all its
 * services or none.
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const config =
    options.config ?? loadWorkerConfig(options.configFile, options.services, options.knownSections);
  if (options.config) validateWorkerConfig(config, options.services, options.knownSections);
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
  let nc: NatsConnection;
  try {
    nc = await connectNats(config.config.nats, { name, logger });
  } catch (err) {
    await tracing.shutdown().catch(() => {});
    throw err;
  }
  const client = new EntenteClient(nc, {
    region: config.config.region.name,
    regionId: config.config.region.id,
    deployment: config.config.deployment,
    defaultTimeoutMs: config.config.runtime.defaultTimeoutMs,
    credit: config.config.runtime.streamCredit,
  });
  const services: HostedService[] = [];
  for (const definition of options.services) {
    try {
      services.push(await HostedService.start(definition, { nc, config, client, logger }));
    } catch (err) {
      logger.error(
        { err, service: definition.name, started: services.map((s) => s.name) },
        "service failed to start: stopping the worker",
      );
      // Those that started may have taken work already: drain them as a normal stop would.
      const grace = config.config.runtime.shutdownGraceMs;
      await Promise.allSettled(services.map((s) => s.stopAccepting()));
      await Promise.allSettled(services.map((s) => s.stop(grace)));
      await nc.drain().catch(() => nc.close());
      await tracing.shutdown().catch(() => {});
      throw new Error(`service ${definition.name} failed to start: ${messageOf(err)}`, {
        cause: err,
      });
    }
  }
  logger.info(
    { services: services.map((s) => s.name), deployment: config.config.deployment },
    "worker ready",
  );

  let stopping: Promise<void> | undefined;
  let probes: Probes | undefined;
  const { probePort, probeHost } = config.config.runtime;
  if (probePort !== undefined) {
    const connection = followConnection(nc);
    const readiness = (): Readiness => {
      if (stopping !== undefined) return { ready: false, reason: "stopping" };
      if (!connection.connected()) return { ready: false, reason: "NATS is not connected" };
      const idle = services.filter((s) => !s.isAccepting).map((s) => s.name);
      return idle.length > 0
        ? { ready: false, reason: `not accepting: ${idle.join(", ")}` }
        : { ready: true };
    };
    probes = await startProbes({ port: probePort, host: probeHost, readiness });
    logger.info({ port: probes.port, host: probeHost }, "probes listening: /healthz, /readyz");
  }
  const stop = () => {
    stopping ??= (async () => {
      const grace = config.config.runtime.shutdownGraceMs;
      logger.info({ inFlight: services.reduce((n, s) => n + s.inFlightCount, 0) }, "stopping");
      // Stop every service taking work first, so none is handed new work while another drains.
      await Promise.all(services.map((s) => s.stopAccepting()));
      await Promise.all(services.map((s) => s.stop(grace)));
      await nc.drain();
      await probes?.close();
      await tracing.shutdown();
      logger.info("stopped");
    })();
    return stopping;
  };
  return {
    nc,
    client,
    config,
    logger,
    services,
    ...(probes ? { probePort: probes.port } : {}),
    stop,
  };
}

/** Whether the connection is up now: false from a disconnect until the reconnect. */
function followConnection(nc: NatsConnection): { connected(): boolean } {
  let up = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") up = false;
      else if (status.type === "reconnect") up = true;
    }
  })();
  return { connected: () => up && !nc.isClosed() };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs a worker as the process: SIGTERM or SIGINT stops it gracefully and the process exits 0;
 * a second signal exits at once. A worker that cannot start (invalid configuration, a service
 * failing) throws once whatever started is stopped; should anything still hold the process
 * open, it exits non-zero shortly after.
 */
export async function runWorkerProcess(options: WorkerOptions): Promise<Worker> {
  let worker: Worker;
  try {
    worker = await startWorker(options);
  } catch (err) {
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 5_000).unref();
    throw err;
  }
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

/**
 * The `query-federation` service: `entente.query` (public), `entente.query.federate` (a
 * federation above asking for partials), `entente.query.stats` (per-instance figures),
 * `entente.ingest.<instance>` (validated ingest into DuckDB instances through JetStream), and
 * optionally HTTP.
 */
import { leaseWorkerSources, type SourcePool, sourcesSectionSchema } from "@entente/connectors";
import { EntenteError, queryStatsSubject } from "@entente/protocol";
import {
  configFingerprint,
  endpoint,
  type Logger,
  type ServiceDefinition,
  type ServiceEnvironment,
} from "@entente/runtime";
import { z } from "zod";
import {
  crossCheck,
  DEFAULT_INSTANCES,
  DEMO_METRIC_SOURCES,
  federationSettingsOf,
  instancesSchema,
  type QueryFederationConfig,
  queryFederationSchema,
} from "./config.ts";
import { DEMO_LAYOUT, demoPoints } from "./demo.ts";
import { nowNs } from "./duration.ts";
import { federateEndpoint, federationHttp, queryEndpoint } from "./endpoints.ts";
import { Federator } from "./federator.ts";
import { type IngestRuntime, ingestEndpoint, startIngest } from "./ingest/index.ts";
import { type ResolvedInstance, resolveInstanceSources } from "./instance-sources.ts";
import { DuckdbStore } from "./instances/duckdb-store.ts";
import { EntenteInstance } from "./instances/entente-instance.ts";
import { LazyInstance } from "./instances/lazy.ts";
import { PrometheusInstance } from "./instances/prometheus-instance.ts";
import { SqlInstance } from "./instances/sql-instance.ts";
import type { MetricInstance } from "./instances/types.ts";
import { prometheusApiRoutes, prometheusInfoEndpoints } from "./prometheus-api.ts";
import { promqlEndpoints } from "./promql/endpoints.ts";
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from "./query.ts";

export const SERVICE_VERSION = "0.1.0";

async function openInstance(
  instance: ResolvedInstance,
  sources: SourcePool,
  env: ServiceEnvironment,
): Promise<MetricInstance> {
  const { name } = instance;
  if (instance.kind === "entente") {
    return new EntenteInstance({
      name,
      client: env.client,
      subject: instance.subject,
      ...(instance.region !== undefined ? { region: instance.region } : {}),
    });
  }
  if (instance.kind === "prometheus") {
    const { url, headers, timeoutMs } = instance.config;
    return new PrometheusInstance({ name, url, headers, timeoutMs });
  }
  const { source, table, columns } = instance.config;
  const config = sources.config(source);
  if (config === undefined) {
    throw new EntenteError(
      "BAD_REQUEST",
      `instances.${name}.source: unknown source ${JSON.stringify(source)} (sources: ${sources.names().join(", ") || "none"})`,
    );
  }
  if (config.kind === "coldstore") {
    throw new EntenteError(
      "BAD_REQUEST",
      `instances.${name}.source: ${JSON.stringify(source)} is a cold store, which holds tiered tables' old rows for SQL; metric instances need a postgres, mysql or duckdb source`,
    );
  }
  if (config.kind === "duckdb") {
    const readOnly = config.readOnly === true;
    if (readOnly && !config.path) {
      throw new EntenteError("BAD_REQUEST", `sources.${source}: readOnly needs a path`);
    }
    const store = new DuckdbStore(name, await sources.get(source), table, readOnly, false);
    if (!readOnly) await store.ensureSchema();
    return store;
  }
  // A database that is down when the worker starts is one failing instance, not a failed start.
  return new LazyInstance(
    name,
    config.kind,
    async () =>
      new SqlInstance({
        name,
        kind: config.kind,
        connector: await sources.get(source),
        table,
        columns,
        ownsConnector: false,
      }),
  );
}

export interface FederationRuntime {
  federator: Federator;
  settings: QueryFederationConfig;
  stores: DuckdbStore[];
  /** Absent when ingest is off, no instance takes it, or JetStream is not available. */
  ingest?: IngestRuntime;
  /** Digest of what decides the answers: instances, their sources, routing and replicas. */
  fingerprint: string;
  stop(): Promise<void>;
}

/** Builds everything the service runs on; exported for tests and the benchmark. */
export async function startFederation(env: ServiceEnvironment): Promise<FederationRuntime> {
  const configured = env.config.section("instances", instancesSchema);
  const settings = federationSettingsOf(
    env.config.section("queryFederation", queryFederationSchema),
    env.subjects,
  );
  const instancesConfig = configured ?? DEFAULT_INSTANCES;
  const problems = crossCheck(instancesConfig, settings);
  if (problems.length > 0) {
    throw new EntenteError("BAD_REQUEST", `invalid configuration: ${problems.join("; ")}`);
  }
  const logger = env.logger.child({ component: "query-federation" });
  const resolved = resolveInstanceSources(instancesConfig, env.subjects.query);
  for (const notice of resolved.notices) logger.warn(notice);
  const lease = leaseWorkerSources(env.config);
  const instances: MetricInstance[] = [];
  try {
    if (configured === undefined) {
      for (const [name, source] of Object.entries(DEMO_METRIC_SOURCES))
        lease.pool.define(name, source);
    }
    for (const [name, source] of Object.entries(resolved.declared)) lease.pool.define(name, source);
    for (const instance of resolved.instances) {
      instances.push(await openInstance(instance, lease.pool, env));
    }
  } catch (err) {
    await lease.release();
    throw err;
  }
  const stores = instances.filter((i): i is DuckdbStore => i instanceof DuckdbStore && !i.readOnly);
  if (settings.demo ?? configured === undefined) await loadDemo(stores, lease.pool, logger);

  const federator = new Federator({
    instances,
    lookbackMs: settings.promql.lookbackDeltaMs,
    maxSamples: settings.promql.maxSamples,
    routing: {
      rules: settings.router,
      replicaGroups: Object.entries(settings.replicaGroups).map(([name, g]) => ({
        name,
        instances: g.instances,
        read: g.read,
      })),
    },
    settings: {
      parallelism: settings.parallelism,
      instanceTimeoutMs: settings.instanceTimeoutMs,
      defaultTimeoutMs: settings.defaultTimeoutMs,
      maxPoints: settings.limits.maxPoints,
      maxBytes: settings.limits.maxBytes,
      retry: settings.retry,
      breaker: settings.breaker,
      cache: settings.cache,
    },
  });

  let ingest: IngestRuntime | undefined;
  // Read-only DuckDB instances count: this worker validates ingest for whoever writes them.
  const ingestible = new Set(instances.filter((i) => i instanceof DuckdbStore).map((i) => i.name));
  if (settings.ingest.enabled && ingestible.size > 0) {
    try {
      ingest = await startIngest({
        nc: env.nc,
        settings: settings.ingest,
        instances: ingestible,
        stores,
        logger,
      });
    } catch (err) {
      logger.warn({ err }, "ingest disabled: JetStream is not available");
    }
  }

  return {
    federator,
    settings,
    stores,
    fingerprint: configFingerprint({
      instances: instancesConfig,
      sources: env.config.section("sources", sourcesSectionSchema) ?? "embedded default",
      router: settings.router,
      replicaGroups: settings.replicaGroups,
    }),
    ...(ingest ? { ingest } : {}),
    async stop() {
      await ingest?.stop();
      await federator.close();
      await lease.release();
    },
  };
}

/** Demo metrics into each store, once per worker however many services share its sources. */
async function loadDemo(stores: DuckdbStore[], sources: SourcePool, logger: Logger): Promise<void> {
  const end = nowNs();
  for (const store of stores) {
    const hosts = DEMO_LAYOUT[store.name] ?? [{ host: `${store.name}-1`, region: "local" }];
    await sources.once(`demo-metrics:${store.name}`, () => store.load(demoPoints(hosts, end)));
  }
  logger.info({ instances: stores.map((s) => s.name) }, "demo metrics loaded");
}

function limitsOf(settings: QueryFederationConfig, env: ServiceEnvironment): QueryLimits {
  return {
    ...DEFAULT_QUERY_LIMITS,
    maxPoints: settings.limits.maxPoints,
    maxTimeoutMs: env.config.config.runtime.maxTimeoutMs,
  };
}

export const queryFederationService: ServiceDefinition = {
  name: "query-federation",
  version: SERVICE_VERSION,
  description: "One metric query over many instances, merged exactly, with partial results",
  sections: {
    instances: instancesSchema,
    queryFederation: queryFederationSchema,
    sources: sourcesSectionSchema,
  },
  async start(env) {
    const runtime = await startFederation(env);
    const { federator, settings } = runtime;
    const limits = limitsOf(settings, env);
    let httpPort: number | undefined;
    const stats = () => ({
      instances: federator.instanceStats(),
      cache: federator.cache.view(),
      queries: federator.queries,
      failedQueries: federator.failedQueries,
      partialQueries: federator.partialQueries,
      ...(httpPort === undefined ? {} : { httpPort }),
      ingest: runtime.ingest?.stats.view() ?? {},
    });
    const { port, host } = settings.http;
    const http =
      port === undefined
        ? undefined
        : federationHttp(federator, { port, host }, (listening) => {
            httpPort = listening;
            env.logger.info({ port: listening }, "HTTP gateway listening");
          });
    return {
      endpoints: [
        queryEndpoint(federator, limits, settings.subject),
        federateEndpoint(federator, settings.subject),
        ...promqlEndpoints(federator, settings.promqlSubject),
        ...prometheusInfoEndpoints(settings.promqlSubject, SERVICE_VERSION),
        endpoint({
          name: "stats",
          subject: queryStatsSubject(settings.subject),
          schema: z.unknown(),
          description: "Per-instance queries, errors, latency and circuit state",
          handler: () => stats(),
        }),
        ...(runtime.ingest
          ? [ingestEndpoint(runtime.ingest.gate, settings.ingest, runtime.ingest.instances)]
          : []),
      ],
      ...(http === undefined
        ? {}
        : {
            // Prometheus' HTTP API beside the federation's own routes, for Grafana.
            http: {
              ...http,
              routes: [...http.routes, ...prometheusApiRoutes(settings.promqlSubject)],
            },
          }),
      stop: () => runtime.stop(),
      stats,
      fingerprint: runtime.fingerprint,
    };
  },
};

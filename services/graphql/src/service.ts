/**
 * The `graphql` service: a GraphQL API on an HTTP port over the federation. It serves no NATS
 * subject of its own; each field is a request on entente.sql, entente.catalog or entente.tiers
 * of the worker's deployment, so the SQL workers answer it as they answer any client. Off unless
 * `graphql.port` is set, except on the embedded default (no `sources:`), where it listens on
 * 127.0.0.1:4000.
 */
import type { ServiceDefinition } from "@entente/runtime";
import { EntenteCalls } from "./calls.ts";
import { EMBEDDED_GRAPHQL_PORT, type GraphqlSettings, graphqlConfigSchema } from "./config.ts";
import { createGraphqlYoga, type GraphqlServer, startGraphqlServer } from "./server.ts";

/**
 * The port to listen on: the configured one; on the embedded default (the configuration has no
 * `sources:`, so sql-join serves its demo data) 4000; else none, and the API is off.
 */
export function listenPortOf(
  settings: Pick<GraphqlSettings, "port">,
  raw: Record<string, unknown>,
): number | undefined {
  return settings.port ?? (raw.sources === undefined ? EMBEDDED_GRAPHQL_PORT : undefined);
}

export const graphqlService: ServiceDefinition = {
  name: "graphql",
  version: "0.1.0",
  description: "A GraphQL API over the federation: SQL, the catalog and tiered tables",
  sections: { graphql: graphqlConfigSchema },
  async start({ config, logger, subjects, client }) {
    const settings = config.section("graphql", graphqlConfigSchema);
    const port = listenPortOf(settings, config.raw);
    const log = logger.child({ component: "graphql" });
    if (port === undefined) {
      log.info("graphql is off: set graphql.port to serve it");
      return { endpoints: [] };
    }
    const { yoga, kept } = createGraphqlYoga({
      calls: new EntenteCalls(client, subjects, settings.defaultTimeoutMs),
      settings,
      logger: log,
    });
    let server: GraphqlServer | undefined;
    try {
      server = await startGraphqlServer({
        yoga,
        settings,
        port,
        maxTimeoutMs: config.config.runtime.maxTimeoutMs,
        logger: log,
      });
      log.info({ url: server.url }, "GraphQL listening");
    } catch (err) {
      // The embedded default's port may be taken (another worker on this machine serves it):
      // this worker runs on without it. A port asked for by configuration must be had.
      if (settings.port !== undefined) throw err;
      log.warn(
        { err: String(err), port },
        "graphql: the embedded default's port is not free; serving no GraphQL here",
      );
    }
    const sweep = setInterval(() => kept.sweep(Date.now()), 30_000);
    sweep.unref();
    return {
      endpoints: [],
      stats: () => ({
        ...(server
          ? { url: server.url, operations: server.operations, inFlight: server.inFlight }
          : {}),
        keptResults: kept.size,
        keptBytes: kept.bytes,
      }),
      stop: async () => {
        clearInterval(sweep);
        await server?.close();
        await yoga.dispose();
        kept.clear();
      },
    };
  },
};

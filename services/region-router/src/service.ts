/**
 * The region-router service: joins this region to the hierarchy and relays routed requests
 * (router.ts). Its endpoints answer the command line: the registry as this region sees it, its
 * links, and the route to a region.
 */
import { EntenteError, regionIdSchema, regionNameSchema } from "@entente/protocol";
import {
  askPeers,
  connectionOptions,
  DEFAULT_NATS_URL,
  endpoint,
  PEER_METADATA,
  type ServiceDefinition,
  type ServiceEnvironment,
} from "@entente/runtime";
import { connect } from "@nats-io/transport-node";
import { z } from "zod";
import { regionRouterSchema } from "./config.ts";
import { DATA_STATS_WAIT_MS, mergeDataFigures, withDataTraffic } from "./data-traffic.ts";
import { RegionRouter } from "./router.ts";
import { RouterStore } from "./store.ts";

const routeRequest = z.strictObject({ to: z.union([regionIdSchema, regionNameSchema]) });

export interface RegionRouterServiceOptions {
  /**
   * The address this worker dials for another region's URL. Identity by default; a test puts a
   * delaying proxy on one direction of one pair of regions with it.
   */
  dial?(url: string): string;
}

export function createRegionRouterService(
  options: RegionRouterServiceOptions = {},
): ServiceDefinition {
  const dial = options.dial ?? ((url: string) => url);
  return {
    name: "region-router",
    version: "0.1.0",
    description: "Joins the region hierarchy and relays requests between regions by measured cost",
    sections: { regionRouter: regionRouterSchema },
    async start(env) {
      const settings = env.config.section("regionRouter", regionRouterSchema);
      const { region, nats } = env.config.config;
      await refuseSecondRouter(env);
      const url = settings.url ?? nats.servers?.[0] ?? DEFAULT_NATS_URL;
      const logger = env.logger.child({ component: "region-router", self: region.name });
      const store = await RouterStore.open(env.nc, env.subjects.deployment, logger);
      const router = new RegionRouter({
        local: env.nc,
        subjects: env.subjects,
        self: { id: region.id, name: region.name, url, parentName: region.parent },
        settings,
        // Links use this worker's credentials and TLS; a region that does not answer is not
        // waited for (the link is retried), one that drops is reconnected.
        connect: (server) =>
          connect({
            ...connectionOptions(
              { ...nats, servers: [dial(server)] },
              `entente region-router ${region.name}`,
            ),
            waitOnFirstConnect: false,
            timeout: settings.probeTimeoutMs,
            maxReconnectAttempts: -1,
          }),
        store,
        logger,
      });
      await router.start();
      return {
        endpoints: [
          endpoint({
            name: "regions",
            subject: env.subjects.router.regions,
            schema: z.unknown(),
            description: "The region registry as this region holds it, with reachability",
            handler: () => router.regionsView(),
          }),
          endpoint({
            name: "links",
            subject: env.subjects.router.links,
            schema: z.unknown(),
            description: "This region's links: latency, setup, load, cost, clock offset",
            handler: () => router.linksView(),
          }),
          endpoint({
            name: "traffic",
            subject: env.subjects.router.traffic,
            schema: z.unknown(),
            description:
              "Requests this region's clients sent to each other region, bytes, and reads by id with their replicas",
            handler: async () => {
              const stats = await askPeers(env.nc, "sql-join", DATA_STATS_WAIT_MS, "STATS");
              return withDataTraffic(
                router.trafficView(),
                mergeDataFigures(stats, env.subjects.deployment, region.id),
              );
            },
          }),
          endpoint({
            name: "route",
            subject: env.subjects.router.route,
            schema: routeRequest,
            description: "The path and cost from this region to another",
            handler: (request) => {
              const id = router.regionId(request.to);
              if (id === undefined) {
                throw new EntenteError(
                  "NOT_FOUND",
                  `no region ${JSON.stringify(request.to)} in the registry`,
                );
              }
              return router.routeView(id);
            },
          }),
        ],
        stop: () => router.stop(),
        stats: () => router.stats(),
      };
    },
  };
}

export const regionRouterService: ServiceDefinition = createRegionRouterService();

/**
 * A region has one router: a second would advertise the region with links and numbers of its
 * own, and as root keep a registry of its own. It is refused at start, naming the one running.
 */
async function refuseSecondRouter(env: ServiceEnvironment): Promise<void> {
  const waitMs = env.config.config.runtime.peerCheckMs;
  if (waitMs === 0) return;
  const running = (await askPeers(env.nc, "region-router", waitMs)).filter(
    (info): info is { id: string; metadata: Record<string, string> } =>
      typeof info === "object" &&
      info !== null &&
      (info as { metadata?: Record<string, unknown> }).metadata?.[PEER_METADATA.deployment] ===
        env.subjects.deployment,
  );
  const other = running[0];
  if (other === undefined) return;
  const name = env.config.config.region.name;
  throw new EntenteError(
    "BAD_REQUEST",
    `region ${name} already has a region router (worker ${other.id}): run one region-router per region, and scale the other services with entente serve <service>`,
  );
}

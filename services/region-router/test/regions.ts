/**
 * Regions for tests: each its own nats-server (its own JetStream store), a region router and the
 * diagnostics service hosted on it, and a client connection of its own.
 */
import { diagnosticsService } from "@entente/diagnostics";
import { SUBJECTS } from "@entente/protocol";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { createRegionRouterService } from "../src/index.ts";

export interface TestRegion {
  name: string;
  id: number;
  nats: NatsServer;
  client: EntenteClient;
  clientNc: NatsConnection;
  /** Stops the region's services (its server keeps running). */
  stopServices(): Promise<void>;
  /** Starts them again on the same server, as a restarted worker would. */
  startServices(): Promise<void>;
  stop(): Promise<void>;
}

export interface RegionOptions {
  name: string;
  id: number;
  parent?: string;
  /** The NATS URL to announce to: absent for the root. */
  join?: string;
  /** How other regions reach this one, when not its server's own URL (a delaying proxy). */
  url?: string;
  /** Addresses this region dials instead of other regions' URLs (a proxy on one direction). */
  dial?: Record<string, string>;
  /** More `regionRouter:` settings, as YAML flow entries. */
  settings?: string;
  nats?: NatsServer;
}

/**
 * Quick probes and adverts, no shortcut trials unless a test asks for them; patient enough that
 * a busy machine (the suites run beside each other) does not take a slow probe for a dead link.
 */
export const FAST =
  "probeIdleMs: 300, probeTimeoutMs: 2000, missedProbesForDown: 3, advertiseEveryMs: 500, advertMaxAgeMs: 6000, shortcutEveryMs: 600000";

export async function startRegion(options: RegionOptions): Promise<TestRegion> {
  const nats = options.nats ?? (await startNatsServer());
  const router = [
    options.settings ?? FAST,
    ...(options.join ? [`join: "${options.join}"`] : []),
    ...(options.url ? [`url: "${options.url}"`] : []),
  ].join(", ");
  const yaml = [
    `region: { name: ${options.name}, id: ${options.id}${options.parent ? `, parent: ${options.parent}` : ""} }`,
    "log: { level: silent }",
    `regionRouter: { ${router} }`,
  ].join("\n");
  const config = loadConfig({ text: yaml, env: { NATS_URL: nats.url } });
  const logger = createLogger({
    service: `region ${options.name}`,
    level: (process.env.REGION_TEST_LOG as "info" | undefined) ?? "silent",
  });
  const dial = options.dial ?? {};
  const regionRouterService = createRegionRouterService({ dial: (url) => dial[url] ?? url });
  let nc: NatsConnection | undefined;
  let hosted: HostedService[] = [];
  const startServices = async () => {
    nc = await connect({ servers: nats.url, noAsyncTraces: true, maxReconnectAttempts: -1 });
    const client = new EntenteClient(nc, { region: options.name });
    hosted = [];
    for (const service of [regionRouterService, diagnosticsService]) {
      hosted.push(await HostedService.start(service, { nc, config, client, logger }));
    }
  };
  const stopServices = async () => {
    for (const service of hosted.reverse()) await service.stop(1_000);
    hosted = [];
    await nc?.close();
    nc = undefined;
  };
  await startServices();
  const clientNc = await connect({
    servers: nats.url,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
  });
  return {
    name: options.name,
    id: options.id,
    nats,
    client: new EntenteClient(clientNc, { region: options.name }),
    clientNc,
    startServices,
    stopServices,
    async stop() {
      await stopServices();
      await clientNc.close();
      if (!options.nats) await nats.stop();
    },
  };
}

export { eventually } from "@entente/testkit";

export const routed = (region: string | number, subject: string) =>
  SUBJECTS.routed(region, subject);

import type { ServiceDefinition } from "@entente/runtime";

/**
 * Every service `entente serve` can run, loaded only when asked for so a worker carries just
 * the code of the services it serves.
 */
export const SERVICES: Record<string, () => Promise<ServiceDefinition>> = {
  diagnostics: async () => (await import("@entente/diagnostics")).diagnosticsService,
  "query-federation": async () =>
    (await import("@entente/query-federation")).queryFederationService,
  "sql-join": async () => (await import("@entente/sql-join")).sqlJoinService,
  "broker-bridge": async () => (await import("@entente/broker-bridge")).brokerBridgeService,
};

export function serviceNames(): string[] {
  return Object.keys(SERVICES);
}

export async function loadServices(name: string): Promise<ServiceDefinition[]> {
  if (name === "all") return Promise.all(Object.values(SERVICES).map((load) => load()));
  const load = SERVICES[name];
  if (!load) {
    throw new Error(
      `unknown service ${JSON.stringify(name)}: choose one of ${[...serviceNames(), "all"].join(", ")}`,
    );
  }
  return [await load()];
}

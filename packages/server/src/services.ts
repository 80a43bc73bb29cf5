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
  "region-router": async () => (await import("@entente/region-router")).regionRouterService,
  sagas: async () => (await import("@entente/sagas")).sagasService,
  graphql: async () => (await import("@entente/graphql")).graphqlService,
};

/**
 * The top-level configuration sections each service declares (`ServiceDefinition.sections`),
 * listed here so a worker running some services still accepts the sections of the others (one
 * file may configure several workers) without loading their code. A test keeps it in step.
 */
export const SERVICE_SECTIONS: Record<string, readonly string[]> = {
  diagnostics: [],
  "query-federation": ["instances", "queryFederation", "sources"],
  "sql-join": [
    "tables",
    "sqlJoin",
    "logicalTables",
    "sources",
    "dataChanges",
    "dataReplication",
    "writes",
    "materialize",
    "tiers",
  ],
  "broker-bridge": ["bridge"],
  "region-router": ["regionRouter"],
  sagas: ["sagas"],
  graphql: ["graphql"],
};

/** Every top-level section some service of `entente serve` reads. */
export function knownServiceSections(): string[] {
  return [...new Set(Object.values(SERVICE_SECTIONS).flat())];
}

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

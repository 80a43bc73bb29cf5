/** What the command line shows: the registry, the links and a route, as this region sees them. */
import type { LinksReply, RegionsReply, RouteReply } from "@entente/protocol";
import type { Link } from "./link.ts";
import type { Registry } from "./model/registry.ts";
import type { RouteTable } from "./model/routes.ts";

export interface RouterState {
  self: number;
  registry: Registry | undefined;
  links: ReadonlyMap<number, Link>;
  routes: RouteTable | undefined;
}

export function regionsView({ self, registry, links, routes }: RouterState): RegionsReply {
  return {
    self,
    revision: registry?.revision ?? 0,
    regions: [...(registry?.regions.values() ?? [])].map((region) => {
      const offset = links.get(region.id)?.clock.offset();
      return {
        ...region,
        reachable: region.id === self || routes?.has(region.id) === true,
        ...(offset !== undefined ? { clockOffsetMs: Math.round(offset * 10) / 10 } : {}),
      };
    }),
  };
}

export function linksView({ self, links }: RouterState, now: number): LinksReply {
  return {
    self,
    links: [...links.values()].map((link) => {
      const cost = link.cost(now);
      const latency = link.latency.estimate(now);
      const offset = link.clock.offset();
      return {
        to: link.region,
        name: link.name,
        up: link.availability !== "down" && link.connection !== undefined,
        open: link.connection !== undefined,
        ...(latency !== undefined ? { latencyMs: round(latency) } : {}),
        ...(link.setupMs !== undefined ? { setupMs: round(link.setupMs) } : {}),
        ...(link.farLoad !== undefined ? { load: round(link.farLoad) } : {}),
        cost: Number.isFinite(cost) ? round(cost) : null,
        ...(offset !== undefined ? { clockOffsetMs: round(offset) } : {}),
      };
    }),
  };
}

export function routeView({ self, routes }: RouterState, to: number): RouteReply {
  if (to === self) return { from: to, to, reachable: true, cost: 0, path: [to] };
  const path = routes?.pathTo(to);
  const cost = routes?.costTo(to);
  return {
    from: self,
    to,
    reachable: path !== undefined,
    cost: cost !== undefined && Number.isFinite(cost) ? round(cost) : null,
    path: path ?? [],
  };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export * from "./clock-offset.ts";
export * from "./link-cost.ts";
export * from "./link-monitor.ts";
export * from "./link-state.ts";
export * from "./membership.ts";
export * from "./peak-ewma.ts";
export * from "./registry.ts";
// routes.ts has its own `linkCost` (a graph lookup); the cost formula keeps the name.
export {
  buildGraph,
  computeRoutes,
  type Graph,
  hasRegion,
  isRegionId,
  type Route,
  RouteTable,
  type Stabilized,
  stabilize,
} from "./routes.ts";
export * from "./topology.ts";

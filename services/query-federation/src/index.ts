export { answerItems, wirePoint } from "./answer.ts";
export * from "./breaker.ts";
export * from "./cache.ts";
export * from "./config.ts";
export * from "./dedup.ts";
export { DEMO_LAYOUT, demoPoints } from "./demo.ts";
export * from "./duration.ts";
export * from "./executor.ts";
export * from "./federator.ts";
export * from "./ingest/index.ts";
export { DuckdbStore } from "./instances/duckdb-store.ts";
export { EntenteInstance } from "./instances/entente-instance.ts";
export { LazyInstance } from "./instances/lazy.ts";
export { PrometheusInstance } from "./instances/prometheus-instance.ts";
export * from "./instances/sql.ts";
export { SqlInstance } from "./instances/sql-instance.ts";
export type * from "./instances/types.ts";
export * from "./partials.ts";
export * from "./points.ts";
export * from "./query.ts";
export * from "./retry.ts";
export * from "./router.ts";
export {
  type FederationRuntime,
  queryFederationService,
  startFederation,
} from "./service.ts";
export * from "./stats.ts";
export * from "./wire.ts";

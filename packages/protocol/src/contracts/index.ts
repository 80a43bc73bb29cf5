/** Every public subject's request and reply, one module per service. */
export * from "./bridge/index.ts";
export * from "./data.ts";
export * from "./diagnostics.ts";
export * from "./ingest.ts";
export * from "./promql.ts";
export * from "./query.ts";
export * from "./regions.ts";
export * from "./saga.ts";
export * from "./sql.ts";
export * from "./tiers.ts";
export * from "./transactions.ts";

export * from "./config.ts";
export * from "./machine.ts";
export * from "./records.ts";
export * from "./service.ts";
export * from "./store.ts";

export * from "./catalog.ts";
export * from "./config.ts";
export * from "./demo.ts";
export * from "./engine.ts";
export * from "./logical-config.ts";
export * from "./service.ts";

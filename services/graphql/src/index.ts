export * from "./calls.ts";
export * from "./config.ts";
export * from "./pages.ts";
export * from "./plan-tiers.ts";
export * from "./resolvers.ts";
export * from "./sdl.ts";
export * from "./server.ts";
export * from "./service.ts";
export type * from "./yoga.ts";

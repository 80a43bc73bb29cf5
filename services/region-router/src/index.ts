export * from "./config.ts";
export * from "./model/index.ts";
export * from "./relay.ts";
export { RegionRouter, type RouterOptions } from "./router.ts";
export * from "./service.ts";

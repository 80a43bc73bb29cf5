export * from "./config.ts";
export * from "./link-machine.ts";
export * from "./mapping.ts";
export * from "./names.ts";
export * from "./path.ts";
export { brokerBridgeService } from "./service.ts";
export * from "./watchdog.ts";

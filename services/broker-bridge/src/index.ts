export * from "./config.ts";
export * from "./link-machine.ts";
export * from "./mapping.ts";
export * from "./path.ts";
export { brokerBridgeService, type LinkListEntry } from "./service.ts";
export type { LinkCounters } from "./session.ts";
export type { LinkStatus } from "./status.ts";
export * from "./subjects.ts";
export * from "./watchdog.ts";

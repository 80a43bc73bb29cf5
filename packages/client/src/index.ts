export { EntenteClient } from "@entente/runtime";
export { buildProgram, main } from "./cli/main.ts";
export { discover } from "./discovery.ts";
export { loadServices, SERVICES, serviceNames } from "./services.ts";

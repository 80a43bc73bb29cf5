export { registerServeCommand } from "./serve.ts";
export { loadServices, SERVICES, serviceNames } from "./services.ts";

export { registerServeCommand } from "./serve.ts";
export {
  knownServiceSections,
  loadServices,
  SERVICE_SECTIONS,
  SERVICES,
  serviceNames,
} from "./services.ts";

export { diagnosticsService, type GeneratedItem, generatedItems } from "./service.ts";

export { diagnosticsService, generatedItems, patternBytes } from "./service.ts";

export {
  diagnosticsService,
  type GeneratedItem,
  generatedItems,
  patternBytes,
} from "./service.ts";

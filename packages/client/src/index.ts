export { EntenteClient } from "@entente/runtime";
export { buildProgram, main } from "./cli/main.ts";
export { discover } from "./discovery.ts";
export {
  type CallBudget,
  Entente,
  type PromqlCallOptions,
  type QueryCallOptions,
  type SqlCallOptions,
} from "./entente.ts";

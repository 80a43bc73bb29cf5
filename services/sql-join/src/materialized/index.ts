export { type MaterializeSettings, materializeConfigSchema } from "./config.ts";
export {
  canonicalJson,
  ID_LENGTH,
  normalizeSqlText,
  type StatementKey,
  type StoredParam,
  statementKey,
} from "./key.ts";
export {
  explainLine,
  MATERIALIZED_BUCKET,
  type MaterializedHit,
  type MaterializedOptions,
  type MaterializedRecord,
  MaterializedResults,
  type MaterializeLogger,
  type MaterializeParse,
  type MaterializeRun,
  type MaterializeRunResult,
  REFRESH_RETRY_MS,
  tableOf,
} from "./materialized.ts";
export { type MaterializedReply, materializedOp } from "./ops.ts";
export { type MaterializeColdSource, materializeSourceOf } from "./source.ts";

export { batchStream, DEFAULT_BATCH_ROWS } from "./batches.ts";
export { duckdbCapabilities, mysqlCapabilities, postgresCapabilities } from "./capabilities.ts";
export * from "./coldstore/index.ts";
export {
  coldstoreSourceConfigSchema,
  createConnector,
  duckdbSourceConfigSchema,
  mysqlSourceConfigSchema,
  postgresSourceConfigSchema,
  sourceConfigSchema,
  sourcesConfigSchema,
} from "./create.ts";
export { duckdbDialect, mysqlDialect, postgresDialect } from "./dialects.ts";
export { DuckdbConnector, fileReader } from "./duckdb.ts";
export { cancelledError, sourceLabel, toSourceError } from "./errors.ts";
export { insertStatements } from "./insert.ts";
export { MysqlConnector } from "./mysql.ts";
export {
  leaseSourcePool,
  leaseWorkerSources,
  type PoolLease,
  type SectionReader,
  SourcePool,
  sourcesSectionSchema,
} from "./pool.ts";
export { PostgresConnector } from "./postgres.ts";
export { dateFromDays, parseTimestampNs } from "./timestamps.ts";
export {
  type PreparedTransaction,
  type SourceTransactions,
  transactionsOf,
} from "./transactions.ts";
export type * from "./types.ts";
export { parseDatabaseUrl, redact } from "./urls.ts";

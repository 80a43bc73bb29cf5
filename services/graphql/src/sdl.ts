/**
 * The GraphQL schema, written by hand. `schema.graphql` beside the package is its printed form
 * (`printSchema`, then formatted by biome), checked in and compared with the served schema by a
 * test; regenerate it with `node --conditions=@entente/source services/graphql/src/print-schema.ts
 * --write`, then `pnpm exec biome format --write services/graphql/schema.graphql`.
 */
export const TYPE_DEFS = /* GraphQL */ `
"""
Any JSON value: a SQL value as the JSON content type of entente.sql carries it (64-bit integers
and timestamps in nanoseconds as decimal strings, bytes as base64, dates as 'YYYY-MM-DD' text).
"""
scalar JSON

type Query {
  """
  One SQL statement across the configured sources (entente.sql), answered a page at a time.

  Large results are paged with cursors rather than @stream/@defer: incremental delivery needs a
  client that reads multipart responses, which Grafana and most GraphQL clients lack, while
  cursors work with every client and keep each response bounded.

  The first call runs the statement once; when its result has more rows than the page, this
  worker keeps the whole result for a short time (graphql.cursorTtlMs after the last page read)
  and pageInfo.endCursor names the next page of it. Later pages (after: endCursor, with the same
  sql and params) read that kept result and never run the statement again, so the pages of one
  result are slices of one execution: every row comes exactly once whatever the statement's
  ORDER BY. A cursor that expired, or that another worker issued, is refused with NOT_FOUND; run
  the query again from the first page.
  """
  query(
    sql: String!
    params: [JSON!]
    "Rows in this page: at most graphql.pageRows, which is also the default."
    first: Int
    "The endCursor of the previous page."
    after: String
    """
    The statement's budget in milliseconds (default graphql.defaultTimeoutMs). The
    entente-timeout-ms header, when sent, bounds the whole request.
    """
    timeoutMs: Int
  ): QueryResult!

  "Every table of every source, and every logical (tiered or sharded) table."
  tables: [Table!]!

  "Row count, columns and statistics of one table, per tier or shard for logical tables."
  tableStats(table: String!): TableStats!

  """
  For each tiered table, or the one named: the tier, source and table that hold rows of the given
  date (or time).
  """
  recommendedSource(date: String!, table: String): [TierChoice!]!

  "Hot and cold retention and the watermark of each tiered table, or of the one named."
  retention(table: String): [Retention!]!

  "Lifecycle state of each tiered table, or of the one named: watermark, running and last move."
  tierStatus(table: String): [TierStatus!]!

  "The materialized results, fresh or expired."
  materialized: [Materialized!]!
}

type Mutation {
  """
  Stores a SELECT's result for ttlMs; an identical statement is answered from it while fresh.
  Each mutation's timeoutMs is its budget in milliseconds (default graphql.defaultTimeoutMs).
  """
  materialize(sql: String!, params: [JSON!], ttlMs: Int!, timeoutMs: Int): Materialized!

  "Runs a materialized statement again and replaces its stored result."
  refreshMaterialized(id: String!, timeoutMs: Int): Materialized!

  """
  Starts a move of a tiered table's rows older than its hot retention to the cold store (or joins
  the one running); with wait: true, answers once it has finished.
  """
  moveTiers(table: String!, wait: Boolean, timeoutMs: Int): TierMove!

  "Merges small cold files into files of about targetFileBytes per partition."
  compact(table: String!, targetFileBytes: Int, timeoutMs: Int): ColdMaintenance!

  "Rewrites a cold table under a new partitioning."
  repartition(table: String!, partitionBy: [PartitionFieldInput!]!, timeoutMs: Int): ColdMaintenance!

  "Drops old snapshots of a cold table and the files no remaining snapshot refers to."
  expireSnapshots(table: String!, olderThanMs: Float, retainLast: Int, timeoutMs: Int): ExpiredSnapshots!
}

"One page of a statement's result."
type QueryResult {
  columns: [Column!]!
  "This page's rows, each in the order of columns."
  rows: [[JSON]!]!
  "Rows in the whole result."
  rowCount: Int!
  pageInfo: PageInfo!
  "The statement's time on the SQL worker (of its one execution)."
  executionTimeMs: Float!
  "What each source did for the statement."
  sources: [SourceUse!]!
  "Which tiers (or shards) of which logical tables the statement read, and which it pruned."
  tiers: [TierUse!]!
}

type Column {
  name: String!
  "The engine's type: boolean, integer, bigint, double, decimal, text, date, timestamp, json, blob or unknown."
  type: String!
}

type PageInfo {
  hasNextPage: Boolean!
  "Pass as after for the next page; null on the last page."
  endCursor: String
}

type SourceUse {
  source: String!
  rows: Float!
  bytes: Float!
  ms: Float!
  queries: Int!
}

type TierUse {
  "The logical table."
  table: String!
  "tiered or sharded."
  kind: String!
  "The member's label: hot, cold, or a shard's."
  tier: String!
  read: Boolean!
  "Why it was read or pruned, as EXPLAIN says it."
  reason: String
}

"""
Counts and sizes are Float: GraphQL's Int has 32 bits, and a table's rows or bytes may not fit.
"""
type Table {
  "The name a statement uses: source.schema.table, or a logical table's bare name."
  name: String!
  "table, cold, sharded or tiered."
  kind: String!
  "The source holding it (null for logical tables)."
  source: String
  columns: [Column!]!
  rowCount: Float
}

type TableStats {
  table: String!
  kind: String!
  rowCount: Float
  "A cold-store table's data files, their bytes and its current snapshot."
  files: Int
  bytes: Float
  snapshotId: Float
  columns: [ColumnStats!]!
  "Per tier or shard, for logical tables."
  parts: [TablePart!]!
}

type ColumnStats {
  name: String!
  type: String!
  min: JSON
  max: JSON
  nulls: Float
  distinct: Float
}

type TablePart {
  "hot, cold, or a shard's label."
  label: String!
  table: String!
  source: String!
  rowCount: Float
  "Cold store tables: data files, their bytes and the current snapshot."
  files: Int
  bytes: Float
  snapshotId: Float
  columns: [ColumnStats!]!
}

type TierChoice {
  "The logical table."
  table: String!
  "tiered or sharded."
  kind: String!
  "The column the tiers split on."
  column: String!
  "The date asked about."
  at: String!
  "The member holding it: hot, cold, or a shard's label."
  tier: String!
  source: String!
  "The member's own table: source.schema.table."
  member: String!
}

type Retention {
  table: String!
  hotRetention: String!
  coldRetention: String!
  "Hot rows are at or after it, cold rows before it; null before the first move."
  watermark: String
}

type TierStatus {
  table: String!
  column: String!
  hot: String!
  cold: String!
  watermark: String
  hotRetention: String!
  coldRetention: String!
  running: TierMoveProgress
  last: TierMoveProgress
  nextRunAt: String
  "Why the cold side cannot be read now (the watermark is then null)."
  error: String
  "A move that failed after its commit, taken up again with backoff."
  resume: TierResume
}

type TierResume {
  resumes: Int!
  nextAt: String!
  error: String
}

type TierMove {
  table: String!
  move: TierMoveProgress!
}

type TierMoveProgress {
  id: String!
  "planning, copying, verifying, committing, grace, deleting, expiring, done or failed."
  state: String!
  "The watermark before the move (null for the first) and the one it commits."
  from: String
  to: String!
  partitions: Int!
  copied: Int!
  verified: Int!
  deleted: Int!
  rows: Float!
  startedAt: String!
  finishedAt: String
  error: String
}

type ColdMaintenance {
  table: String!
  filesBefore: Int!
  filesAfter: Int!
  rows: Float!
  snapshotId: Float
}

type ExpiredSnapshots {
  table: String!
  expiredSnapshots: Int!
  deletedFiles: Int!
}

type Materialized {
  id: String!
  sql: String!
  "Where the result is kept: the cold store's table."
  table: String!
  rows: Float!
  createdAt: String!
  expiresAt: String!
  fresh: Boolean!
}

input PartitionFieldInput {
  column: String!
  transform: PartitionTransform!
  "For transform BUCKET: the number of buckets (1 to 1024)."
  buckets: Int
}

enum PartitionTransform {
  "The day of a date or timestamp column."
  DAY
  "The column's value itself."
  IDENTITY
  "A stable hash of the value, modulo buckets."
  BUCKET
}
`;

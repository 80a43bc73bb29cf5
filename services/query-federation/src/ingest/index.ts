/**
 * Ingest: points published to `<subjectPrefix>.<instance>` are validated by the service's
 * ingest endpoint (gate.ts), which answers the publisher with what it accepted and what it
 * refused, and puts the valid points into a JetStream stream on `<streamSubjectPrefix>.<instance>`.
 * Each DuckDB store of each worker follows that stream (store-writer.ts) and writes every batch
 * in one statement that also records the batch's sequence (DuckdbStore.applyBatch), so a batch
 * is stored exactly once and a store resumes after its highest sequence. A batch the store still
 * cannot write goes, after bounded retries, to a dead-letter stream with its reason
 * (batch-writer.ts, dead-letter.ts), and the store moves on.
 */
export { BatchWriter, type IngestStore } from "./batch-writer.ts";
export { DEAD_LETTER_HEADERS, type DeadLetter, type DeadLetterSink } from "./dead-letter.ts";
export { ingestEndpoint } from "./endpoint.ts";
export { ingestReply, MAX_LISTED_REJECTIONS } from "./gate.ts";
export { type IngestRuntime, startIngest } from "./start.ts";
export { StoreWriter } from "./store-writer.ts";
export {
  deadLetterSubject,
  ensureIngestStreams,
  type IngestSettings,
  streamSubject,
} from "./streams.ts";
export {
  encodeStoredBatch,
  readStoredBatch,
  type ValidatedBatch,
  validateBatch,
} from "./validate.ts";

/** NATS header names of the wire contract (NATS headers are case-insensitive on the wire). */
export const HEADERS = {
  contentType: "content-type",
  /** The caller's remaining time budget in milliseconds when the request left it. */
  timeoutMs: "entente-timeout-ms",
  /** Present on a reply that carries the error shape; its value is the error code. */
  error: "entente-error",
  /** The region the request was sent from. */
  sourceRegion: "entente-source-region",
  /** Microseconds the server spent on a request, for hop latency (round trip minus this). */
  serverTimeUs: "entente-server-time-us",
  /** Batches the requester accepts in flight before the producer must wait for credit. */
  credit: "entente-credit",
  /** Batched replies: stream id, batch sequence, control subject, continuation and end markers. */
  stream: "entente-stream",
  seq: "entente-seq",
  control: "entente-control",
  partial: "entente-partial",
  end: "entente-end",
  items: "entente-items",
  /** The NATS services API counts replies with these headers as errors in its stats. */
  serviceError: "Nats-Service-Error",
  serviceErrorCode: "Nats-Service-Error-Code",
} as const;

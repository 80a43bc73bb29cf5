/** NATS header names of the wire contract (NATS headers are case-insensitive on the wire). */
export const HEADERS = {
  contentType: "content-type",
  /** The caller's remaining time budget in milliseconds when the request left it. */
  timeoutMs: "entente-timeout-ms",
  /** Present on a reply that carries the error shape; its value is the error code. */
  error: "entente-error",
  /** The region the request was sent from. */
  sourceRegion: "entente-source-region",
  /** Region routers a routed request has crossed, so a routing loop ends. */
  hops: "entente-hops",
  /** Microseconds the server spent on a request, for hop latency (round trip minus this). */
  serverTimeUs: "entente-server-time-us",
  /**
   * On a request: batches the requester accepts in flight before the producer must wait for
   * credit. On the first batch: the window the producer actually allows (it may be smaller).
   */
  credit: "entente-credit",
  /**
   * On a request: a fresh random secret for this request only. The producer tags every batch
   * with it and the requester every control message, so nobody else can forge either.
   */
  streamKey: "entente-stream-key",
  /** On batches and control messages: the HMAC-SHA256 tag keyed by the stream key. */
  auth: "entente-auth",
  /** On control messages: 1, 2, 3, … so a copy of an earlier one is refused. */
  controlSeq: "entente-control-seq",
  /** Batched replies: stream id, batch sequence, control subject, continuation and end markers. */
  stream: "entente-stream",
  seq: "entente-seq",
  control: "entente-control",
  continued: "entente-continued",
  end: "entente-end",
  items: "entente-items",
  /** The NATS services API counts replies with these headers as errors in its stats. */
  serviceError: "Nats-Service-Error",
  serviceErrorCode: "Nats-Service-Error-Code",
} as const;

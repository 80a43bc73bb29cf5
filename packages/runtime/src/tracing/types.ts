/** Attribute names of hop spans; the router's cost model reads the same names. */
export const HOP_ATTRIBUTES = {
  /** `nats`; `http` on a server span of a request that came through the HTTP front door. */
  system: "messaging.system",
  subject: "messaging.destination.name",
  operation: "messaging.operation.type",
  service: "entente.service",
  sourceRegion: "entente.region.source",
  destinationRegion: "entente.region.destination",
  requestBytes: "entente.request.bytes",
  responseBytes: "entente.response.bytes",
  responseBatches: "entente.response.batches",
  /** On a client span: the server's own time, read from the reply, in microseconds. */
  serverTimeUs: "entente.server_time_us",
  errorCode: "entente.error.code",
  /** The semantic-conventions name for the same code, which trace UIs group failures by. */
  errorType: "error.type",
  /** On a server span of a request that came over HTTP: the status it was answered with. */
  httpStatus: "http.response.status_code",
} as const;

/** One measured hop: what the router's cost model folds into a link cost. */
export interface HopObservation {
  subject: string;
  service: string | undefined;
  sourceRegion: string | undefined;
  destinationRegion: string | undefined;
  /** Round trip seen by the caller. */
  roundTripMs: number;
  /** Time the server spent on the request. */
  serverMs: number;
  /** Round trip minus the server's own time: the network and queueing cost of the hop. */
  hopMs: number;
  /** When the hop ended, epoch milliseconds. */
  at: number;
  traceId: string;
  ok: boolean;
}

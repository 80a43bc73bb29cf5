export {
  type FinishedHopSpan,
  HopLatencyProcessor,
  hopObservation,
} from "./hop-latency.ts";
export {
  type ClientHop,
  type ClientHopEnd,
  type ClientHopOptions,
  describeError,
  type ServerHop,
  type ServerHopEnd,
  type ServerHopOptions,
  startClientHop,
  startServerHop,
} from "./hop-spans.ts";
export {
  extractTraceContext,
  injectTraceContext,
  natsHeadersGetter,
  natsHeadersSetter,
  readServerTimeUs,
  writeServerTimeUs,
} from "./nats-headers.ts";
export { startTracing, type Tracing, type TracingOptions, traceExportersFromEnv } from "./sdk.ts";
export { HOP_ATTRIBUTES, type HopObservation } from "./types.ts";

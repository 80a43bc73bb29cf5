import { diag, type HrTime, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace";
import { HOP_ATTRIBUTES, type HopObservation } from "./types.ts";

/** The fields of a finished span that an observation is computed from. */
export type FinishedHopSpan = Pick<
  ReadableSpan,
  "kind" | "attributes" | "duration" | "endTime" | "status" | "spanContext"
>;

/**
 * The latency observation of a finished CLIENT hop over NATS, or undefined for any other span and
 * for a hop whose reply carried no server time (a timeout, an old server): without the server's
 * share the network cost cannot be told apart from the work.
 */
export function hopObservation(span: FinishedHopSpan): HopObservation | undefined {
  if (span.kind !== SpanKind.CLIENT) return undefined;
  const attributes = span.attributes;
  if (attributes[HOP_ATTRIBUTES.system] !== "nats") return undefined;
  const serverUs = attributes[HOP_ATTRIBUTES.serverTimeUs];
  if (typeof serverUs !== "number" || !Number.isFinite(serverUs) || serverUs < 0) return undefined;
  const subject = attributes[HOP_ATTRIBUTES.subject];
  if (typeof subject !== "string") return undefined;
  const roundTripMs = hrTimeToMs(span.duration);
  const serverMs = serverUs / 1000;
  return {
    subject,
    service: stringAttribute(attributes[HOP_ATTRIBUTES.service]),
    sourceRegion: stringAttribute(attributes[HOP_ATTRIBUTES.sourceRegion]),
    destinationRegion: stringAttribute(attributes[HOP_ATTRIBUTES.destinationRegion]),
    roundTripMs,
    serverMs,
    // The two clocks are read on different machines and rounded: never report a negative hop.
    hopMs: Math.max(0, roundTripMs - serverMs),
    at: hrTimeToMs(span.endTime),
    traceId: span.spanContext().traceId,
    ok: span.status.code !== SpanStatusCode.ERROR,
  };
}

/**
 * A span processor that turns each finished hop span into a {@link HopObservation} for the
 * router's cost model. It sees every recorded span, whatever the exporter, so observations flow
 * even when nothing is exported.
 */
export class HopLatencyProcessor implements SpanProcessor {
  readonly #onObservation: (observation: HopObservation) => void;

  constructor(onObservation: (observation: HopObservation) => void) {
    this.#onObservation = onObservation;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const observation = hopObservation(span);
    if (observation === undefined) return;
    try {
      this.#onObservation(observation);
    } catch (err) {
      // A failing consumer must not break span.end() on the request path.
      diag.error("hop observation consumer failed", err);
    }
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function hrTimeToMs([seconds, nanos]: HrTime): number {
  return seconds * 1e3 + nanos / 1e6;
}

function stringAttribute(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

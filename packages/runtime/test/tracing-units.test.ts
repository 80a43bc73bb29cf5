import { headers } from "@nats-io/nats-core";
import {
  type Attributes,
  type HrTime,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { describe, expect, it } from "vitest";
import { type FinishedHopSpan, hopObservation } from "../src/tracing/hop-latency.ts";
import { describeError, startClientHop, startServerHop } from "../src/tracing/hop-spans.ts";
import {
  natsHeadersGetter,
  natsHeadersSetter,
  readServerTimeUs,
  writeServerTimeUs,
} from "../src/tracing/nats-headers.ts";
import { traceExportersFromEnv } from "../src/tracing/sdk.ts";
import { HOP_ATTRIBUTES } from "../src/tracing/types.ts";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID = "b7ad6b7169203331";

function span(overrides: {
  kind?: SpanKind;
  attributes?: Attributes;
  durationMs?: number;
  status?: SpanStatusCode;
}): FinishedHopSpan {
  const durationMs = overrides.durationMs ?? 5;
  const duration: HrTime = [Math.floor(durationMs / 1000), Math.round((durationMs % 1000) * 1e6)];
  const spanContext: SpanContext = {
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    traceFlags: TraceFlags.SAMPLED,
  };
  return {
    kind: overrides.kind ?? SpanKind.CLIENT,
    attributes: overrides.attributes ?? {
      [HOP_ATTRIBUTES.system]: "nats",
      [HOP_ATTRIBUTES.subject]: "entente.query",
      [HOP_ATTRIBUTES.service]: "query-federation",
      [HOP_ATTRIBUTES.sourceRegion]: "eu",
      [HOP_ATTRIBUTES.destinationRegion]: "us",
      [HOP_ATTRIBUTES.serverTimeUs]: 1500,
    },
    duration,
    endTime: [1_700_000_000, 250_000_000],
    status: { code: overrides.status ?? SpanStatusCode.UNSET },
    spanContext: () => spanContext,
  };
}

describe("hopObservation", () => {
  it("subtracts the server's time from the round trip", () => {
    expect(hopObservation(span({ durationMs: 5 }))).toEqual({
      subject: "entente.query",
      service: "query-federation",
      sourceRegion: "eu",
      destinationRegion: "us",
      roundTripMs: 5,
      serverMs: 1.5,
      hopMs: 3.5,
      at: 1_700_000_000_250,
      traceId: TRACE_ID,
      ok: true,
    });
  });

  it("clamps a server time longer than the round trip to a zero hop", () => {
    const observation = hopObservation(
      span({
        durationMs: 1,
        attributes: {
          [HOP_ATTRIBUTES.system]: "nats",
          [HOP_ATTRIBUTES.subject]: "entente.sql",
          [HOP_ATTRIBUTES.serverTimeUs]: 1200,
        },
      }),
    );
    expect(observation).toMatchObject({ roundTripMs: 1, serverMs: 1.2, hopMs: 0 });
    expect(observation?.service).toBeUndefined();
    expect(observation?.sourceRegion).toBeUndefined();
  });

  it("marks an errored hop as not ok", () => {
    expect(hopObservation(span({ status: SpanStatusCode.ERROR }))?.ok).toBe(false);
  });

  it("ignores spans that are not measured NATS client hops", () => {
    const base = span({}).attributes;
    const without = (key: string) =>
      Object.fromEntries(Object.entries(base).filter(([k]) => k !== key));
    expect(hopObservation(span({ kind: SpanKind.SERVER }))).toBeUndefined();
    expect(hopObservation(span({ kind: SpanKind.INTERNAL }))).toBeUndefined();
    expect(
      hopObservation(span({ attributes: without(HOP_ATTRIBUTES.serverTimeUs) })),
    ).toBeUndefined();
    expect(hopObservation(span({ attributes: without(HOP_ATTRIBUTES.system) }))).toBeUndefined();
    expect(hopObservation(span({ attributes: without(HOP_ATTRIBUTES.subject) }))).toBeUndefined();
    expect(
      hopObservation(span({ attributes: { ...base, [HOP_ATTRIBUTES.system]: "kafka" } })),
    ).toBeUndefined();
    expect(
      hopObservation(span({ attributes: { ...base, [HOP_ATTRIBUTES.serverTimeUs]: -1 } })),
    ).toBeUndefined();
    expect(
      hopObservation(span({ attributes: { ...base, [HOP_ATTRIBUTES.serverTimeUs]: "1500" } })),
    ).toBeUndefined();
  });
});

describe("NATS header carrier", () => {
  it("round-trips W3C trace context and reads header names in any case", () => {
    const propagator = new W3CTraceContextPropagator();
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: false,
    });
    const written = headers();
    propagator.inject(parent, written, natsHeadersSetter);
    expect(written.get("traceparent")).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);

    // Another client may write the canonical MIME form.
    const foreign = headers();
    foreign.set("Traceparent", written.get("traceparent"));
    const extracted = trace.getSpanContext(
      propagator.extract(ROOT_CONTEXT, foreign, natsHeadersGetter),
    );
    expect(extracted).toMatchObject({ traceId: TRACE_ID, spanId: SPAN_ID, isRemote: true });
  });

  it("reports a missing header as absent, not as an empty string", () => {
    expect(natsHeadersGetter.get(headers(), "tracestate")).toBeUndefined();
  });

  it("reads and writes the server time in whole microseconds", () => {
    const h = headers();
    expect(readServerTimeUs(h)).toBeUndefined();
    expect(readServerTimeUs(undefined)).toBeUndefined();
    writeServerTimeUs(h, 1234.6);
    expect(h.get("entente-server-time-us")).toBe("1235");
    expect(readServerTimeUs(h)).toBe(1235);
    h.set("entente-server-time-us", "soon");
    expect(readServerTimeUs(h)).toBeUndefined();
  });
});

describe("hop helpers without tracing started", () => {
  it("are no-ops that still measure the server's time", () => {
    const client = startClientHop({ subject: "entente.query", requestBytes: 3 });
    const h = headers();
    client.inject(h);
    expect(h.keys()).toEqual([]);
    expect(client.span.isRecording()).toBe(false);
    client.end({ responseBytes: 1, serverTimeUs: 5 });
    client.end();

    const server = startServerHop(h, {
      subject: "entente.query",
      service: "q",
      region: "eu",
      requestBytes: 3,
    });
    expect(server.span.isRecording()).toBe(false);
    expect(server.elapsedUs()).toBeGreaterThanOrEqual(0);
    server.end({ error: new Error("boom") });
  });
});

describe("describeError", () => {
  it("takes the code of the protocol's error shape and falls back to INTERNAL", () => {
    expect(describeError({ code: "DEADLINE_EXCEEDED", message: "late" })).toEqual({
      code: "DEADLINE_EXCEEDED",
      message: "late",
    });
    expect(describeError(new Error("boom"))).toEqual({ code: "INTERNAL", message: "boom" });
    expect(describeError("broken")).toEqual({ code: "INTERNAL", message: "broken" });
    expect(describeError({ code: 503 })).toEqual({ code: "503", message: undefined });
  });
});

describe("traceExportersFromEnv", () => {
  it("exports nowhere unless an exporter or an endpoint is configured", () => {
    expect(traceExportersFromEnv({})).toEqual([]);
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: " " })).toEqual([]);
    expect(traceExportersFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318" })).toEqual([
      "otlp",
    ]);
    expect(
      traceExportersFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://jaeger:4318/v1/traces" }),
    ).toEqual(["otlp"]);
  });

  it("follows OTEL_TRACES_EXPORTER when set", () => {
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: "otlp" })).toEqual(["otlp"]);
    expect(traceExportersFromEnv({ OTEL_TRACES_EXPORTER: "console, OTLP,console" })).toEqual([
      "console",
      "otlp",
    ]);
    expect(
      traceExportersFromEnv({
        OTEL_TRACES_EXPORTER: "none",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318",
      }),
    ).toEqual([]);
  });

  it("names the variable of an unsupported value", () => {
    expect(() => traceExportersFromEnv({ OTEL_TRACES_EXPORTER: "zipkin" })).toThrow(
      /OTEL_TRACES_EXPORTER: unsupported exporter "zipkin"/,
    );
    expect(() =>
      traceExportersFromEnv({ OTEL_TRACES_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }),
    ).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: unsupported OTLP protocol "grpc"/);
    expect(() =>
      traceExportersFromEnv({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4317",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toThrow(/OTEL_EXPORTER_OTLP_TRACES_PROTOCOL/);
    expect(
      traceExportersFromEnv({
        OTEL_TRACES_EXPORTER: "console",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      }),
    ).toEqual(["console"]);
  });
});

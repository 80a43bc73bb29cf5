import { EntenteError, HEADERS } from "@entente/protocol";
import { type NatsService, natsServer } from "@entente/testkit";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HopLatencyProcessor } from "../src/tracing/hop-latency.ts";
import { startClientHop, startServerHop } from "../src/tracing/hop-spans.ts";
import { readServerTimeUs, writeServerTimeUs } from "../src/tracing/nats-headers.ts";
import { startTracing, type Tracing } from "../src/tracing/sdk.ts";
import { HOP_ATTRIBUTES, type HopObservation } from "../src/tracing/types.ts";

const prefix = createInbox("_test.tracing");

const memory = new InMemorySpanExporter();
const observations: HopObservation[] = [];
let tracing: Tracing;
let clientNc: NatsConnection;
let serverNc: NatsConnection;
/** The baggage the last server hop received. */
let serverBaggage: string | undefined;

/** A plain responder: one server hop per request; `….fail` answers with the error shape. */
function respond(msg: Msg): void {
  const hop = startServerHop(msg.headers, {
    subject: msg.subject,
    service: "echo",
    region: "eu",
    requestBytes: msg.data.length,
  });
  serverBaggage = propagation.getBaggage(hop.context)?.getEntry("tenant")?.value;
  const failing = msg.subject.endsWith(".fail");
  const body = failing ? new TextEncoder().encode("nope") : new Uint8Array(msg.data.length * 2);
  const replyHeaders = headers();
  if (failing) replyHeaders.set(HEADERS.error, "BAD_REQUEST");
  writeServerTimeUs(replyHeaders, hop.elapsedUs());
  msg.respond(body, { headers: replyHeaders });
  hop.end(
    failing
      ? { responseBytes: body.length, error: new EntenteError("BAD_REQUEST", "nope") }
      : { responseBytes: body.length, responseBatches: 1 },
  );
}

/** One traced request from the client connection, ended the way the client does it. */
async function call(subject: string, size: number): Promise<void> {
  const payload = new Uint8Array(size);
  const hop = startClientHop({
    subject,
    service: "echo",
    sourceRegion: "us",
    destinationRegion: "eu",
    requestBytes: payload.length,
  });
  const requestHeaders = headers();
  requestHeaders.set(HEADERS.sourceRegion, "us");
  hop.inject(requestHeaders);
  const reply = await clientNc.request(subject, payload, {
    timeout: 10_000,
    headers: requestHeaders,
  });
  const code = reply.headers?.get(HEADERS.error);
  hop.end({
    responseBytes: reply.data.length,
    responseBatches: 1,
    serverTimeUs: readServerTimeUs(reply.headers),
    ...(code ? { error: { code, message: "nope" } } : {}),
  });
}

async function finished(count: number): Promise<ReadableSpan[]> {
  await tracing.forceFlush();
  const spans = memory.getFinishedSpans();
  expect(spans).toHaveLength(count);
  return spans;
}

function only(spans: ReadableSpan[], kind: SpanKind): ReadableSpan {
  const matching = spans.filter((s) => s.kind === kind);
  expect(matching).toHaveLength(1);
  return matching[0]!;
}

let nats: NatsService;

beforeAll(async () => {
  tracing = await startTracing({
    serviceName: "entente-tracing-test",
    exporter: memory,
    spanProcessors: [new HopLatencyProcessor((o) => observations.push(o))],
  });
  nats = await natsServer();
  clientNc = await connect({ servers: nats.url, name: "tracing-test-client" });
  serverNc = await connect({ servers: nats.url, name: "tracing-test-server" });
  serverNc.subscribe(`${prefix}.>`, { callback: (_err, msg) => respond(msg) });
  await serverNc.flush();
});

afterAll(async () => {
  await clientNc?.close();
  await serverNc?.close();
  await nats?.stop();
  await tracing?.shutdown();
});

beforeEach(() => {
  memory.reset();
  observations.length = 0;
});

describe("hop spans over real NATS", () => {
  it("links the server span to the client span through the headers", async () => {
    const subject = `${prefix}.ok`;
    await call(subject, 100);
    const spans = await finished(2);
    const client = only(spans, SpanKind.CLIENT);
    const server = only(spans, SpanKind.SERVER);

    expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
    expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
    expect(server.parentSpanContext?.isRemote).toBe(true);
    expect(client.name).toBe(`send ${subject}`);
    expect(server.name).toBe(`process ${subject}`);

    expect(client.attributes).toMatchObject({
      [HOP_ATTRIBUTES.system]: "nats",
      [HOP_ATTRIBUTES.operation]: "send",
      [HOP_ATTRIBUTES.subject]: subject,
      [HOP_ATTRIBUTES.service]: "echo",
      [HOP_ATTRIBUTES.sourceRegion]: "us",
      [HOP_ATTRIBUTES.destinationRegion]: "eu",
      [HOP_ATTRIBUTES.requestBytes]: 100,
      [HOP_ATTRIBUTES.responseBytes]: 200,
      [HOP_ATTRIBUTES.responseBatches]: 1,
    });
    expect(client.attributes[HOP_ATTRIBUTES.serverTimeUs]).toEqual(expect.any(Number));
    expect(server.attributes).toMatchObject({
      [HOP_ATTRIBUTES.system]: "nats",
      [HOP_ATTRIBUTES.operation]: "process",
      [HOP_ATTRIBUTES.subject]: subject,
      [HOP_ATTRIBUTES.service]: "echo",
      [HOP_ATTRIBUTES.sourceRegion]: "us",
      [HOP_ATTRIBUTES.destinationRegion]: "eu",
      [HOP_ATTRIBUTES.requestBytes]: 100,
      [HOP_ATTRIBUTES.responseBytes]: 200,
      [HOP_ATTRIBUTES.responseBatches]: 1,
    });
    expect(client.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.status.code).toBe(SpanStatusCode.UNSET);
    expect(server.resource.attributes["service.name"]).toBe("entente-tracing-test");
  });

  it("continues the caller's trace and baggage when a parent span is active", async () => {
    const parent = trace.getTracer("test").startSpan("caller");
    const baggage = propagation.createBaggage({ tenant: { value: "acme" } });
    const parentContext = propagation.setBaggage(trace.setSpan(context.active(), parent), baggage);
    await context.with(parentContext, () => call(`${prefix}.nested`, 8));
    expect(serverBaggage).toBe("acme");
    parent.end();
    const spans = await finished(3);
    const client = only(spans, SpanKind.CLIENT);
    expect(client.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(client.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(only(spans, SpanKind.SERVER).spanContext().traceId).toBe(parent.spanContext().traceId);
  });

  it("marks both spans as errors with the error code on a failure", async () => {
    await call(`${prefix}.fail`, 10);
    const spans = await finished(2);
    for (const span of [only(spans, SpanKind.CLIENT), only(spans, SpanKind.SERVER)]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toBe("BAD_REQUEST: nope");
      expect(span.attributes[HOP_ATTRIBUTES.errorCode]).toBe("BAD_REQUEST");
      expect(span.attributes[HOP_ATTRIBUTES.errorType]).toBe("BAD_REQUEST");
    }
  });

  it("starts a new trace on the server when the request carries none", async () => {
    const reply = await clientNc.request(`${prefix}.untraced`, new Uint8Array(4), {
      timeout: 10_000,
    });
    expect(readServerTimeUs(reply.headers)).toEqual(expect.any(Number));
    const server = only(await finished(1), SpanKind.SERVER);
    expect(server.parentSpanContext).toBeUndefined();
    expect(server.attributes[HOP_ATTRIBUTES.sourceRegion]).toBeUndefined();
  });
});

describe("HopLatencyProcessor on a real hop", () => {
  it("observes the round trip minus the server's own time", async () => {
    await call(`${prefix}.observed`, 64);
    const client = only(await finished(2), SpanKind.CLIENT);
    expect(observations).toHaveLength(1);
    const [observation] = observations;
    const roundTripMs = client.duration[0] * 1e3 + client.duration[1] / 1e6;
    const serverMs = (client.attributes[HOP_ATTRIBUTES.serverTimeUs] as number) / 1000;
    expect(observation).toEqual({
      subject: `${prefix}.observed`,
      service: "echo",
      sourceRegion: "us",
      destinationRegion: "eu",
      roundTripMs,
      serverMs,
      hopMs: Math.max(0, roundTripMs - serverMs),
      at: client.endTime[0] * 1e3 + client.endTime[1] / 1e6,
      traceId: client.spanContext().traceId,
      ok: true,
    });
    expect(observation!.roundTripMs).toBeGreaterThanOrEqual(observation!.serverMs);
  });

  it("reports a failed hop as not ok", async () => {
    await call(`${prefix}.fail`, 1);
    await finished(2);
    expect(observations.map((o) => o.ok)).toEqual([false]);
  });
});

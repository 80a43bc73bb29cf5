import { gzipSync } from "node:zlib";
import { context, type SpanContext, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as JsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { SimpleSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../src/index.ts";

type Compression = NonNullable<ConstructorParameters<typeof ProtoExporter>[0]>["compression"];
const GZIP = "gzip" as Compression;

/** Records a parent (server) span with a child (client) span through a real SDK exporter. */
async function exportTrace(exporter: SpanExporter, serviceName: string) {
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName, "entente.region": "eu" }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = provider.getTracer("testkit-test", "1.2.3");
  const parent = tracer.startSpan("entente.query", {
    kind: SpanKind.SERVER,
    attributes: { "messaging.destination": "entente.query", rows: 42, ratio: 0.5, cached: true },
  });
  const child = tracer.startSpan(
    "postgres scan",
    { kind: SpanKind.CLIENT, attributes: { tables: ["orders", "items"] } },
    trace.setSpan(context.active(), parent),
  );
  child.addEvent("retry", { attempt: 2 });
  child.setStatus({ code: SpanStatusCode.ERROR, message: "connection reset" });
  child.end();
  parent.end();
  await provider.forceFlush();
  await provider.shutdown();
  return { parent: parent.spanContext(), child: child.spanContext() };
}

function expectDecodedTrace(
  spans: ReceivedSpan[],
  ids: { parent: SpanContext; child: SpanContext },
  serviceName: string,
) {
  const parent = spans.find((span) => span.name === "entente.query");
  const child = spans.find((span) => span.name === "postgres scan");
  expect(parent).toBeDefined();
  expect(child).toBeDefined();
  if (parent === undefined || child === undefined) return;

  expect(parent.traceId).toBe(ids.parent.traceId);
  expect(parent.spanId).toBe(ids.parent.spanId);
  expect(parent.parentSpanId).toBeUndefined();
  expect(child.traceId).toBe(parent.traceId);
  expect(child.spanId).toBe(ids.child.spanId);
  expect(child.parentSpanId).toBe(parent.spanId);

  expect(parent.kindName).toBe("SERVER");
  expect(parent.kind).toBe(2);
  expect(child.kindName).toBe("CLIENT");
  expect(parent.attributes).toEqual({
    "messaging.destination": "entente.query",
    rows: 42,
    ratio: 0.5,
    cached: true,
  });
  expect(child.attributes).toEqual({ tables: ["orders", "items"] });
  expect(child.events).toEqual([
    { name: "retry", timeUnixNano: expect.any(BigInt), attributes: { attempt: 2 } },
  ]);
  expect(child.status).toEqual({ code: 2, codeName: "ERROR", message: "connection reset" });
  expect(parent.status.codeName).toBe("UNSET");

  for (const span of [parent, child]) {
    expect(span.resource["service.name"]).toBe(serviceName);
    expect(span.resource["entente.region"]).toBe("eu");
    expect(span.scope).toMatchObject({ name: "testkit-test", version: "1.2.3" });
    expect(span.startTimeUnixNano).toBeGreaterThan(0n);
    expect(span.endTimeUnixNano).toBeGreaterThanOrEqual(span.startTimeUnixNano);
  }
}

describe("startOtlpReceiver", () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });
  beforeEach(() => receiver.clear());

  it("decodes protobuf exports from the OTLP/HTTP proto exporter", async () => {
    const ids = await exportTrace(new ProtoExporter({ url: receiver.tracesUrl }), "proto-svc");
    const spans = await receiver.waitForSpans((s) => s.resource["service.name"] === "proto-svc", {
      count: 2,
    });
    expectDecodedTrace(spans, ids, "proto-svc");
    expect(receiver.rejections()).toEqual([]);
  });

  it("decodes JSON exports from the OTLP/HTTP JSON exporter", async () => {
    const ids = await exportTrace(new JsonExporter({ url: receiver.tracesUrl }), "json-svc");
    const spans = await receiver.waitForSpans((s) => s.resource["service.name"] === "json-svc", {
      count: 2,
    });
    expectDecodedTrace(spans, ids, "json-svc");
  });

  it("decodes gzip-compressed exports in both encodings", async () => {
    const proto = await exportTrace(
      new ProtoExporter({ url: receiver.tracesUrl, compression: GZIP }),
      "gzip-proto",
    );
    const json = await exportTrace(
      new JsonExporter({ url: receiver.tracesUrl, compression: GZIP }),
      "gzip-json",
    );
    const byService = (name: string) => (s: ReceivedSpan) => s.resource["service.name"] === name;
    expectDecodedTrace(
      await receiver.waitForSpans(byService("gzip-proto"), { count: 2 }),
      proto,
      "gzip-proto",
    );
    expectDecodedTrace(
      await receiver.waitForSpans(byService("gzip-json"), { count: 2 }),
      json,
      "gzip-json",
    );
  });

  it("accepts the looser forms OTLP/JSON allows: enum names, int64 strings, nested values", async () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "service.name", value: { stringValue: "raw" } }] },
          scopeSpans: [
            {
              scope: { name: "raw-scope" },
              spans: [
                {
                  traceId: "5B8EFFF798038103D269B633813FC60C",
                  spanId: "EEE19B7EC3C1B174",
                  parentSpanId: "",
                  name: "raw span",
                  kind: "SPAN_KIND_PRODUCER",
                  startTimeUnixNano: "1700000000000000001",
                  endTimeUnixNano: "1700000000000000002",
                  attributes: [
                    { key: "big", value: { intValue: "9007199254740993" } },
                    { key: "bytes", value: { bytesValue: "AQID" } },
                    {
                      key: "nested",
                      value: {
                        kvlistValue: {
                          values: [
                            { key: "list", value: { arrayValue: { values: [{ intValue: 1 }] } } },
                          ],
                        },
                      },
                    },
                  ],
                  status: { code: "STATUS_CODE_OK" },
                },
              ],
            },
          ],
        },
      ],
    };
    const response = await fetch(receiver.tracesUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: gzipSync(JSON.stringify(body)),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual({});

    const [span] = await receiver.waitForSpans((s) => s.name === "raw span");
    expect(span).toMatchObject({
      traceId: "5b8efff798038103d269b633813fc60c",
      spanId: "eee19b7ec3c1b174",
      kind: 4,
      kindName: "PRODUCER",
      startTimeUnixNano: 1700000000000000001n,
      endTimeUnixNano: 1700000000000000002n,
      status: { code: 1, codeName: "OK" },
      resource: { "service.name": "raw" },
      scope: { name: "raw-scope" },
    });
    expect(span?.parentSpanId).toBeUndefined();
    expect(span?.attributes).toEqual({
      big: 9007199254740993n,
      bytes: new Uint8Array([1, 2, 3]),
      nested: { list: [1] },
    });
  });

  it("answers protobuf requests with an empty protobuf response", async () => {
    const response = await fetch(receiver.tracesUrl, {
      method: "POST",
      headers: { "content-type": "application/x-protobuf" },
      body: new Uint8Array(),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-protobuf");
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });

  it("refuses what it cannot decode, and says why when a wait times out", async () => {
    const response = await fetch(receiver.tracesUrl, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hello",
    });
    expect(response.status).toBe(415);
    await expect(receiver.waitForSpans(() => true, { timeoutMs: 50 })).rejects.toThrow(
      /got 0; spans received: none; refused requests: .*unsupported content-type text\/plain/,
    );
  });
});

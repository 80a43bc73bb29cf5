import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { headers } from "@nats-io/nats-core";
import { context, propagation, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startClientHop } from "../src/tracing/hop-spans.ts";
import { startTracing, type Tracing } from "../src/tracing/sdk.ts";

/** A stand-in OTLP/HTTP collector: counts POSTs per path and keeps their bodies. */
interface Receiver {
  url: string;
  posts: Array<{ path: string; contentType: string | undefined; body: Buffer }>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const posts: Receiver["posts"] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "POST") {
        posts.push({
          path: req.url ?? "",
          contentType: req.headers["content-type"],
          body: Buffer.concat(chunks),
        });
      }
      // An empty ExportTraceServiceResponse encodes to zero bytes; /reject plays a broken one.
      const status = req.url?.startsWith("/reject") ? 400 : 200;
      res.writeHead(status, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    posts,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const OTEL_VARIABLES = [
  "OTEL_SDK_DISABLED",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_TRACES_EXPORTER",
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
];
const savedEnv = Object.fromEntries(OTEL_VARIABLES.map((name) => [name, process.env[name]]));

let receiver: Receiver;
let tracing: Tracing | undefined;

function exportOneSpan(name: string): void {
  trace.getTracer("test").startSpan(name).end();
}

/** Protobuf keeps strings as raw UTF-8, so a name is found in the body without a decoder. */
function mentions(body: Buffer, text: string): boolean {
  return body.includes(Buffer.from(text, "utf8"));
}

beforeAll(async () => {
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver.close();
});

beforeEach(() => {
  for (const name of OTEL_VARIABLES) delete process.env[name];
  receiver.posts.length = 0;
});

afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe("startTracing", () => {
  it("exports over OTLP to the endpoint from the environment, with the service name", async () => {
    process.env.OTEL_TRACES_EXPORTER = "otlp";
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    tracing = await startTracing({
      serviceName: "entente-sdk-test",
      resourceAttributes: { "deployment.environment.name": "test" },
    });
    expect(tracing.enabled).toBe(true);
    expect(tracing.exporters).toEqual(["otlp"]);

    exportOneSpan("first-span");
    await tracing.forceFlush();
    expect(receiver.posts).toHaveLength(1);
    const [post] = receiver.posts;
    expect(post?.path).toBe("/v1/traces");
    expect(post?.contentType).toBe("application/x-protobuf");
    expect(mentions(post!.body, "first-span")).toBe(true);
    expect(mentions(post!.body, "entente-sdk-test")).toBe(true);
    expect(mentions(post!.body, "deployment.environment.name")).toBe(true);
  });

  it("an endpoint alone is enough to export", async () => {
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = `${receiver.url}/custom/traces`;
    tracing = await startTracing({ serviceName: "entente-endpoint-only" });
    exportOneSpan("endpoint-only");
    await tracing.forceFlush();
    expect(receiver.posts.map((p) => p.path)).toEqual(["/custom/traces"]);
  });

  it("lets OTEL_SERVICE_NAME win over the service's own name", async () => {
    process.env.OTEL_SERVICE_NAME = "renamed-by-env";
    tracing = await startTracing({
      serviceName: "entente-own-name",
      exporter: `${receiver.url}/v1/traces`,
    });
    exportOneSpan("renamed");
    await tracing.forceFlush();
    expect(receiver.posts).toHaveLength(1);
    expect(mentions(receiver.posts[0]!.body, "renamed-by-env")).toBe(true);
    expect(mentions(receiver.posts[0]!.body, "entente-own-name")).toBe(false);
  });

  it("starts, shuts down and starts again in one process", async () => {
    process.env.OTEL_TRACES_EXPORTER = "otlp";
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    const first = await startTracing({ serviceName: "entente-first" });
    tracing = first;
    exportOneSpan("before-restart");
    startClientHop({ subject: "entente.before", requestBytes: 1 }).end();
    await first.forceFlush();
    await first.shutdown();
    await first.shutdown();

    // Stopped: the globals are gone, so spans are no-ops and nothing is injected.
    const idle = trace.getTracer("test").startSpan("while-stopped");
    expect(idle.isRecording()).toBe(false);
    idle.end();
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    expect(carrier).toEqual({});

    tracing = await startTracing({ serviceName: "entente-second" });
    exportOneSpan("after-restart");
    // The hop helpers follow the new provider rather than the shut-down one.
    startClientHop({ subject: "entente.after", requestBytes: 1 }).end();
    await tracing.forceFlush();

    expect(receiver.posts).toHaveLength(2);
    const [before, after] = receiver.posts;
    expect(mentions(before!.body, "entente-first")).toBe(true);
    expect(mentions(after!.body, "entente-second")).toBe(true);
    expect(mentions(before!.body, "send entente.before")).toBe(true);
    expect(mentions(after!.body, "after-restart")).toBe(true);
    expect(mentions(after!.body, "send entente.after")).toBe(true);
    expect(mentions(after!.body, "while-stopped")).toBe(false);
  });

  it("shuts down cleanly even when the collector rejects the last spans", async () => {
    const rejected = await startTracing({
      serviceName: "entente-rejected",
      exporter: `${receiver.url}/reject/v1/traces`,
    });
    tracing = rejected;
    exportOneSpan("refused");
    await expect(rejected.shutdown()).resolves.toBeUndefined();
    expect(receiver.posts.map((p) => p.path)).toEqual(["/reject/v1/traces"]);
  });

  it("refuses a second start while one is running", async () => {
    tracing = await startTracing({ serviceName: "entente-once" });
    await expect(startTracing({ serviceName: "entente-twice" })).rejects.toThrow(/already started/);
  });

  it("without any exporter configured, still records and propagates", async () => {
    const memory = new InMemorySpanExporter();
    tracing = await startTracing({
      serviceName: "entente-quiet",
      spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    });
    expect(tracing.exporters).toEqual([]);
    const hop = startClientHop({ subject: "entente.query", requestBytes: 1 });
    const h = headers();
    hop.inject(h);
    expect(h.get("traceparent")).toMatch(
      new RegExp(`^00-${hop.span.spanContext().traceId}-${hop.span.spanContext().spanId}-01$`),
    );
    hop.end();
    await tracing.forceFlush();
    expect(memory.getFinishedSpans().map((s) => s.name)).toEqual(["send entente.query"]);
    expect(receiver.posts).toEqual([]);
  });

  it("honours OTEL_TRACES_SAMPLER", async () => {
    process.env.OTEL_TRACES_SAMPLER = "always_off";
    const memory = new InMemorySpanExporter();
    tracing = await startTracing({
      serviceName: "entente-sampled-out",
      spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    });
    const span = trace.getTracer("test").startSpan("dropped");
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.forceFlush();
    expect(memory.getFinishedSpans()).toEqual([]);
  });

  it("registers nothing when OTEL_SDK_DISABLED=true", async () => {
    process.env.OTEL_SDK_DISABLED = "true";
    process.env.OTEL_TRACES_EXPORTER = "otlp";
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
    tracing = await startTracing({ serviceName: "entente-disabled" });
    expect(tracing.enabled).toBe(false);
    const span = trace.getTracer("test").startSpan("nothing");
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.forceFlush();
    expect(receiver.posts).toEqual([]);
  });

  it("rejects an unsupported exporter before registering anything", async () => {
    process.env.OTEL_TRACES_EXPORTER = "jaeger";
    await expect(startTracing({ serviceName: "entente-bad" })).rejects.toThrow(
      /OTEL_TRACES_EXPORTER: unsupported exporter "jaeger"/,
    );
    // The failed start left the slot free.
    delete process.env.OTEL_TRACES_EXPORTER;
    tracing = await startTracing({ serviceName: "entente-after-bad" });
    expect(tracing.enabled).toBe(true);
  });

  it("refuses an unknown OTEL_TRACES_SAMPLER, naming the accepted values", async () => {
    process.env.OTEL_TRACES_SAMPLER = "bogus";
    await expect(startTracing({ serviceName: "entente-bad-sampler" })).rejects.toThrow(
      /OTEL_TRACES_SAMPLER: unknown sampler "bogus" \(accepted: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio\)/,
    );
    process.env.OTEL_TRACES_SAMPLER = "parentbased_traceidratio";
    process.env.OTEL_TRACES_SAMPLER_ARG = "1,5";
    await expect(startTracing({ serviceName: "entente-bad-ratio" })).rejects.toThrow(
      /OTEL_TRACES_SAMPLER_ARG: "1,5" is not a sampling ratio/,
    );
    // The failed starts left the slot free, and a valid ratio starts.
    process.env.OTEL_TRACES_SAMPLER_ARG = "0.5";
    tracing = await startTracing({ serviceName: "entente-good-sampler" });
    expect(tracing.enabled).toBe(true);
  });
});

/**
 * The HTTP front door over a hosted service on real NATS: the same path as a NATS request (span,
 * deadline, stats, error shape), with what HTTP adds: statuses, bounded bodies, codecs by header.
 */
import { request as httpRequest } from "node:http";
import { EntenteError, HEADERS, msgpackCodec } from "@entente/protocol";
import { type NatsService, natsServer, uniqueName } from "@entente/testkit";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type HttpFrontDoor,
  type HttpOutput,
  type HttpRequestParts,
  startHttpFrontDoor,
} from "../src/service/http-door.ts";
import { endpoint, type RequestContext, streamOf } from "../src/service/types.ts";
import { startTracing, type Tracing } from "../src/tracing/sdk.ts";
import { HOP_ATTRIBUTES } from "../src/tracing/types.ts";
import { aborted, hostService, type TestHost } from "./host-support.ts";

const prefix = uniqueName("door");
const NDJSON_TYPE = "application/x-ndjson";
const subject = (name: string) => `${prefix}.${name}`;
const memory = new InMemorySpanExporter();

let nats: NatsService;
let tracing: Tracing;
let host: TestHost;
let door: HttpFrontDoor;
let healthy = true;
/** The context of the last `hang` request and a way to learn when it arrives. */
let hung: RequestContext | undefined;
let hangArrived: (() => void) | undefined;

beforeAll(async () => {
  tracing = await startTracing({
    serviceName: "entente-door-test",
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  nats = await natsServer();
  host = await hostService(nats.url, "door-test", {
    endpoints: [
      endpoint({
        name: "quote",
        subject: subject("quote"),
        schema: z.object({ sku: z.string(), timeoutMs: z.number().optional() }),
        maxRequestBytes: 1024,
        handler: (request, context) => ({
          sku: request.sku,
          remainingMs: context.deadline.remainingMs(),
        }),
      }),
      endpoint({
        name: "wait",
        subject: subject("wait"),
        handler: async (_request, context) => {
          await aborted(context.signal);
          return "too late";
        },
      }),
      endpoint({
        name: "hang",
        subject: subject("hang"),
        handler: (_request, context) => {
          hung = context;
          hangArrived?.();
          return aborted(context.signal).then(() => "gone");
        },
      }),
      endpoint({
        name: "fail",
        subject: subject("fail"),
        schema: z.object({ code: z.string() }),
        handler: (request) => {
          if (request.code === "boom") throw new Error("a bug");
          throw new EntenteError(request.code, `failed with ${request.code}`);
        },
      }),
      endpoint({
        name: "echo",
        subject: subject("echo"),
        handler: (request, context) => ({
          request,
          remainingMs: context.deadline.remainingMs(),
        }),
      }),
      endpoint({
        name: "rows",
        subject: subject("rows"),
        schema: z.object({ n: z.number().int() }),
        handler: (request) => streamOf(Array.from({ length: request.n }, (_, i) => ({ i }))),
      }),
    ],
  });
  door = await startHttpFrontDoor({
    services: host.hosted,
    port: 0,
    maxResponseBytes: 64 * 1024,
    health: () => ({ ok: healthy, details: { sources: healthy ? "up" : "down" } }),
    routes: [
      { path: "/quote", endpoint: "quote" },
      { method: "GET", path: "/wait", endpoint: "wait" },
      { path: "/hang", endpoint: subject("hang") },
      { path: "/fail", endpoint: "fail" },
      { path: "/rows", endpoint: "rows" },
      {
        path: "/rows/total",
        endpoint: "rows",
        collect: (items) => ({ count: items.length }),
      },
      { method: "GET", path: "/shop/:shop/items/:sku", endpoint: "echo", input: echoInput },
      { method: "POST", path: "/shop/:shop/items/:sku", endpoint: "echo", input: echoInput },
      { method: "GET", path: "/shop/:shop/stock", endpoint: "echo", input: echoInput },
      { method: "GET", path: "/shop/all/stock", endpoint: "quote" },
      { method: "GET", path: "/enveloped/echo", endpoint: "echo", input: echoInput, output },
      { method: "POST", path: "/enveloped/fail", endpoint: "fail", input: failInput, output },
      {
        method: "POST",
        path: "/enveloped/rows",
        endpoint: "rows",
        input: (r) => ({ n: Number(r.form?.get("n")) }),
        collect: (items) => items.length,
        output,
      },
      {
        method: "POST",
        path: "/enveloped/rows/all",
        endpoint: "rows",
        input: (r) => ({ n: Number(r.form?.get("n")) }),
        output,
      },
    ],
  });
});

afterAll(async () => {
  await door?.close();
  await host?.stop();
  await nats?.stop();
  await tracing?.shutdown();
});

beforeEach(() => {
  memory.reset();
});

/** The HTTP request as the `echo` endpoint is asked: what a route's `input` was given. */
function echoInput(request: HttpRequestParts) {
  const timeout = request.query.get("timeoutMs");
  return {
    method: request.method,
    params: request.params,
    query: Object.fromEntries(request.query),
    ...(request.form ? { form: [...request.form] } : {}),
    bodyBytes: request.body.length,
    ...(timeout ? { timeoutMs: Number(timeout) } : {}),
  };
}

function failInput(request: HttpRequestParts) {
  const code = request.form?.get("code");
  if (code === "input") throw new EntenteError("BAD_REQUEST", "no such input");
  return { code };
}

/** An envelope of its own, as an API such as Prometheus' has. */
const output: HttpOutput = {
  answer: (value) => ({ ok: true, value }),
  error: (error) => ({
    status: error.code === "BAD_REQUEST" ? 422 : 599,
    body: { ok: false, kind: error.code, why: error.message },
  }),
};

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${door.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return read(res);
}

async function read(res: Response): Promise<Answer> {
  const type = res.headers.get("content-type") ?? "";
  const bytes = new Uint8Array(await res.arrayBuffer());
  const body = type.includes("msgpack")
    ? msgpackCodec.decode(bytes)
    : type.includes("ndjson")
      ? new TextDecoder()
          .decode(bytes)
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line))
      : JSON.parse(new TextDecoder().decode(bytes));
  return { status: res.status, headers: res.headers, body };
}

function statsOf(name: string) {
  const found = host.hosted.stats().endpoints.find((e) => e.name === name);
  if (!found) throw new Error(`no stats for ${name}`);
  return found;
}

describe("an HTTP request enters the endpoint like a NATS one", () => {
  it("answers JSON with JSON, counted in the endpoint's stats", async () => {
    const before = statsOf("quote").num_requests;
    const answer = await post("/quote", { sku: "a-1" });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ sku: "a-1" });
    expect(answer.headers.get(HEADERS.serverTimeUs)).toMatch(/^\d+$/);
    expect(statsOf("quote").num_requests).toBe(before + 1);
  });

  it("reads and answers MessagePack by Content-Type and Accept", async () => {
    const res = await fetch(`${door.url}/quote`, {
      method: "POST",
      headers: { "content-type": "application/msgpack", accept: "application/msgpack" },
      body: msgpackCodec.encode({ sku: "m-1" }),
      signal: AbortSignal.timeout(10_000),
    });
    const answer = await read(res);
    expect(answer.headers.get("content-type")).toBe("application/msgpack");
    expect(answer.body).toMatchObject({ sku: "m-1" });
  });

  it("takes the deadline from entente-timeout-ms, x-timeout-ms or the body's timeoutMs", async () => {
    const remaining = async (body: unknown, headers: Record<string, string>) =>
      ((await post("/quote", body, headers)).body as { remainingMs: number }).remainingMs;
    expect(await remaining({ sku: "t" }, { "entente-timeout-ms": "400" })).toBeLessThanOrEqual(400);
    expect(await remaining({ sku: "t" }, { "x-timeout-ms": "300" })).toBeLessThanOrEqual(300);
    expect(await remaining({ sku: "t", timeoutMs: 200 }, {})).toBeLessThanOrEqual(200);
  });

  it("answers 504 with the error shape when the deadline passes", async () => {
    const res = await fetch(`${door.url}/wait`, {
      headers: { "x-timeout-ms": "50" },
      signal: AbortSignal.timeout(10_000),
    });
    const answer = await read(res);
    expect(answer.status).toBe(504);
    expect(answer.headers.get(HEADERS.error)).toBe("DEADLINE_EXCEEDED");
    expect(answer.body).toEqual({
      error: { code: "DEADLINE_EXCEEDED", message: expect.any(String), retryable: true },
    });
  });

  it("opens a server span under the caller's traceparent", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    await post("/quote", { sku: "traced" }, { traceparent: `00-${traceId}-${parentId}-01` });
    await tracing.forceFlush();
    const spans = memory.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(spans).toHaveLength(1);
    const span = spans[0]!;
    expect(span.name).toBe(`process ${subject("quote")}`);
    expect(span.spanContext().traceId).toBe(traceId);
    expect(span.parentSpanContext?.spanId).toBe(parentId);
    expect(span.attributes[HOP_ATTRIBUTES.system]).toBe("http");
    expect(span.attributes[HOP_ATTRIBUTES.service]).toBe("door-test");
    expect(span.attributes[HOP_ATTRIBUTES.httpStatus]).toBe(200);
  });

  it("aborts the handler when the client goes away", async () => {
    const arrived = new Promise<void>((resolve) => {
      hangArrived = resolve;
    });
    const req = httpRequest(`${door.url}/hang`, {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    req.on("error", () => {});
    req.end("{}");
    await arrived;
    const reason = aborted(hung!.signal);
    req.destroy();
    expect(await reason).toMatchObject({ code: "CANCELLED" });
  });
});

describe("errors map to HTTP statuses with the one error body", () => {
  it.each([
    ["BAD_REQUEST", 400],
    ["NOT_FOUND", 404],
    ["UNAVAILABLE", 503],
    ["DEADLINE_EXCEEDED", 504],
    ["BAD_RESPONSE", 502],
    ["boom", 500],
  ])("%s is answered %i", async (code, status) => {
    const answer = await post("/fail", { code });
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({
      error: { code: code === "boom" ? "INTERNAL" : code, message: expect.any(String) },
    });
  });

  it("refuses a body the schema rejects, naming the field", async () => {
    const answer = await post("/quote", { sku: 12 });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toMatch(/sku/);
  });

  it("refuses a body that is not JSON as MALFORMED", async () => {
    const answer = await post("/quote", "{not json");
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: { code: "MALFORMED" } });
  });

  it("refuses a body over the endpoint's maxRequestBytes with 413, counted", async () => {
    const before = statsOf("quote");
    const answer = await post("/quote", { sku: "x".repeat(5_000) });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ error: { code: "TOO_LARGE" } });
    const after = statsOf("quote");
    expect(after.num_errors).toBe(before.num_errors + 1);
  });

  it("answers unknown paths 404 and wrong methods 400", async () => {
    expect((await post("/nowhere", {})).status).toBe(404);
    const wrong = await read(
      await fetch(`${door.url}/quote`, { signal: AbortSignal.timeout(10_000) }),
    );
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: "BAD_REQUEST", message: /POST/ } });
  });
});

describe("streamed answers", () => {
  it("come back as one JSON array", async () => {
    const answer = await post("/rows", { n: 3 });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);
  });

  it("come back as one MessagePack array to a MessagePack client", async () => {
    const res = await fetch(`${door.url}/rows`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/msgpack" },
      body: JSON.stringify({ n: 20 }),
      signal: AbortSignal.timeout(10_000),
    });
    const answer = await read(res);
    expect(answer.body).toEqual(Array.from({ length: 20 }, (_, i) => ({ i })));
  });

  it("are folded by the route's collect", async () => {
    expect((await post("/rows/total", { n: 5 })).body).toEqual({ count: 5 });
  });

  it("come back as NDJSON lines to a client that accepts them", async () => {
    const answer = await post("/rows", { n: 4 }, { accept: "application/x-ndjson" });
    expect(answer.headers.get("content-type")).toBe("application/x-ndjson");
    expect(answer.body).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }, { i: 3 }]);
  });

  it("are bounded in bytes", async () => {
    const answer = await post("/rows", { n: 20_000 });
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({ error: { code: "TOO_LARGE", details: { limit: 65536 } } });
  });

  it("end an NDJSON answer past the bound with an error line", async () => {
    const answer = await post("/rows", { n: 20_000 }, { accept: "application/x-ndjson" });
    const lines = answer.body as unknown[];
    expect(lines.at(-1)).toMatchObject({ error: { code: "TOO_LARGE" } });
  });
});

describe("routes that make the request from the HTTP request", () => {
  const get = async (path: string, headers: Record<string, string> = {}) =>
    read(await fetch(`${door.url}${path}`, { headers, signal: AbortSignal.timeout(10_000) }));
  const postForm = async (path: string, form: string, type = "application/x-www-form-urlencoded") =>
    read(
      await fetch(`${door.url}${path}`, {
        method: "POST",
        headers: { "content-type": type },
        body: form,
        signal: AbortSignal.timeout(10_000),
      }),
    );

  it("give input the path's named segments and the query string", async () => {
    const answer = await get("/shop/north%20side/items/a-1?q=red&q=blue&limit=3");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      request: {
        method: "GET",
        params: { shop: "north side", sku: "a-1" },
        query: { q: "blue", limit: "3" },
        bodyBytes: 0,
      },
    });
  });

  it("give input a form body's parameters, repeated ones kept in order", async () => {
    const answer = await postForm("/shop/s/items/b-2", "match%5B%5D=up&match%5B%5D=down&x=1");
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      request: {
        method: "POST",
        params: { shop: "s", sku: "b-2" },
        form: [
          ["match[]", "up"],
          ["match[]", "down"],
          ["x", "1"],
        ],
        bodyBytes: 35,
      },
    });
  });

  it("give input no form for a body of another type", async () => {
    const answer = await postForm("/shop/s/items/b-2", '{"x":1}', "application/json");
    const request = (answer.body as { request: Record<string, unknown> }).request;
    expect(request).not.toHaveProperty("form");
    expect(request.bodyBytes).toBe(7);
  });

  it("take the deadline from the made request's timeoutMs", async () => {
    const answer = await get("/shop/s/stock?timeoutMs=250");
    expect((answer.body as { remainingMs: number }).remainingMs).toBeLessThanOrEqual(250);
  });

  it("prefer an exact path to a pattern that also matches it", async () => {
    const answer = await get("/shop/all/stock");
    // The exact route enters `quote`, whose schema wants a JSON body with a sku.
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: { code: "BAD_REQUEST" } });
    expect((await get("/shop/any/stock")).status).toBe(200);
  });

  it("match whole, non-empty segments only", async () => {
    expect((await get("/shop/s/items")).status).toBe(404);
    expect((await get("/shop//items/a")).status).toBe(404);
    expect((await get("/shop/s/items/a/more")).status).toBe(404);
  });

  it("refuse a segment that is not validly percent-encoded", async () => {
    const answer = await get("/shop/%E0%A4%A/items/a");
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: { code: "BAD_REQUEST", message: /percent/ } });
  });

  it("are answered in the route's envelope, as JSON whatever was accepted", async () => {
    const answer = await get("/enveloped/echo?a=1", { accept: "application/msgpack" });
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/json");
    expect(answer.body).toMatchObject({ ok: true, value: { request: { query: { a: "1" } } } });
  });

  it("answer the endpoint's errors in the route's envelope with its status, counted", async () => {
    const before = statsOf("fail").num_errors;
    const answer = await postForm("/enveloped/fail", "code=NOT_FOUND");
    expect(answer.status).toBe(599);
    expect(answer.body).toEqual({ ok: false, kind: "NOT_FOUND", why: "failed with NOT_FOUND" });
    expect(answer.headers.get(HEADERS.error)).toBe("NOT_FOUND");
    expect(statsOf("fail").num_errors).toBe(before + 1);
  });

  it("answer what input throws like any refusal: in the envelope, counted", async () => {
    const before = statsOf("fail").num_errors;
    const answer = await postForm("/enveloped/fail", "code=input");
    expect(answer.status).toBe(422);
    expect(answer.body).toEqual({ ok: false, kind: "BAD_REQUEST", why: "no such input" });
    expect(statsOf("fail").num_errors).toBe(before + 1);
  });

  it("answer a wrong method in the route's envelope", async () => {
    const answer = await get("/enveloped/fail");
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ ok: false, kind: "BAD_REQUEST", why: /POST/ });
  });

  it("shape a streamed answer after collect, or the items' array without one", async () => {
    expect((await postForm("/enveloped/rows", "n=300")).body).toEqual({ ok: true, value: 300 });
    const all = await postForm("/enveloped/rows/all", "n=3", "application/x-www-form-urlencoded");
    expect(all.body).toEqual({ ok: true, value: [{ i: 0 }, { i: 1 }, { i: 2 }] });
  });

  it("answer NDJSON lines never: the envelope is one body", async () => {
    const res = await fetch(`${door.url}/enveloped/rows`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: NDJSON_TYPE },
      body: "n=5",
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toEqual({ ok: true, value: 5 });
  });

  it("are refused at start when two share a method and a path shape", async () => {
    await expect(
      startHttpFrontDoor({
        services: host.hosted,
        port: 0,
        routes: [
          { method: "GET", path: "/a/:x", endpoint: "echo" },
          { method: "GET", path: "/a/:y", endpoint: "echo" },
        ],
      }),
    ).rejects.toThrow(/declared twice/);
  });
});

describe("health", () => {
  it("is 200 while healthy and 503 when degraded, with the service's details", async () => {
    const ok = await read(await fetch(`${door.url}/health`));
    expect(ok).toMatchObject({ status: 200, body: { status: "ok", sources: "up" } });
    healthy = false;
    const degraded = await read(await fetch(`${door.url}/health`));
    healthy = true;
    expect(degraded).toMatchObject({ status: 503, body: { status: "degraded", sources: "down" } });
  });
});

describe("a service's own front door", () => {
  it("opens with the service, on the port it reports, and closes with it", async () => {
    let reported: number | undefined;
    const own = await hostService(nats.url, "door-own", {
      endpoints: [endpoint({ name: "ping", subject: subject("own.ping"), handler: () => "pong" })],
      http: {
        port: 0,
        routes: [{ path: "/ping", endpoint: "ping" }],
        onListening: (opened) => {
          reported = opened.port;
        },
      },
    });
    const url = own.hosted.http?.url;
    expect(own.hosted.http?.port).toBe(reported);
    expect((await post2(`${url}/ping`)).body).toBe("pong");
    await own.stop();
    await expect(fetch(`${url}/ping`, { method: "POST" })).rejects.toThrow();
  });

  it("refuses a route to an endpoint the service does not have", async () => {
    await expect(
      startHttpFrontDoor({
        services: host.hosted,
        port: 0,
        routes: [{ path: "/x", endpoint: "missing" }],
      }),
    ).rejects.toThrow(/no endpoint "missing"/);
  });
});

async function post2(url: string): Promise<Answer> {
  return read(
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      signal: AbortSignal.timeout(10_000),
    }),
  );
}

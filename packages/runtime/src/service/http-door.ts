/**
 * The HTTP front door: routes (method and path) onto endpoints of hosted services, entering
 * through the same path as NATS requests (HostedService.dispatch): the same server span, deadline,
 * stats and error shape. Only what HTTP needs is added here: reading a bounded body, mapping
 * headers, and answering with a status; and, for routes of APIs with shapes of their own
 * (Prometheus'), making the request from the query string or a form and shaping the answer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type Codec,
  EntenteError,
  HEADERS,
  jsonCodec,
  msgpackCodec,
  statusOf,
  toEntenteError,
} from "@entente/protocol";
import type { MsgHdrs } from "@nats-io/nats-core";
import { encodeErrorBody } from "../stream/error-body.ts";
import { wireHeaders } from "../stream/wire-headers.ts";
import type { HostedEndpoint, HostedService } from "./host.ts";
import { declaredLength, readBody } from "./http-body.ts";
import { compilePath, matchPath, type PathPattern } from "./http-paths.ts";
import { type HttpOutput, HttpReplySink, NDJSON } from "./http-sink.ts";

export type { HttpOutput } from "./http-sink.ts";

/** What a route's `input` makes an endpoint's request from. */
export interface HttpRequestParts {
  method: string;
  /** The query string's parameters. */
  query: URLSearchParams;
  /** The body's parameters, when it is a form (`application/x-www-form-urlencoded`). */
  form?: URLSearchParams;
  body: Uint8Array;
  /** The values of the path's named segments. */
  params: Record<string, string>;
}

export interface HttpRoute {
  /** `POST` unless said otherwise. */
  method?: string;
  /**
   * Matched exactly, or per segment where a segment is a name (`/label/:name/values`); the
   * query string is ignored.
   */
  path: string;
  /** The endpoint it enters: by name, or by the subject it listens on. */
  endpoint: string;
  /** The hosting service, when the door serves several that could hold the endpoint. */
  service?: string;
  /** Folds a streamed answer's items into one body; without it, they are answered as an array. */
  collect?: (items: unknown[]) => unknown;
  /**
   * Makes the endpoint's request from the HTTP request (its query string, a form body, the
   * path's segments), for APIs whose requests are not a JSON or MessagePack body. It runs on
   * the request path, so what it throws is answered and counted like any refusal.
   */
  input?: (request: HttpRequestParts) => unknown;
  /** Shapes answers and errors for an API with its own envelope; such a route answers JSON. */
  output?: HttpOutput;
}

/** What `GET /health` answers: 200 with `{status: "ok", …details}`, else 503 `"degraded"`. */
export interface HealthReport {
  ok: boolean;
  details?: Record<string, unknown>;
}

export interface HttpFrontDoorOptions {
  services: HostedService | readonly HostedService[];
  routes: readonly HttpRoute[];
  /** 0 picks a free port; the door says which in `port`. */
  port: number;
  host?: string;
  /** By default the door is healthy while every service it serves takes work. */
  health?: () => HealthReport | Promise<HealthReport>;
  /** The most bytes one answer may have; 64 MiB by default. */
  maxResponseBytes?: number;
}

export interface HttpFrontDoor {
  readonly server: Server;
  readonly port: number;
  /** `http://host:port`. */
  readonly url: string;
  /** Stops taking connections and requests (new ones on open connections get 503). */
  stopAccepting(): void;
  /** Stops accepting and closes every connection. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

interface ResolvedRoute {
  route: HttpRoute;
  method: string;
  pattern: PathPattern;
  service: HostedService;
  endpoint: HostedEndpoint;
}

/** Routes of exact paths by path; routes with named segments by the shape of their path. */
interface RouteTable {
  exact: Map<string, ResolvedRoute[]>;
  patterns: Map<string, ResolvedRoute[]>;
}

/** The routes a path reaches, all declared for the same path or path shape. */
interface PathMatch {
  routes: ResolvedRoute[];
  params: Record<string, string>;
}

/** Starts an HTTP server whose routes enter the given services' endpoints. */
export async function startHttpFrontDoor(options: HttpFrontDoorOptions): Promise<HttpFrontDoor> {
  const services = Array.isArray(options.services)
    ? (options.services as readonly HostedService[])
    : [options.services as HostedService];
  const routes = resolveRoutes(services, options.routes);
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let accepting = true;
  const serve = (req: IncomingMessage, res: ServerResponse, asked: boolean) => {
    handle(req, res, asked).catch((err: unknown) => {
      // Only a socket that failed mid-read gets here; there is nobody left to answer.
      req.destroy(err instanceof Error ? err : undefined);
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, askedToContinue: boolean) => {
    const path = pathOf(req.url);
    const method = req.method ?? "GET";
    if (path === "/health" && (method === "GET" || method === "HEAD")) {
      if (askedToContinue) res.writeContinue();
      return answerHealth(res, accepting && services.every((s) => s.isAccepting), options.health);
    }
    let matched: PathMatch | undefined;
    try {
      matched = lookup(routes, path);
    } catch (err) {
      return refuse(res, toEntenteError(err), askedToContinue);
    }
    const candidates = matched?.routes;
    const found = candidates?.find((r) => r.method === method);
    if (found === undefined) {
      const error = candidates
        ? new EntenteError(
            "BAD_REQUEST",
            `use ${candidates.map((r) => r.method).join(" or ")} for ${path}`,
          )
        : new EntenteError("NOT_FOUND", `no such endpoint: ${method} ${path}`);
      return refuse(res, error, askedToContinue, candidates?.[0]?.route.output);
    }
    const { route } = found;
    if (!accepting || !found.service.isAccepting) {
      return refuse(
        res,
        new EntenteError("SHUTTING_DOWN", `${found.service.name} is shutting down`),
        askedToContinue,
        route.output,
      );
    }
    const { endpoint, service } = found;
    const limit = endpoint.maxRequestBytes;
    const declared = declaredLength(req);
    const refusedUnread = askedToContinue && declared > limit;
    // A client that asks before sending a body too large is refused before it sends it.
    if (askedToContinue && !refusedUnread) res.writeContinue();
    const body = refusedUnread
      ? { data: new Uint8Array(0), bytes: declared, whole: false }
      : await readBody(req, limit);
    const { input, output } = route;
    const query = queryOf(req.url);
    const codec = input
      ? inputCodec(() =>
          input({
            method,
            query: new URLSearchParams(query),
            ...(isForm(req) ? { form: new URLSearchParams(utf8(body.data)) } : {}),
            body: body.data,
            params: matched?.params ?? {},
          }),
        )
      : requestCodec(req);
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const sink = new HttpReplySink(res, {
      codec: output ? jsonCodec : answerCodec(req, input ? jsonCodec : codec),
      maxBytes: maxResponseBytes,
      ndjson: output === undefined && accepts(req, NDJSON),
      collect: route.collect,
      output,
      closeAfter: !body.whole,
    });
    await service.dispatch(
      endpoint,
      {
        subject: endpoint.definition.subject,
        data: body.data,
        // A request made from the query string is as large as the query string and the body.
        bytes: body.bytes + (input ? query.length : 0),
        headers: natsHeadersOf(req, codec),
        codec,
        transport: "http",
        gone: gone.signal,
      },
      sink,
    );
  };

  const server = createServer((req, res) => serve(req, res, false));
  server.on("checkContinue", (req, res) => serve(req, res, true));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  let closing: Promise<void> | undefined;
  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    server.close();
    server.closeIdleConnections();
  };
  return {
    server,
    port: address.port,
    url,
    stopAccepting,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        stopAccepting();
        if (!server.listening) {
          server.closeAllConnections();
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Routes by path, each resolved to its endpoint now, so a typo fails at start, not per request. */
function resolveRoutes(
  services: readonly HostedService[],
  routes: readonly HttpRoute[],
): RouteTable {
  const table: RouteTable = { exact: new Map(), patterns: new Map() };
  for (const route of routes) {
    const method = (route.method ?? "POST").toUpperCase();
    const hosts = route.service ? services.filter((s) => s.name === route.service) : services;
    const matches = hosts.flatMap((service) => {
      const endpoint = service.endpoint(route.endpoint);
      return endpoint ? [{ service, endpoint }] : [];
    });
    if (matches.length !== 1) {
      throw new Error(
        `HTTP route ${method} ${route.path}: ${matches.length === 0 ? "no" : "more than one"} endpoint ${JSON.stringify(route.endpoint)}${route.service ? ` in service ${route.service}` : ""}`,
      );
    }
    const pattern = compilePath(route.path);
    const byKey = pattern.hasParams ? table.patterns : table.exact;
    const key = pattern.hasParams ? pattern.shape : route.path;
    const list = byKey.get(key) ?? [];
    if (list.some((r) => r.method === method)) {
      throw new Error(`HTTP route ${method} ${route.path} is declared twice`);
    }
    list.push({
      route,
      method,
      pattern,
      ...(matches[0] as { service: HostedService; endpoint: HostedEndpoint }),
    });
    byKey.set(key, list);
  }
  if (table.exact.has("/health")) throw new Error("HTTP route /health is the door's own");
  return table;
}

/** An exact path first, then the first path shape that matches, with its segments' values. */
function lookup(table: RouteTable, path: string): PathMatch | undefined {
  const exact = table.exact.get(path);
  if (exact) return { routes: exact, params: {} };
  for (const routes of table.patterns.values()) {
    const params = matchPath((routes[0] as ResolvedRoute).pattern, path);
    if (params) return { routes, params };
  }
  return undefined;
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query < 0 ? raw : raw.slice(0, query);
}

function queryOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query < 0 ? "" : raw.slice(query + 1);
}

function isForm(req: IncomingMessage): boolean {
  return /^application\/x-www-form-urlencoded\b/i.test(req.headers["content-type"] ?? "");
}

function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/**
 * A route's `input` in the place of the body's codec: the request path "decodes" the body by
 * calling it, so the request is made (and may be refused) within the path's span and stats.
 */
function inputCodec(make: () => unknown): Codec {
  return { contentType: jsonCodec.contentType, encode: jsonCodec.encode, decode: make };
}

/** MessagePack when the body says so; JSON otherwise, what HTTP clients send by default. */
function requestCodec(req: IncomingMessage): Codec {
  return isMsgpack(req.headers["content-type"]) ? msgpackCodec : jsonCodec;
}

/** What the client accepts, else what it sent. */
function answerCodec(req: IncomingMessage, sent: Codec): Codec {
  const accept = req.headers.accept;
  if (accept === undefined) return sent;
  if (isMsgpack(accept)) return msgpackCodec;
  return /json|\*\/\*/i.test(accept) ? jsonCodec : sent;
}

function isMsgpack(type: string | undefined): boolean {
  return type !== undefined && /msgpack/i.test(type);
}

function accepts(req: IncomingMessage, type: string): boolean {
  return req.headers.accept?.toLowerCase().includes(type) === true;
}

/** Passed on to the request path as NATS would carry them. */
const CARRIED = new Set(["traceparent", "tracestate", "baggage", "nats-msg-id"]);
/** An HTTP client's spelling of the time budget, for tools that cannot send `entente-` names. */
const TIMEOUT_ALIAS = "x-timeout-ms";

/**
 * The headers the request path reads, from HTTP: the time budget, trace context, content type,
 * source region and other `entente-` headers. Nothing else (cookies, authorization) is carried.
 */
function natsHeadersOf(req: IncomingMessage, codec: Codec): MsgHdrs {
  const h = wireHeaders();
  h.set(HEADERS.contentType, codec.contentType);
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value !== "string" || /[\r\n]/.test(value)) continue;
    if (name === HEADERS.contentType) continue;
    if (CARRIED.has(name) || name.startsWith("entente-")) h.set(name, value);
  }
  const alias = req.headers[TIMEOUT_ALIAS];
  if (typeof alias === "string" && !h.has(HEADERS.timeoutMs)) h.set(HEADERS.timeoutMs, alias);
  return h;
}

async function answerHealth(
  res: ServerResponse,
  accepting: boolean,
  health: HttpFrontDoorOptions["health"],
): Promise<void> {
  let report: HealthReport;
  try {
    report = health ? await health() : { ok: true };
  } catch (err) {
    report = { ok: false, details: { error: toEntenteError(err).message } };
  }
  const ok = accepting && report.ok;
  const status = !accepting ? "stopping" : ok ? "ok" : "degraded";
  send(res, ok ? 200 : 503, jsonCodec.encode({ status, ...report.details }), {});
}

/** Answers a request that reached no endpoint (nothing to count it on), in the route's shape. */
function refuse(
  res: ServerResponse,
  error: EntenteError,
  askedToContinue: boolean,
  output?: HttpOutput,
): void {
  // A body left unread would be taken for the next request: the connection is not reused.
  const close =
    askedToContinue || declaredLength(res.req) > 0 || res.req.headers["transfer-encoding"];
  const shaped = output?.error(error);
  const status = shaped ? shaped.status : statusOf(error.code);
  const body = shaped ? jsonCodec.encode(shaped.body) : encodeErrorBody(error, jsonCodec);
  send(res, status, body, {
    [HEADERS.error]: error.code,
    ...(close ? { connection: "close" } : {}),
  });
}

function send(
  res: ServerResponse,
  status: number,
  body: Uint8Array,
  headers: Record<string, string>,
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": jsonCodec.contentType,
    "content-length": body.length,
    ...headers,
  });
  res.end(body);
}

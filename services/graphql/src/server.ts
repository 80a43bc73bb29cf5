/**
 * The GraphQL HTTP server: graphql-yoga behind a node:http server that bounds the request body,
 * turns the `entente-timeout-ms` header (else `runtime.maxTimeoutMs`) into the request's
 * deadline, opens a span per request (a child of the caller's `traceparent`) that the NATS calls
 * of its fields hang under, and aborts those calls when the client goes away or the worker stops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EntenteError, HEADERS, toEntenteError } from "@entente/protocol";
import { Deadline, type Logger } from "@entente/runtime";
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type {
  ASTVisitor,
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationContext,
} from "graphql";
import type { CallScope, EntenteCalls } from "./calls.ts";
import type { GraphqlSettings } from "./config.ts";
import { createResolvers, type GraphqlContext } from "./resolvers.ts";
import { TYPE_DEFS } from "./sdl.ts";
import {
  type YogaCors,
  type YogaCorsOptions,
  type YogaPlugin,
  type YogaServer,
  yoga as yogaModule,
} from "./yoga.ts";

const tracer = trace.getTracer("entente-graphql");

/** Refuses documents nested deeper than `maxDepth` (fragments counted where they are spread). */
export function depthLimit(maxDepth: number) {
  return (context: ValidationContext): ASTVisitor => {
    const fragmentDepth = new Map<string, number>();
    const depthOf = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0;
      let deepest = 0;
      for (const selection of set.selections) {
        let depth = 0;
        if (selection.kind === "Field") {
          depth = selection.selectionSet ? 1 + depthOf(selection.selectionSet, seen) : 1;
        } else if (selection.kind === "InlineFragment") {
          depth = depthOf(selection.selectionSet, seen);
        } else {
          const name = selection.name.value;
          const known = fragmentDepth.get(name);
          if (known !== undefined) depth = known;
          else if (!seen.has(name)) {
            const fragment: FragmentDefinitionNode | null | undefined = context.getFragment(name);
            depth = depthOf(fragment?.selectionSet, new Set([...seen, name]));
            fragmentDepth.set(name, depth);
          }
        }
        if (depth > deepest) deepest = depth;
      }
      return deepest;
    };
    return {
      OperationDefinition(node: OperationDefinitionNode) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            yogaModule.createGraphQLError(
              `the operation nests ${depth} levels deep; at most ${maxDepth} are taken (graphql.maxDepth)`,
              { nodes: [node], extensions: { code: "BAD_REQUEST" } },
            ),
          );
        }
      },
    };
  };
}

/** Query fields that each run a statement or a scan; every mutation field costs as much. */
export const COSTLY_QUERY_FIELDS: ReadonlySet<string> = new Set([
  "query",
  "tableStats",
  "recommendedSource",
]);

const DEFAULT_MAX_FIELDS = 500;
const DEFAULT_MAX_COSTLY_FIELDS = 10;

/**
 * What a document selects, counted without the schema and in one pass: `fields`, the fields
 * written in it (its fragments' included, each once: spreads of one fragment merge, and the
 * validation compares a fragment's fields once), and `costly`, the root fields of its
 * operations that run something — {@link COSTLY_QUERY_FIELDS} of a query, every field of a
 * mutation — counted by response name, as they run: each alias runs its field again, while
 * fields of one response name (spread from several fragments, say) merge and run once.
 */
export function documentCost(document: DocumentNode): { fields: number; costly: number } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let fields = 0;
  const countFields = (set: SelectionSetNode): void => {
    for (const selection of set.selections) {
      if (selection.kind === "Field") {
        fields++;
        if (selection.selectionSet) countFields(selection.selectionSet);
      } else if (selection.kind === "InlineFragment") countFields(selection.selectionSet);
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind === "FragmentDefinition") {
      fragments.set(definition.name.value, definition);
      countFields(definition.selectionSet);
    } else if (definition.kind === "OperationDefinition") countFields(definition.selectionSet);
  }
  /** The root fields an operation runs, by response name (fragments spread where they are). */
  const rootFields = (
    set: SelectionSetNode,
    into: Map<string, FieldNode>,
    spread: Set<string>,
  ): Map<string, FieldNode> => {
    for (const selection of set.selections) {
      if (selection.kind === "Field") {
        into.set(selection.alias?.value ?? selection.name.value, selection);
      } else if (selection.kind === "InlineFragment") {
        rootFields(selection.selectionSet, into, spread);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || spread.has(name)) continue;
        spread.add(name);
        rootFields(fragment.selectionSet, into, spread);
      }
    }
    return into;
  };
  let costly = 0;
  for (const definition of document.definitions) {
    if (definition.kind !== "OperationDefinition") continue;
    for (const field of rootFields(definition.selectionSet, new Map(), new Set()).values()) {
      const name = field.name.value;
      if (
        definition.operation === "query" ? COSTLY_QUERY_FIELDS.has(name) : name !== "__typename"
      ) {
        costly++;
      }
    }
  }
  return { fields, costly };
}

/**
 * Bounds what a document may cost before it runs: its tokens, its fields and its costly fields
 * while it is parsed (before the validation, whose overlapping-fields rule takes time in the
 * square of the fields), and its depth in the validation.
 */
function limitsPlugin(
  settings: Pick<GraphqlSettings, "maxTokens" | "maxDepth"> &
    Partial<Pick<GraphqlSettings, "maxFields" | "maxCostlyFields">>,
): YogaPlugin {
  const rule = depthLimit(settings.maxDepth);
  const maxFields = settings.maxFields ?? DEFAULT_MAX_FIELDS;
  const maxCostly = settings.maxCostlyFields ?? DEFAULT_MAX_COSTLY_FIELDS;
  const refused = (message: string) =>
    yogaModule.createGraphQLError(message, { extensions: { code: "BAD_REQUEST" } });
  return {
    onParse({ parseFn, setParseFn }) {
      // yoga's own parse, so its errors are the graphql errors yoga recognises.
      setParseFn((source, options) => {
        const document = parseFn(source, { ...options, maxTokens: settings.maxTokens });
        const { fields, costly } = documentCost(document);
        if (fields > maxFields) {
          throw refused(
            `the document selects ${fields} fields; at most ${maxFields} are taken (graphql.maxFields)`,
          );
        }
        if (costly > maxCostly) {
          throw refused(
            `the document selects ${costly} costly fields (query, tableStats, recommendedSource and mutations, aliases included); at most ${maxCostly} are taken (graphql.maxCostlyFields): send them in several requests`,
          );
        }
        return document;
      });
    },
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
  };
}

/**
 * Cross-origin reads: none unless `graphql.corsOrigins` lists the origin (no credentials: the
 * API takes none). Without CORS headers a browser keeps the answer from the page that asked.
 */
export function corsOf(origins: readonly string[] | undefined): YogaCors {
  if (!origins || origins.length === 0) return false;
  const allowed = new Set(origins);
  return (request: Request): YogaCorsOptions | false => {
    const origin = request.headers.get("origin");
    if (origin === null || !allowed.has(origin)) return false;
    return {
      origin: [origin],
      methods: ["GET", "POST"],
      allowedHeaders: ["content-type", "accept", HEADERS.timeoutMs, "traceparent", "tracestate"],
      credentials: false,
      maxAge: 600,
    };
  };
}

function yogaLogger(logger: Logger) {
  const text = (args: unknown[]) =>
    args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
  return {
    debug: (...args: unknown[]) => logger.debug(text(args)),
    info: (...args: unknown[]) => logger.info(text(args)),
    warn: (...args: unknown[]) => logger.warn(text(args)),
    error: (...args: unknown[]) =>
      logger.error({ err: args.find((a) => a instanceof Error) }, text(args)),
  };
}

export function createGraphqlYoga(options: {
  calls: EntenteCalls;
  settings: GraphqlSettings;
  logger: Logger;
  now?: () => number;
}) {
  const { resolvers, kept } = createResolvers({
    calls: options.calls,
    settings: options.settings,
    ...(options.now ? { now: options.now } : {}),
    onInternal: (error) =>
      options.logger.error({ err: error, details: error.details }, "graphql: internal error"),
  });
  const schema = yogaModule.createSchema({ typeDefs: TYPE_DEFS, resolvers });
  const yoga = yogaModule.createYoga<GraphqlContext>({
    schema,
    cors: corsOf(options.settings.corsOrigins),
    graphqlEndpoint: options.settings.path,
    healthCheckEndpoint: "/health",
    landingPage: false,
    batching: false,
    logging: yogaLogger(options.logger),
    plugins: [limitsPlugin(options.settings)],
  });
  return { yoga, schema, kept };
}

export interface GraphqlServer {
  readonly server: Server;
  readonly port: number;
  /** `http://host:port<path>`. */
  readonly url: string;
  readonly operations: number;
  readonly inFlight: number;
  /** Stops taking requests, lets those in flight finish within `graceMs`, then aborts them. */
  close(graceMs?: number): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function refuse(res: ServerResponse, error: EntenteError, close = false, status?: number): void {
  if (close) res.setHeader("connection", "close");
  json(res, status ?? error.status, {
    errors: [{ message: error.message, extensions: { code: error.code } }],
  });
}

/**
 * The media types a POST body is taken in. Browsers send others (form fields, multipart, plain
 * text) to any site without asking it first, so taking them would let any page a user opens
 * run mutations here; a JSON body from another origin needs a preflight, which is refused
 * unless `graphql.corsOrigins` lists that origin.
 */
const POST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  "application/json",
  "application/graphql+json",
  "application/graphql-response+json",
]);

/** A Content-Type's media type, lower-cased, without parameters. */
export function mediaTypeOf(header: string | undefined): string {
  return (header ?? "").split(",")[0]?.split(";")[0]?.trim().toLowerCase() ?? "";
}

/** A Host header or a configured host name, lower-cased, an IPv6 address in brackets. */
export function hostKey(host: string): string {
  const text = host.trim().toLowerCase();
  return text.indexOf(":") !== text.lastIndexOf(":") && !text.startsWith("[") ? `[${text}]` : text;
}

const hasPort = (key: string) => /:\d+$/.test(key) && !key.endsWith("]");

/**
 * The Host headers a request may carry: the configured host, localhost, 127.0.0.1 and [::1] on
 * the listening port, and `graphql.allowedHosts` (one without a port on the listening port or
 * on its scheme's default, as behind a proxy). A page on another site whose name was made to
 * resolve to this machine (DNS rebinding) sends its own name, and is refused.
 */
export function allowedHostsOf(
  settings: Pick<GraphqlSettings, "host"> & Partial<Pick<GraphqlSettings, "allowedHosts">>,
  port: number,
): Set<string> {
  const allowed = new Set<string>();
  for (const name of [settings.host, "localhost", "127.0.0.1", "::1"]) {
    const key = hostKey(name);
    allowed.add(`${key}:${port}`);
    if (port === 80) allowed.add(key);
  }
  for (const name of settings.allowedHosts ?? []) {
    const key = hostKey(name);
    allowed.add(key);
    if (!hasPort(key)) allowed.add(`${key}:${port}`);
  }
  return allowed;
}

/** The body, or undefined once it passed `limit` bytes (the request is then refused). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function startGraphqlServer(options: {
  yoga: YogaServer<GraphqlContext>;
  settings: GraphqlSettings;
  port: number;
  maxTimeoutMs: number;
  logger: Logger;
}): Promise<GraphqlServer> {
  const { yoga, settings, logger } = options;
  const inFlight = new Set<AbortController>();
  let operations = 0;
  let accepting = true;
  // Set once the server listens (the port may be picked then).
  let allowedHosts = new Set<string>();
  const corsOrigins = new Set(settings.corsOrigins ?? []);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    // The health check answers whatever name it is asked by (probes send an address).
    if (url.pathname !== "/health") {
      const host = req.headers.host;
      if (host === undefined || !allowedHosts.has(hostKey(host))) {
        return refuse(
          res,
          new EntenteError(
            "BAD_REQUEST",
            `this server does not answer for host ${JSON.stringify(host ?? "")}; add it to graphql.allowedHosts to take it`,
          ),
          true,
          421,
        );
      }
    }
    if (url.pathname !== settings.path && url.pathname !== "/health") {
      return refuse(
        res,
        new EntenteError(
          "NOT_FOUND",
          `no such path: ${url.pathname}; GraphQL is at ${settings.path}`,
        ),
      );
    }
    if (!accepting) {
      return refuse(res, new EntenteError("SHUTTING_DOWN", "graphql is shutting down"), true);
    }
    // A browser says when a page of another site sent the request (an image's GET, say): only
    // the origins of graphql.corsOrigins may.
    const site = req.headers["sec-fetch-site"];
    if (site === "cross-site" || site === "same-site") {
      const origin = req.headers.origin;
      if (origin === undefined || !corsOrigins.has(origin)) {
        return refuse(
          res,
          new EntenteError(
            "BAD_REQUEST",
            `requests from pages of other sites (origin ${JSON.stringify(origin ?? "unknown")}) are refused; list the origin in graphql.corsOrigins to take them`,
          ),
          true,
          403,
        );
      }
    }
    const method = req.method ?? "GET";
    if (method === "POST" && !POST_MEDIA_TYPES.has(mediaTypeOf(req.headers["content-type"]))) {
      return refuse(
        res,
        new EntenteError(
          "BAD_REQUEST",
          `a POST body must be JSON (content-type: application/json), got ${JSON.stringify(req.headers["content-type"] ?? "none")}`,
        ),
        true,
        415,
      );
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > settings.maxBodyBytes) {
      return refuse(
        res,
        new EntenteError(
          "TOO_LARGE",
          `the body has ${declared} bytes; at most ${settings.maxBodyBytes} are taken (graphql.maxBodyBytes)`,
        ),
        true,
      );
    }
    let deadline: Deadline;
    try {
      const header = req.headers[HEADERS.timeoutMs];
      // The whole request's deadline; each field's call has its own budget within it.
      deadline = Deadline.fromHeader(Array.isArray(header) ? header[0] : header, {
        defaultMs: options.maxTimeoutMs,
        maxMs: options.maxTimeoutMs,
      });
    } catch (err) {
      return refuse(res, toEntenteError(err));
    }
    let body: Buffer | undefined;
    if (req.method !== "GET" && req.method !== "HEAD") {
      body = await readBody(req, settings.maxBodyBytes);
      if (body === undefined) {
        return refuse(
          res,
          new EntenteError(
            "TOO_LARGE",
            `the body has more than ${settings.maxBodyBytes} bytes (graphql.maxBodyBytes)`,
          ),
          true,
        );
      }
    }
    const abort = new AbortController();
    inFlight.add(abort);
    res.on("close", () => {
      if (!res.writableFinished) abort.abort(new EntenteError("CANCELLED", "the client went away"));
    });
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      `graphql ${req.method ?? "GET"} ${settings.path}`,
      {
        kind: SpanKind.SERVER,
        attributes: { "http.request.method": req.method ?? "GET", "url.path": url.pathname },
      },
      parent,
    );
    const traceContext = trace.setSpan(parent, span);
    const linked = deadline.signal(abort.signal, "graphql");
    const scope: CallScope = { deadline, signal: linked.signal, trace: traceContext };
    operations++;
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
      }
      // The one JSON type yoga reads, whatever spelling of it the client sent.
      if (method === "POST") headers.set("content-type", "application/json");
      const response = await otelContext.with(traceContext, () =>
        yoga.fetch(
          new Request(url.href, {
            method: req.method ?? "GET",
            headers,
            ...(body === undefined ? {} : { body: new Uint8Array(body) }),
          }),
          { scope },
        ),
      );
      const answer = Buffer.from(await response.arrayBuffer());
      const out: Record<string, string> = {};
      // yoga's Response may keep a header's spelling (`Content-Length`): one name, one header.
      response.headers.forEach((value, name) => {
        const key = name.toLowerCase();
        if (key !== "content-length") out[key] = value;
      });
      // Which origin may read an answer depends on the request's Origin.
      if ((settings.corsOrigins?.length ?? 0) > 0 && !/\borigin\b/i.test(out.vary ?? "")) {
        out.vary = out.vary ? `${out.vary}, Origin` : "Origin";
      }
      // Neither 204 nor 304 has a body, nor a length.
      if (response.status !== 204 && response.status !== 304) {
        out["content-length"] = String(answer.length);
      }
      res.writeHead(response.status, out);
      res.end(req.method === "HEAD" ? undefined : answer);
      span.setAttribute("http.response.status_code", response.status);
      if (response.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    } catch (err) {
      const error = toEntenteError(err);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      logger.error({ err }, "graphql request failed");
      if (!res.headersSent) refuse(res, error);
      else res.destroy();
    } finally {
      span.end();
      linked.release();
      inFlight.delete(abort);
    }
  };

  const running = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const work = handle(req, res).catch((err: unknown) => {
      logger.error({ err }, "graphql request path failed");
      req.destroy(err instanceof Error ? err : undefined);
    });
    running.add(work);
    void work.finally(() => running.delete(work));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, settings.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  allowedHosts = allowedHostsOf(settings, address.port);
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: address.port,
    url: `http://${host}:${address.port}${settings.path}`,
    get operations() {
      return operations;
    },
    get inFlight() {
      return inFlight.size;
    },
    close(graceMs = 5_000) {
      closing ??= (async () => {
        accepting = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...running]),
          new Promise((resolve) => {
            timer = setTimeout(resolve, graceMs);
          }),
        ]);
        clearTimeout(timer);
        const reason = new EntenteError("SHUTTING_DOWN", "graphql is shutting down");
        for (const abort of inFlight) abort.abort(reason);
        await Promise.allSettled([...running]);
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}

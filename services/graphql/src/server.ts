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
  FragmentDefinitionNode,
  OperationDefinitionNode,
  SelectionSetNode,
  ValidationContext,
} from "graphql";
import type { CallScope, EntenteCalls } from "./calls.ts";
import type { GraphqlSettings } from "./config.ts";
import { createResolvers, type GraphqlContext } from "./resolvers.ts";
import { TYPE_DEFS } from "./sdl.ts";
import { type YogaPlugin, type YogaServer, yoga as yogaModule } from "./yoga.ts";

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

/** Bounds what a document may cost before it runs: its tokens and its depth. */
function limitsPlugin(settings: Pick<GraphqlSettings, "maxTokens" | "maxDepth">): YogaPlugin {
  const rule = depthLimit(settings.maxDepth);
  return {
    onParse({ parseFn, setParseFn }) {
      // yoga's own parse, so its errors are the graphql errors yoga recognises.
      setParseFn((source, options) =>
        parseFn(source, { ...options, maxTokens: settings.maxTokens }),
      );
    },
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
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
  });
  const schema = yogaModule.createSchema({ typeDefs: TYPE_DEFS, resolvers });
  const yoga = yogaModule.createYoga<GraphqlContext>({
    schema,
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

function refuse(res: ServerResponse, error: EntenteError, close = false): void {
  if (close) res.setHeader("connection", "close");
  json(res, error.status, {
    errors: [{ message: error.message, extensions: { code: error.code } }],
  });
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

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://localhost");
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
      response.headers.forEach((value, name) => {
        out[name] = value;
      });
      out["content-length"] = String(answer.length);
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

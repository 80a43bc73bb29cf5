/** HTTP: `POST /federated/query` (JSON in, JSON out) and `GET /health`. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EntenteError, statusOf, toEntenteError, toJson } from "@entente/protocol";
import { wirePoint } from "./answer.ts";
import type { Federator } from "./federator.ts";
import { normalizeQuery, type QueryLimits } from "./query.ts";

/** The largest request body read; a larger one is answered 413 `TOO_LARGE`. */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * How much of a refused body is still read, and for how long, before answering. A connection
 * closed while the client is still sending is reset, and the client sees the reset instead of
 * the 413; reading the rest first lets the answer arrive, within these bounds.
 */
const DISCARD_MAX_BYTES = 8 * 1024 * 1024;
const DISCARD_MAX_MS = 5_000;

export interface HttpGateway {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startHttp(
  federator: Federator,
  limits: QueryLimits,
  options: { port: number; host: string },
): Promise<HttpGateway> {
  const server = createServer((req, res) => {
    void handle(federator, limits, req, res);
  });
  // A client that asks before sending (`Expect: 100-continue`) is refused before it sends.
  server.on("checkContinue", (req, res) => {
    if (declaredLength(req) > MAX_BODY_BYTES) return refuse(res, bodyTooLarge());
    res.writeContinue();
    void handle(federator, limits, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  federator: Federator,
  limits: QueryLimits,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/health") {
      const circuits = Object.fromEntries(
        [...federator.instances.keys()].map((name) => [name, federator.circuitOf(name)]),
      );
      const healthy = Object.values(circuits).some((c) => c !== "open");
      return send(res, healthy ? 200 : 503, {
        status: healthy ? "ok" : "degraded",
        instances: circuits,
      });
    }
    if (url.pathname !== "/federated/query") {
      throw new EntenteError("NOT_FOUND", `no such endpoint: ${req.method} ${url.pathname}`);
    }
    if (req.method !== "POST") {
      throw new EntenteError("BAD_REQUEST", "use POST with a JSON query body");
    }
    const body = await readBody(req);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      throw new EntenteError("MALFORMED", `body is not valid JSON: ${(err as Error).message}`);
    }
    const query = normalizeQuery(parsed, limits);
    const controller = new AbortController();
    // The request stream is already closed once its body is read: the response's close is
    // what tells that the client went away before its answer.
    res.on("close", () => {
      if (!res.writableFinished)
        controller.abort(new EntenteError("CANCELLED", "client went away"));
    });
    const answer = await federator.query(query, { signal: controller.signal });
    send(res, 200, {
      points: answer.points.map(wirePoint),
      ...(answer.partial ? { partial: answer.partial } : {}),
    });
  } catch (err) {
    refuse(res, toEntenteError(err));
  }
}

function refuse(res: ServerResponse, error: EntenteError): void {
  // What is left of a refused body is not read: the connection is not reused.
  const close: Record<string, string> = error.code === "TOO_LARGE" ? { connection: "close" } : {};
  send(res, statusOf(error.code), { error: error.toBody() }, close);
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = toJson(body);
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(text);
}

/**
 * The body, up to MAX_BODY_BYTES. Past that it is refused with TOO_LARGE — once the rest has been
 * read and dropped (within DISCARD_MAX_BYTES and DISCARD_MAX_MS), so the refusal is not lost to
 * a reset connection; a body declared longer than those bounds is refused at once.
 */
function readBody(req: IncomingMessage): Promise<string> {
  if (declaredLength(req) > MAX_BODY_BYTES + DISCARD_MAX_BYTES) {
    return Promise.reject(bodyTooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let discarding: NodeJS.Timeout | undefined;
    const refuse = () => {
      clearTimeout(discarding);
      reject(bodyTooLarge());
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (discarding === undefined) {
        chunks.length = 0;
        discarding = setTimeout(refuse, DISCARD_MAX_MS);
      } else if (size > MAX_BODY_BYTES + DISCARD_MAX_BYTES) refuse();
    });
    req.on("end", () => {
      if (discarding === undefined) resolve(Buffer.concat(chunks).toString("utf8"));
      else refuse();
    });
    req.on("error", (err) => {
      clearTimeout(discarding);
      reject(err);
    });
  });
}

/** The body's length as its `content-length` header declares it; 0 when it declares none. */
function declaredLength(req: IncomingMessage): number {
  const length = Number(req.headers["content-length"]);
  return Number.isFinite(length) ? length : 0;
}

function bodyTooLarge(): EntenteError {
  return new EntenteError("TOO_LARGE", `request body exceeds ${MAX_BODY_BYTES} bytes`, {
    details: { limit: MAX_BODY_BYTES },
  });
}

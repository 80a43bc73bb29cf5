/** HTTP: `POST /federated/query` (JSON in, JSON out) and `GET /health`. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EntenteError, statusOf, toEntenteError, toJson } from "@entente/protocol";
import { wirePoint } from "./answer.ts";
import type { Federator } from "./federator.ts";
import { normalizeQuery, type QueryLimits } from "./query.ts";

const MAX_BODY = 1024 * 1024;

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
    const error = toEntenteError(err);
    send(res, statusOf(error.code), { error: error.toBody() });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = toJson(body);
  res.writeHead(status, { "content-type": "application/json" });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new EntenteError("TOO_LARGE", `request body exceeds ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

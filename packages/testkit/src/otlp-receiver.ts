import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate } from "node:zlib";
import { decodeTraceRequestProto } from "./otlp-proto.ts";
import { type ReceivedSpan, spansFromRequest } from "./otlp-spans.ts";

export interface WaitForSpansOptions {
  /** How many matching spans to wait for; default 1. */
  count?: number;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** An OTLP/HTTP endpoint that keeps the spans it receives, for asserting on traces. */
export interface OtlpReceiver extends AsyncDisposable {
  /** Base URL, e.g. http://127.0.0.1:4318, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  /** `${url}/v1/traces`, for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or an exporter's `url`. */
  readonly tracesUrl: string;
  /** Every span received so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Resolves with all spans matching `match` once at least `count` have arrived. */
  waitForSpans(
    match?: (span: ReceivedSpan) => boolean,
    options?: WaitForSpansOptions,
  ): Promise<ReceivedSpan[]>;
  /** Why requests were refused (bad body, unknown content type), for debugging exporters. */
  rejections(): string[];
  /** Forgets received spans and rejections. */
  clear(): void;
  close(): Promise<void>;
}

export interface OtlpReceiverOptions {
  /** Default 0: a free port. */
  port?: number;
}

type Format = "protobuf" | "json";

const SIGNALS = new Map([
  ["/v1/traces", "traces"],
  ["/v1/metrics", "metrics"],
  ["/v1/logs", "logs"],
]);

const decompressors: Record<string, (body: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  "x-gzip": promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/**
 * Starts an OTLP/HTTP receiver on the loopback interface. It accepts trace exports in protobuf
 * and JSON (optionally compressed) and answers like a collector; metric and log exports are
 * accepted and dropped, so an SDK exporting all signals to it does not log errors.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  let received: ReceivedSpan[] = [];
  let rejected: string[] = [];
  const waiters = new Set<() => void>();

  const reject = (res: ServerResponse, status: number, reason: string) => {
    rejected.push(reason);
    res.writeHead(status, { "content-type": "text/plain" }).end(reason);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const signal = SIGNALS.get(path);
    if (signal === undefined) return reject(res, 404, `${req.method} ${path}: not an OTLP path`);
    if (req.method !== "POST") return reject(res, 405, `${req.method} ${path}: only POST`);
    const format = formatOf(req.headers["content-type"]);
    if (format === undefined) {
      return reject(res, 415, `${path}: unsupported content-type ${req.headers["content-type"]}`);
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      return reject(res, 400, `${path}: could not read body: ${String(error)}`);
    }
    if (signal === "traces") {
      try {
        const request =
          format === "json" ? JSON.parse(body.toString("utf8")) : decodeTraceRequestProto(body);
        received.push(...spansFromRequest(request, format));
      } catch (error) {
        return reject(res, 400, `${path}: could not decode ${format} body: ${String(error)}`);
      }
      for (const wake of waiters) wake();
    }
    // An empty Export*ServiceResponse: zero bytes in protobuf, {} in JSON.
    if (format === "json") res.writeHead(200, { "content-type": "application/json" }).end("{}");
    else res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reject(res, 500, String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, rejectListen) => {
    server.once("error", rejectListen);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Exporters keep connections alive; without this, close waits for them to time out.
      server.closeAllConnections();
    });
    return closed;
  };

  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    spans: () => [...received],
    rejections: () => [...rejected],
    clear() {
      received = [];
      rejected = [];
    },
    waitForSpans(match = () => true, { count = 1, timeoutMs = 10_000 } = {}) {
      return new Promise((resolve, rejectWait) => {
        const check = () => {
          const matching = received.filter(match);
          if (matching.length < count) return false;
          done();
          resolve(matching);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          const names = received.map((span) => span.name).join(", ") || "none";
          const refused = rejected.length > 0 ? `; refused requests: ${rejected.join(" | ")}` : "";
          rejectWait(
            new Error(
              `expected ${count} matching span(s) within ${timeoutMs} ms, ` +
                `got ${received.filter(match).length}; spans received: ${names}${refused}`,
            ),
          );
        }, timeoutMs);
        const wake = () => void check();
        const done = () => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        if (!check()) waiters.add(wake);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function formatOf(contentType: string | undefined): Format | undefined {
  const type = contentType?.split(";")[0]?.trim().toLowerCase();
  if (type === "application/x-protobuf" || type === "application/protobuf") return "protobuf";
  if (type === "application/json") return "json";
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: Buffer = Buffer.concat(chunks);
  const encodings = (req.headers["content-encoding"] ?? "")
    .split(",")
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== "" && e !== "identity");
  // Encodings are listed in the order they were applied, so they are undone in reverse.
  for (const encoding of encodings.reverse()) {
    const decompress = decompressors[encoding];
    if (decompress === undefined) throw new Error(`unsupported content-encoding ${encoding}`);
    body = await decompress(body);
  }
  return body;
}

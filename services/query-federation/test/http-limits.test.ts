/**
 * The HTTP gateway given bodies over its 1 MiB limit (`runtime.maxRequestBytes`, as for a NATS
 * request): each is answered 413 with the documented error body — not a reset connection — and
 * other clients are served meanwhile.
 */
import { request } from "node:http";
import type { Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientOf, startFederationWorker } from "./support.ts";

const GOOD_QUERY = JSON.stringify({
  metric: "cpu_usage",
  start: "-1h",
  aggregation: { function: "max", window: "10m" },
});
/** `runtime.maxRequestBytes` by default: the limit of every front door. */
const MAX_BODY_BYTES = 1024 * 1024;
/** How long any answer may take. */
const DEADLINE_MS = 10_000;

let nats: NatsServer;
let worker: Worker;
let nc: NatsConnection;
let base: string;
let port: number;

beforeAll(async () => {
  nats = await startNatsServer();
  worker = await startFederationWorker(nats.url, "queryFederation: { http: { port: 0 } }");
  const { nc: connection, client } = await clientOf(nats.url, "json");
  nc = connection;
  ({ httpPort: port } = (await client.request("entente.query.stats", {})) as { httpPort: number });
  base = `http://127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await worker?.stop();
  await nats?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string; retryable: boolean }; points?: unknown[] };
}

/** A good query from another client. */
async function goodQuery(): Promise<Answer> {
  const res = await fetch(`${base}/federated/query`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: GOOD_QUERY,
    signal: AbortSignal.timeout(DEADLINE_MS),
  });
  return { status: res.status, headers: {}, body: (await res.json()) as Answer["body"] };
}

/**
 * POSTs a body in parts, calling `between` after the first; resolves with the answer, or
 * rejects with the socket's error (a reset) or at the deadline.
 */
function post(
  parts: Buffer[],
  headers: Record<string, string | number> = {},
  between: () => Promise<void> = async () => {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/federated/query",
      headers: { "content-type": "application/json", ...headers },
      timeout: DEADLINE_MS,
    });
    req.on("timeout", () => req.destroy(new Error("no answer before the deadline")));
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
        }),
      );
    });
    const [first, ...rest] = parts;
    req.write(first as Buffer, () => {
      between().then(() => {
        for (const part of rest) req.write(part);
        req.end();
      }, reject);
    });
  });
}

function expectTooLarge(answer: Answer): void {
  expect(answer.status).toBe(413);
  expect(answer.body.error).toEqual({
    code: "TOO_LARGE",
    message: expect.stringMatching(
      new RegExp(
        `^request of \\d+ bytes exceeds the limit of ${MAX_BODY_BYTES} bytes for entente\\.query$`,
      ),
    ),
    retryable: false,
    details: { bytes: expect.any(Number), limit: MAX_BODY_BYTES },
  });
}

describe("HTTP bodies over the limit", () => {
  it("answers one byte over 1 MiB with 413, serving another client meanwhile", async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, "x");
    const [refused, served] = await Promise.all([post([body]), goodQuery()]);
    expectTooLarge(refused);
    expect(refused.headers.connection).toBe("close");
    expect(served.status).toBe(200);
    expect(served.body.points?.length).toBeGreaterThan(0);
  });

  it("answers a chunked body that grows past the limit with 413 once it ends", async () => {
    const half = Buffer.alloc(MAX_BODY_BYTES / 2 + 1, "x");
    // The upload stalls halfway; the gateway serves another client meanwhile.
    let served: Answer | undefined;
    const refused = await post([half, half], {}, async () => {
      served = await goodQuery();
    });
    expectTooLarge(refused);
    expect(served?.status).toBe(200);
  });

  it("refuses a declared length over the limit before the body is sent", async () => {
    // With Expect: 100-continue the client waits for leave to send; it gets the 413 instead.
    let sent = false;
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/federated/query",
        headers: { "content-length": MAX_BODY_BYTES + 1, expect: "100-continue" },
        timeout: DEADLINE_MS,
      });
      req.on("timeout", () => req.destroy(new Error("no answer before the deadline")));
      req.on("error", reject);
      req.on("continue", () => {
        sent = true;
        req.end(Buffer.alloc(MAX_BODY_BYTES + 1, "x"));
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
          });
        });
      });
    });
    expectTooLarge(answer);
    expect(sent).toBe(false);
    expect((await goodQuery()).status).toBe(200);
  });
});

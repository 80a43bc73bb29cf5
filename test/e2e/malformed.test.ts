import { diagnosticsService } from "@entente/diagnostics";
import { HEADERS, msgpackCodec, SUBJECTS } from "@entente/protocol";
import { loadConfig, startWorker, type Worker } from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const MAX_REQUEST_BYTES = 64 * 1024;

describe("a worker under malformed input", () => {
  let server: NatsServer;
  let worker: Worker;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    const config = loadConfig({
      text: `runtime:\n  maxRequestBytes: ${MAX_REQUEST_BYTES}\nlog:\n  level: warn\n`,
      env: { NATS_URL: server.url },
    });
    worker = await startWorker({ services: [diagnosticsService], config });
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await worker?.stop();
    await server?.stop();
  });

  const json = (text: string) => new TextEncoder().encode(text);
  const jsonHeaders = () => {
    const h = headers();
    h.set(HEADERS.contentType, "application/json");
    return h;
  };

  /** Five kinds of bad input, each built fresh so no two of the 1,000 are the same bytes. */
  const badInputs: Array<{
    kind: string;
    subject: string;
    body: (i: number) => Uint8Array;
    json?: boolean;
    code: string;
  }> = [
    {
      kind: "bad MessagePack",
      subject: SUBJECTS.diagnostics.stream,
      body: (i) => new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff, i & 0xff]),
      code: "MALFORMED",
    },
    {
      kind: "bad JSON",
      subject: SUBJECTS.diagnostics.echo,
      body: (i) => json(`{"payload": [${i},`),
      json: true,
      code: "MALFORMED",
    },
    {
      kind: "wrong types",
      subject: SUBJECTS.diagnostics.stream,
      body: (i) => msgpackCodec.encode({ bytes: `x${i}`, itemBytes: true }),
      code: "BAD_REQUEST",
    },
    {
      kind: "missing fields",
      subject: SUBJECTS.diagnostics.stream,
      body: (i) => json(`{"itemBytes": ${i + 1}}`),
      json: true,
      code: "BAD_REQUEST",
    },
    {
      kind: "oversized",
      subject: SUBJECTS.diagnostics.echo,
      body: (i) => msgpackCodec.encode({ payload: "x".repeat(MAX_REQUEST_BYTES + i) }),
      code: "TOO_LARGE",
    },
  ];

  it("answers each of 1,000 malformed messages with the error shape and keeps serving", async () => {
    const replies = [];
    for (let i = 0; i < 1000; i++) {
      const bad = badInputs[i % badInputs.length]!;
      replies.push(
        nc
          .request(bad.subject, bad.body(i), {
            timeout: 10_000,
            ...(bad.json ? { headers: jsonHeaders() } : {}),
          })
          .then((msg) => ({ bad, msg })),
      );
    }
    const answered = await Promise.all(replies);
    expect(answered).toHaveLength(1000);
    for (const { bad, msg } of answered) {
      expect(msg.headers?.get(HEADERS.error), bad.kind).toBe(bad.code);
      const body = (bad.json ? JSON.parse(msg.string()) : msgpackCodec.decode(msg.data)) as {
        error: { code: string; message: string; retryable: boolean };
      };
      expect(body.error.code, bad.kind).toBe(bad.code);
      expect(body.error.message.length, bad.kind).toBeGreaterThan(10);
      expect(body.error.retryable, bad.kind).toBe(false);
    }

    // The next valid request is served as if nothing happened.
    const reply = await nc.request(SUBJECTS.diagnostics.echo, msgpackCodec.encode({ payload: 42 }));
    expect(reply.headers?.get(HEADERS.error) ?? "").toBe("");
    expect(msgpackCodec.decode(reply.data)).toEqual({ payload: 42 });

    // Every error is counted in the services API stats.
    const echo = worker.services[0]!.stats().endpoints.find((e) => e.name === "echo")!;
    const stream = worker.services[0]!.stats().endpoints.find((e) => e.name === "stream")!;
    expect(echo.num_errors + stream.num_errors).toBe(1000);
  });

  it("names the offending field in a validation error", async () => {
    const reply = await nc.request(SUBJECTS.diagnostics.stream, json('{"bytes": -5}'), {
      timeout: 10_000,
      headers: jsonHeaders(),
    });
    const { error } = JSON.parse(reply.string()) as { error: { message: string } };
    expect(error.message).toMatch(/bytes/);
  });
});

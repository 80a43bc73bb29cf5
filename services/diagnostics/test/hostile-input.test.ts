import {
  EntenteError,
  HEADERS,
  jsonCodec,
  MAX_NESTING_DEPTH,
  msgpackCodec,
  SUBJECTS,
} from "@entente/protocol";
import {
  EntenteClient,
  endpoint,
  loadConfig,
  MAX_ERROR_BODY_BYTES,
  requestReply,
  type ServiceDefinition,
  startWorker,
  type Worker,
} from "@entente/runtime";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diagnosticsService, patternBytes } from "../src/index.ts";

/**
 * Findings against a real worker, each with its smallest trigger: the effect is bounded or the
 * error clear, and another client's echo is answered meanwhile.
 */

const BATCH_BYTES = 256 * 1024;
const MAX_STREAM_CREDIT = 4;
const CONSUMER_TIMEOUT_MS = 1_000;

/** A service that fails as badly as a service can: a huge message and huge details. */
const throwerService: ServiceDefinition = {
  name: "thrower",
  version: "0.1.0",
  description: "Throws an enormous error",
  start: () => ({
    endpoints: [
      endpoint({
        name: "throw",
        subject: "test.hostile.throw",
        handler: () => {
          throw new EntenteError("BAD_REQUEST", `bad input ${"x".repeat(2_000_000)}`, {
            details: { rows: Array.from({ length: 100_000 }, (_, i) => ({ row: i })) },
          });
        },
      }),
    ],
  }),
};

let server: NatsServer;
let worker: Worker;
let good: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  const config = loadConfig({
    text: [
      "runtime:",
      `  consumerTimeoutMs: ${CONSUMER_TIMEOUT_MS}`,
      `  maxStreamCredit: ${MAX_STREAM_CREDIT}`,
      "log:",
      "  level: error",
    ].join("\n"),
    env: { NATS_URL: server.url },
  });
  worker = await startWorker({ services: [diagnosticsService, throwerService], config });
  good = await connect({ servers: server.url });
});

afterAll(async () => {
  await good?.close();
  await worker?.stop();
  await server?.stop();
});

/** Another client's echo, which must be answered within its timeout. */
async function echoIsServed(nc: NatsConnection = good): Promise<void> {
  const reply = await new EntenteClient(nc).request(
    SUBJECTS.diagnostics.echo,
    { payload: "still here" },
    { timeoutMs: 10_000 },
  );
  expect(reply).toEqual({ payload: "still here" });
}

function streamStats() {
  return worker.services[0]!.stats().endpoints.find((e) => e.name === "stream")!;
}

/** Resolves once `predicate` holds, polling; bounded by a deadline, never timed. */
async function until(predicate: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function jsonHeaders() {
  const h = headers();
  h.set(HEADERS.contentType, "application/json");
  return h;
}

describe("finding 1: a requester's credit", () => {
  it("is cut to the worker's maximum, and a reader that vanishes is found gone", async () => {
    const before = streamStats();
    const greedy = await connect({ servers: server.url });
    const inbox = createInbox();
    const seen: Msg[] = [];
    greedy.subscribe(inbox, {
      callback: (err, msg) => {
        if (!err) seen.push(msg);
      },
    });
    const h = headers();
    h.set(HEADERS.credit, "1000000");
    greedy.publish(
      SUBJECTS.diagnostics.stream,
      msgpackCodec.encode({ bytes: 4 * 1024 ** 3, itemBytes: 16 * 1024 ** 2 }),
      { headers: h, reply: inbox },
    );
    await until(() => seen.length >= 1, "the first batch");
    expect(seen[0]!.headers?.get(HEADERS.credit)).toBe(String(MAX_STREAM_CREDIT));
    await echoIsServed();
    await greedy.close(); // no cancel, no credit: simply gone

    await until(() => streamStats().data.in_flight === 0, "the stream to stop");
    const after = streamStats();
    expect(after.num_errors - before.num_errors).toBe(1);
    expect(after.last_error).toMatch(/^CONSUMER_GONE/);
    expect(after.data.bytes_out - before.data.bytes_out).toBeLessThanOrEqual(
      MAX_STREAM_CREDIT * BATCH_BYTES,
    );
    await echoIsServed();
  });
});

describe("finding 5: a stranger subscribed to _INBOX.> on an open server", () => {
  it("can neither cancel, grant credit to nor forge batches of another client's stream", async () => {
    const before = streamStats();
    const victim = await connect({ servers: server.url });
    const stranger = await connect({ servers: server.url });
    const inboxTraffic: Msg[] = [];
    stranger.subscribe("_INBOX.>", {
      callback: (err, msg) => {
        if (!err) inboxTraffic.push(msg);
      },
    });
    await stranger.flush();

    const itemBytes = 16 * 1024;
    const items = 640;
    const reply = requestReply(
      victim,
      SUBJECTS.diagnostics.stream,
      msgpackCodec.encode({ bytes: items * itemBytes, itemBytes }),
      undefined,
      { codec: msgpackCodec, credit: 2 },
    );
    const iterator = reply[Symbol.asyncIterator]();
    const received = [(await iterator.next()).value];
    const batches = () => inboxTraffic.filter((m) => m.headers?.has(HEADERS.stream));
    const grants = () => inboxTraffic.filter((m) => m.headers?.has(HEADERS.controlSeq));
    await until(() => batches().length > 0 && grants().length > 0, "the stream's first messages");

    // What the finding did: cancel, huge credit, an early end, an error and a forged item.
    const first = batches()[0]!;
    const control = first.headers!.get(HEADERS.control);
    const seq = String(Math.max(...batches().map((m) => Number(m.headers!.get(HEADERS.seq)))) + 1);
    const forge = (extra: Record<string, string>, payload: Uint8Array) => {
      const h = headers();
      h.set(HEADERS.stream, first.headers!.get(HEADERS.stream));
      h.set(HEADERS.seq, seq);
      h.set(HEADERS.auth, first.headers!.get(HEADERS.auth));
      for (const [name, value] of Object.entries(extra)) h.set(name, value);
      stranger.publish(first.subject, payload, { headers: h });
    };
    stranger.publish(control, jsonCodec.encode({ cancel: true }), { headers: jsonHeaders() });
    stranger.publish(control, msgpackCodec.encode({ credit: 1_000_000 }));
    for (const grant of grants())
      stranger.publish(control, grant.data, { headers: grant.headers! });
    forge({ [HEADERS.end]: "1", [HEADERS.items]: "25" }, new Uint8Array(0));
    forge(
      { [HEADERS.error]: "NOT_FOUND" },
      msgpackCodec.encode({ error: { code: "NOT_FOUND", message: "forged", retryable: false } }),
    );
    forge({}, msgpackCodec.encode({ index: 0, data: new Uint8Array([6, 6, 6]) }));
    stranger.publish(first.subject, first.data, { headers: first.headers! });
    await stranger.flush();
    await echoIsServed(stranger);

    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received.push(next.value);
    }
    const intact = (received as Array<{ index: number; data: Uint8Array }>).every(
      (item, i) => item.index === i && Buffer.from(item.data).equals(patternBytes(i, itemBytes)),
    );
    expect(received).toHaveLength(items);
    expect(intact).toBe(true);
    expect((await reply.done).ignored).toBeGreaterThanOrEqual(4);
    const after = streamStats();
    expect(after.num_errors - before.num_errors).toBe(0);
    expect(after.data.rejected_controls - before.data.rejected_controls).toBeGreaterThanOrEqual(3);
    await victim.close();
    await stranger.close();
  });
});

describe("finding 6: error replies", () => {
  it("answer a large invalid request with a bounded BAD_REQUEST quoting its start", async () => {
    const body = { payload: 1, ["k".repeat(900_000)]: 1 };
    for (const codec of [msgpackCodec, jsonCodec]) {
      const reply = await good.request(SUBJECTS.diagnostics.echo, codec.encode(body), {
        timeout: 10_000,
        ...(codec === jsonCodec ? { headers: jsonHeaders() } : {}),
      });
      expect(reply.headers?.get(HEADERS.error)).toBe("BAD_REQUEST");
      expect(reply.data.length).toBeLessThanOrEqual(MAX_ERROR_BODY_BYTES);
      const { error } = codec.decode(reply.data) as { error: { message: string } };
      expect(error.message).toMatch(/kkkk… \(\d+ more characters\)/);
    }
    await echoIsServed();
  });

  it("stay bounded whatever a service throws", async () => {
    const reply = await good.request("test.hostile.throw", msgpackCodec.encode({}), {
      timeout: 10_000,
    });
    expect(reply.headers?.get(HEADERS.error)).toBe("BAD_REQUEST");
    expect(reply.data.length).toBeLessThanOrEqual(MAX_ERROR_BODY_BYTES);
    const { error } = msgpackCodec.decode(reply.data) as {
      error: { message: string; details: { truncated: boolean; preview: string } };
    };
    expect(error.message).toMatch(/^bad input xxx.*… \(\d+ more characters\)$/);
    expect(error.details.truncated).toBe(true);
    expect(error.details.preview).toMatch(/^\{"rows":\[\{"row":0\}/);
    await echoIsServed();
  });
});

describe("finding 8: decoding limits and bytes in JSON", () => {
  it("answers an echo nested 10,000 deep with BAD_REQUEST, in MessagePack and in JSON", async () => {
    // {payload: [[[…null…]]]}: a map of one key, then 10,000 arrays of one element.
    const msgpackBody = new Uint8Array([
      0x81,
      0xa7,
      ...new TextEncoder().encode("payload"),
      ...new Uint8Array(10_000).fill(0x91),
      0xc0,
    ]);
    const jsonBody = new TextEncoder().encode(
      `{"payload":${"[".repeat(10_000)}${"]".repeat(10_000)}}`,
    );
    for (const [body, h] of [
      [msgpackBody, undefined],
      [jsonBody, jsonHeaders()],
    ] as const) {
      const reply = await good.request(SUBJECTS.diagnostics.echo, body, {
        timeout: 10_000,
        ...(h ? { headers: h } : {}),
      });
      expect(reply.headers?.get(HEADERS.error)).toBe("BAD_REQUEST");
      const codec = h ? jsonCodec : msgpackCodec;
      const { error } = codec.decode(reply.data) as { error: { details: unknown } };
      expect(error.details).toEqual({ maxDepth: MAX_NESTING_DEPTH });
    }
    await echoIsServed();
  });

  it("streams bytes in JSON as base64, a third larger than the bytes rather than 12.5 times", async () => {
    const itemBytes = 64 * 1024;
    const total = 16 * itemBytes;
    const h = jsonHeaders();
    const reply = requestReply(
      good,
      SUBJECTS.diagnostics.stream,
      jsonCodec.encode({ bytes: total, itemBytes }),
      h,
      {
        codec: jsonCodec,
      },
    );
    const items: Array<{ index: number; data: string }> = [];
    for await (const item of reply) items.push(item as { index: number; data: string });
    expect(items).toHaveLength(16);
    for (const item of items) {
      expect(Buffer.from(item.data, "base64").equals(patternBytes(item.index, itemBytes))).toBe(
        true,
      );
    }
    const { bytes } = await reply.done;
    expect(bytes / total).toBeLessThan(1.4);
    await echoIsServed();
  });
});

import { EntenteError, HEADERS, jsonCodec, msgpackCodec } from "@entente/protocol";
import { headers } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestReply } from "../src/stream/receiver.ts";
import { connectSides, failureOf, type Sides, serve, uniqueSubject } from "./stream-support.ts";

let sides: Sides;
beforeAll(async () => {
  sides = await connectSides();
});
afterAll(async () => {
  await sides?.close();
});

const STREAM_HEADERS = [HEADERS.stream, HEADERS.seq, HEADERS.control, HEADERS.end, HEADERS.items];

/** Items whose first pull fails, as a query on a missing table does. */
function failing(error: Error): AsyncIterable<never> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
}

async function readAll(reply: AsyncIterable<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of reply) items.push(item);
  return items;
}

describe("single-message replies", () => {
  it("answers a small value with one plain message any NATS client reads whole", async () => {
    const subject = uniqueSubject("small");
    const value = { answer: 42, rows: [1, 2, 3], name: "ok" };
    const served = await serve(sides.server, subject, () => ({ kind: "value", value }), {
      finalHeaders: () => ({ [HEADERS.serverTimeUs]: "17" }),
    });

    const msg = await sides.client.request(subject, msgpackCodec.encode({}), { timeout: 5000 });
    expect(msgpackCodec.decode(msg.data)).toEqual(value);
    // MessagePack is the default and goes unsaid.
    expect(msg.headers?.get(HEADERS.contentType)).toBe("");
    expect(msg.headers?.get(HEADERS.serverTimeUs)).toBe("17");
    for (const name of STREAM_HEADERS) expect(msg.headers?.has(name)).toBe(false);
    expect(await served.results[0]).toEqual({
      batches: 1,
      items: 1,
      bytes: msg.data.length,
      outcome: "completed",
    });

    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    expect(await readAll(reply)).toEqual([value]);
    const done = await reply.done;
    expect(done).toMatchObject({ batches: 1, items: 1 });
    expect(done.headers?.get(HEADERS.serverTimeUs)).toBe("17");
    served.stop();
  });

  it("answers a JSON request with JSON text", async () => {
    const subject = uniqueSubject("json");
    const served = await serve(sides.server, subject, () => ({
      kind: "value",
      value: { id: 2n ** 62n },
    }));
    const h = headers();
    h.set(HEADERS.contentType, "application/json");
    const msg = await sides.client.request(subject, jsonCodec.encode({}), {
      timeout: 5000,
      headers: h,
    });
    expect(msg.string()).toBe('{"id":"4611686018427387904"}');
    served.stop();
  });

  it("sends a stream that fits in one batch as one message", async () => {
    const subject = uniqueSubject("short");
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: ["a", "b", "c"],
    }));
    const h = headers();
    h.set(HEADERS.contentType, "application/json");
    const msg = await sides.client.request(subject, jsonCodec.encode({}), {
      timeout: 5000,
      headers: h,
    });
    expect(msg.string()).toBe('"a"\n"b"\n"c"\n');
    expect(msg.headers?.get(HEADERS.seq)).toBe("0");
    expect(msg.headers?.get(HEADERS.end)).toBe("1");
    expect(msg.headers?.get(HEADERS.items)).toBe("3");

    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    expect(await readAll(reply)).toEqual(["a", "b", "c"]);
    expect(await reply.done).toMatchObject({ batches: 1, items: 3 });
    served.stop();
  });

  it("sends an empty stream as one empty last batch", async () => {
    const subject = uniqueSubject("empty");
    const served = await serve(sides.server, subject, () => ({ kind: "stream", items: [] }));
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    expect(await readAll(reply)).toEqual([]);
    expect(await reply.done).toMatchObject({ batches: 1, items: 0, bytes: 0 });
    expect(await served.results[0]).toMatchObject({ outcome: "completed", items: 0 });
    served.stop();
  });
});

describe("error replies", () => {
  it("reports a producer that fails before its first item as a plain error reply", async () => {
    const subject = uniqueSubject("fail-early");
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: failing(
        new EntenteError("NOT_FOUND", "table t does not exist", { details: { table: "t" } }),
      ),
    }));

    const msg = await sides.client.request(subject, msgpackCodec.encode({}), { timeout: 5000 });
    expect(msg.headers?.get(HEADERS.error)).toBe("NOT_FOUND");
    expect(msg.headers?.get(HEADERS.serviceError)).toBe("table t does not exist");
    expect(msg.headers?.get(HEADERS.serviceErrorCode)).toBe("404");
    expect(msg.headers?.has(HEADERS.stream)).toBe(false);
    expect(msgpackCodec.decode(msg.data)).toEqual({
      error: {
        code: "NOT_FOUND",
        message: "table t does not exist",
        retryable: false,
        details: { table: "t" },
      },
    });

    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    const error = await failureOf(readAll(reply));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.details).toEqual({ table: "t" });
    expect((await failureOf(reply.done)).code).toBe("NOT_FOUND");
    expect(await served.results[1]).toMatchObject({ outcome: "failed", batches: 1 });
    served.stop();
  });

  it("delivers the items before a mid-stream failure, then the failure", async () => {
    const subject = uniqueSubject("fail-late");
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: (async function* () {
        for (let i = 0; i < 50; i++) yield { i, pad: new Uint8Array(32 * 1024) };
        throw new Error("source connection reset");
      })(),
    }));
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    const seen: number[] = [];
    const error = await failureOf(
      (async () => {
        for await (const item of reply) seen.push((item as { i: number }).i);
      })(),
    );
    expect(error.code).toBe("INTERNAL");
    expect(error.message).toBe("source connection reset");
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const result = await served.results[0];
    expect(result?.outcome).toBe("failed");
    expect(result?.error?.message).toBe("source connection reset");
    expect(result?.batches).toBeGreaterThan(1);
    served.stop();
  });

  it("names the subject when nobody listens", async () => {
    const subject = uniqueSubject("nobody");
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    const error = await failureOf(readAll(reply));
    expect(error.code).toBe("NO_RESPONDERS");
    expect(error.message).toContain(subject);
    expect(error.retryable).toBe(true);
  });

  it("tells the requester why the server gave up mid-stream", async () => {
    const subject = uniqueSubject("deadline");
    const controller = new AbortController();
    let finalized = false;
    const served = await serve(
      sides.server,
      subject,
      () => ({
        kind: "stream",
        items: (async function* () {
          try {
            for (let i = 0; ; i++) {
              if (i === 40) {
                controller.abort(new EntenteError("DEADLINE_EXCEEDED", "deadline of 5 ms passed"));
              }
              yield new Uint8Array(32 * 1024);
            }
          } finally {
            finalized = true;
          }
        })(),
      }),
      { signal: controller.signal },
    );
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    const error = await failureOf(readAll(reply));
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    expect(await served.results[0]).toMatchObject({ outcome: "cancelled" });
    expect(finalized).toBe(true);
    served.stop();
  });

  it("reads one reply when two responders answer, and cancels the other", async () => {
    const subject = uniqueSubject("twice");
    const body = () => ({
      kind: "stream" as const,
      items: (function* () {
        for (let i = 0; i < 200; i++) yield new Uint8Array(64 * 1024).fill(i);
      })(),
    });
    const first = await serve(sides.server, subject, body, { consumerTimeoutMs: 2000 });
    const second = await serve(sides.observer, subject, body, { consumerTimeoutMs: 2000 });
    await sides.observer.flush();
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      credit: 2,
    });
    const items = await readAll(reply);
    expect(items).toHaveLength(200);
    expect((items as Uint8Array[]).every((item, i) => item[0] === i)).toBe(true);
    const outcomes = await Promise.all([first.results[0], second.results[0]]);
    expect(outcomes.map((r) => r?.outcome).sort()).toEqual(["cancelled", "completed"]);
    first.stop();
    second.stop();
  });
});

import { EntenteError, HEADERS, msgpackCodec } from "@entente/protocol";
import { createInbox, headers, type Msg } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestReply } from "../src/stream/receiver.ts";
import { StreamKey } from "../src/stream/stream-key.ts";
import { DEFAULT_BATCH_BYTES, type ReplyStream } from "../src/stream/types.ts";
import {
  connectSides,
  failureOf,
  type Sides,
  serve,
  uniquePrefix,
  uniqueSubject,
  until,
  watchInboxes,
} from "./stream-support.ts";

let sides: Sides;
beforeAll(async () => {
  sides = await connectSides();
});
afterAll(async () => {
  await sides?.close();
});

/** Reads until the stream ends or fails; returns what arrived and how it ended. */
async function drain(reply: ReplyStream) {
  const items: unknown[] = [];
  try {
    for await (const item of reply) items.push(item);
    return { items, error: undefined };
  } catch (err) {
    return { items, error: err as EntenteError };
  }
}

interface CraftedBatch {
  seq: number;
  items: unknown[];
  end?: boolean;
}

/**
 * A responder that publishes hand-made batches, tagged with the request's stream key as a real
 * producer's are, so lost, repeated and reordered batches can be staged exactly. It records the
 * control messages the requester sends back.
 */
async function craftedResponder(
  subject: string,
  batches: CraftedBatch[],
  total = batches.reduce((n, b) => n + b.items.length, 0),
) {
  const control = createInbox();
  const controls: unknown[] = [];
  const controlSub = sides.server.subscribe(control, {
    callback: (_err, msg) => {
      controls.push(msgpackCodec.decode(msg.data));
    },
  });
  const sub = sides.server.subscribe(subject, {
    callback: (_err, msg: Msg) => {
      const key = new StreamKey(msg.headers?.get(HEADERS.streamKey) ?? "");
      batches.forEach((batch, index) => {
        const h = headers();
        h.set(HEADERS.contentType, "application/msgpack");
        h.set(HEADERS.stream, "crafted");
        h.set(HEADERS.seq, String(batch.seq));
        if (index === 0) h.set(HEADERS.control, control);
        if (batch.end) {
          h.set(HEADERS.end, "1");
          h.set(HEADERS.items, String(total));
        }
        const payload = Buffer.concat(batch.items.map((item) => msgpackCodec.encode(item)));
        h.set(HEADERS.auth, key.batchTag(h, payload));
        sides.server.publish(msg.reply!, payload, { headers: h });
      });
    },
  });
  await sides.server.flush();
  return {
    controls,
    stop() {
      sub.unsubscribe();
      controlSub.unsubscribe();
    },
  };
}

function request(subject: string, options: { credit?: number; stallTimeoutMs?: number } = {}) {
  return requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
    codec: msgpackCodec,
    ...options,
  });
}

describe("lost, repeated and reordered batches", () => {
  it("reports a dropped batch as a gap, after the batches before it", async () => {
    const subject = uniqueSubject("gap");
    const responder = await craftedResponder(subject, [
      { seq: 0, items: ["a"] },
      { seq: 1, items: ["b"] },
      { seq: 3, items: ["d"] },
      { seq: 4, items: ["e"], end: true },
    ]);
    const { items, error } = await drain(request(subject));
    expect(items).toEqual(["a", "b"]);
    expect(error?.code).toBe("STREAM_GAP");
    expect(error?.details).toEqual({ expected: 2, got: 3 });
    await until(() => responder.controls.length > 0, "the cancel");
    expect(responder.controls).toContainEqual({ cancel: true, reason: "STREAM_GAP" });
    responder.stop();
  });

  it("reports a gap just before the last batch once the grace period ends", async () => {
    const subject = uniqueSubject("gap-end");
    const responder = await craftedResponder(subject, [
      { seq: 0, items: ["a"] },
      { seq: 2, items: ["c"], end: true },
    ]);
    const { items, error } = await drain(request(subject));
    expect(items).toEqual(["a"]);
    expect(error?.code).toBe("STREAM_GAP");
    expect(error?.details).toEqual({ expected: 1, got: 2 });
    responder.stop();
  });

  it("drops a repeated batch, which anyone reading the inbox could replay, and counts it", async () => {
    const subject = uniqueSubject("dup");
    const responder = await craftedResponder(
      subject,
      [
        { seq: 0, items: ["a"] },
        { seq: 1, items: ["b"] },
        { seq: 1, items: ["b"] },
        { seq: 2, items: ["c"], end: true },
      ],
      3,
    );
    const reply = request(subject);
    const { items, error } = await drain(reply);
    expect(error).toBeUndefined();
    expect(items).toEqual(["a", "b", "c"]);
    expect(await reply.done).toMatchObject({ batches: 3, items: 3, ignored: 1 });
    responder.stop();
  });

  it("reports batches that arrive out of order", async () => {
    const subject = uniqueSubject("order");
    const responder = await craftedResponder(subject, [
      { seq: 0, items: ["a"] },
      { seq: 1, items: ["b"] },
      { seq: 3, items: ["d"] },
      { seq: 2, items: ["c"] },
      { seq: 4, items: ["e"], end: true },
    ]);
    const { items, error } = await drain(request(subject));
    expect(items).toEqual(["a", "b"]);
    expect(error?.code).toBe("STREAM_OUT_OF_ORDER");
    expect(error?.details).toEqual({ expected: 2, got: 3 });
    responder.stop();
  });

  it("accepts the same batches in order, and checks the item count", async () => {
    const subject = uniqueSubject("fine");
    const responder = await craftedResponder(subject, [
      { seq: 0, items: ["a", "b"] },
      { seq: 1, items: [] },
      { seq: 2, items: ["c"], end: true },
    ]);
    const reply = request(subject);
    expect((await drain(reply)).items).toEqual(["a", "b", "c"]);
    expect(await reply.done).toMatchObject({ batches: 3, items: 3 });
    responder.stop();
  });
});

describe("flow control", () => {
  it("keeps a fast producer within the credit of a slow consumer", async () => {
    const subject = uniqueSubject("slow");
    const credit = 2;
    const itemBytes = 60 * 1024;
    const perBatch = Math.floor(
      DEFAULT_BATCH_BYTES / msgpackCodec.encode(new Uint8Array(itemBytes)).length,
    );
    const total = 60 * perBatch; // 60 batches, many times the window
    let pulled = 0;
    let consumed = 0;
    let maxAhead = 0;
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: (function* () {
        for (let i = 0; i < total; i++) {
          pulled++;
          maxAhead = Math.max(maxAhead, pulled - consumed);
          yield new Uint8Array(itemBytes).fill(i & 0xff);
        }
      })(),
    }));

    const reply = request(subject, { credit });
    for await (const item of reply) {
      expect((item as Uint8Array)[0]).toBe(consumed & 0xff);
      consumed++;
      if (consumed % perBatch === 0) await new Promise((resolve) => setTimeout(resolve, 3));
    }
    expect(consumed).toBe(total);
    expect(await served.results[0]).toMatchObject({ outcome: "completed", items: total });
    // In flight or unread: `credit` batches, plus the batch being read and the one being filled.
    expect(maxAhead).toBeLessThanOrEqual((credit + 2) * perBatch);
    served.stop();
  });
});

describe("stalls, vanished consumers and cancellation", () => {
  it("reports a stalled producer and tells it to stop", async () => {
    const subject = uniqueSubject("stall");
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finalized = false;
    const served = await serve(
      sides.server,
      subject,
      () => ({
        kind: "stream",
        items: (async function* () {
          try {
            for (let i = 0; i < 20; i++) yield new Uint8Array(64 * 1024);
            await released; // stuck on its source, as a hung query would be
            yield "never sent";
          } finally {
            finalized = true;
          }
        })(),
      }),
      { onStop: () => release() },
    );
    const { items, error } = await drain(request(subject, { stallTimeoutMs: 300 }));
    expect(items).toHaveLength(20);
    expect(error?.code).toBe("STREAM_STALLED");
    expect(error?.message).toContain(subject);
    expect(await served.results[0]).toMatchObject({ outcome: "cancelled", items: 20 });
    expect(finalized).toBe(true);
    served.stop();
  });

  it("reports a producer that never answers as stalled", async () => {
    const subject = uniqueSubject("silent");
    const sub = sides.server.subscribe(subject, { callback: () => {} });
    await sides.server.flush();
    const error = await failureOf(
      drain(request(subject, { stallTimeoutMs: 200 })).then((r) => {
        throw r.error;
      }),
    );
    expect(error.code).toBe("STREAM_STALLED");
    sub.unsubscribe();
  });

  it("finds the consumer gone when it vanishes without a word", async () => {
    const subject = uniqueSubject("vanish");
    const consumer = await (await import("@nats-io/transport-node")).connect({
      servers: sides.client.getServer(),
    });
    let finalized = false;
    let pulled = 0;
    const served = await serve(
      sides.server,
      subject,
      () => ({
        kind: "stream",
        items: (function* () {
          try {
            for (;;) {
              pulled++;
              yield new Uint8Array(64 * 1024);
            }
          } finally {
            finalized = true;
          }
        })(),
      }),
      { consumerTimeoutMs: 300 },
    );
    const reply = requestReply(consumer, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      credit: 4,
    });
    const iterator = reply[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) await iterator.next();
    await consumer.close(); // no cancel, no more credit: the consumer is simply gone
    const result = await served.results[0];
    expect(result?.outcome).toBe("consumer-gone");
    expect(finalized).toBe(true);
    expect(pulled).toBeLessThan(100);
    served.stop();
  });

  for (const how of ["abort", "break", "cancel"] as const) {
    it(`stops the producer when the requester cancels (${how})`, async () => {
      const subject = uniqueSubject(`cancel-${how}`);
      let finalized = false;
      const served = await serve(sides.server, subject, () => ({
        kind: "stream",
        items: (async function* () {
          try {
            for (let i = 0; ; i++) yield { i, pad: new Uint8Array(100 * 1024) };
          } finally {
            finalized = true;
          }
        })(),
      }));
      const prefix = uniquePrefix();
      const seen = watchInboxes(sides.observer, prefix);
      await sides.observer.flush();
      const controller = new AbortController();
      const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
        codec: msgpackCodec,
        signal: controller.signal,
        inboxPrefix: prefix,
      });
      let read = 0;
      let error: unknown;
      try {
        for await (const _ of reply) {
          if (++read < 25) continue;
          if (how === "break") break;
          if (how === "abort") controller.abort();
          else reply.cancel("enough ".repeat(300)); // longer than a control message allows
        }
      } catch (err) {
        error = err;
      }
      if (how === "break") expect(error).toBeUndefined();
      else expect((error as EntenteError).code).toBe("CANCELLED");
      expect((await failureOf(reply.done)).code).toBe("CANCELLED");

      const result = await served.results[0];
      expect(result?.outcome).toBe("cancelled");
      expect(finalized).toBe(true);
      // Nothing was published after the producer stopped: every batch it counted, and no more.
      await sides.server.flush();
      await sides.observer.flush();
      expect(seen).toHaveLength(result?.batches ?? -1);
      expect(seen.some((m) => m.headers?.has(HEADERS.error))).toBe(false);
      served.stop();
    });
  }

  it("cancels a producer whose first batch had not arrived yet", async () => {
    const subject = uniqueSubject("cancel-early");
    let finalized = false;
    let started!: () => void;
    const startedP = new Promise<void>((resolve) => {
      started = resolve;
    });
    let go!: () => void;
    const goP = new Promise<void>((resolve) => {
      go = resolve;
    });
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: (async function* () {
        try {
          started();
          await goP;
          for (;;) yield new Uint8Array(100 * 1024);
        } finally {
          finalized = true;
        }
      })(),
    }));
    const reply = request(subject);
    const iterator = reply[Symbol.asyncIterator]();
    await startedP;
    reply.cancel("changed my mind");
    await expect(iterator.next()).rejects.toThrow(/changed my mind/);
    go();
    const result = await served.results[0];
    expect(result?.outcome).toBe("cancelled");
    expect(finalized).toBe(true);
    served.stop();
  });

  it("does not send a request whose signal is already aborted", async () => {
    const subject = uniqueSubject("pre-aborted");
    let requests = 0;
    const sub = sides.server.subscribe(subject, {
      callback: () => {
        requests++;
      },
    });
    await sides.server.flush();
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      signal: AbortSignal.abort(new EntenteError("DEADLINE_EXCEEDED", "no time left")),
    });
    const { error } = await drain(reply);
    expect(error?.code).toBe("DEADLINE_EXCEEDED");
    await sides.client.flush();
    await sides.server.flush();
    expect(requests).toBe(0);
    sub.unsubscribe();
  });
});

describe("control messages", () => {
  it("grants credit in half windows as batches are read", async () => {
    const subject = uniqueSubject("grants");
    const responder = await craftedResponder(
      subject,
      Array.from({ length: 9 }, (_, seq) => ({ seq, items: [seq], end: seq === 8 })),
    );
    const reply = request(subject, { credit: 4 });
    expect((await drain(reply)).items).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    await until(() => responder.controls.length >= 4, "the grants");
    // 8 batches before the last, granted back two at a time; the last needs no grant.
    expect(responder.controls).toEqual([
      { credit: 2 },
      { credit: 2 },
      { credit: 2 },
      { credit: 2 },
    ]);
    responder.stop();
  });
});

import { HEADERS, jsonCodec, msgpackCodec } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requestReply } from "../src/stream/receiver.ts";
import { DEFAULT_BATCH_BYTES } from "../src/stream/types.ts";
import {
  connectSides,
  patternFor,
  type Sides,
  sameBytes,
  serve,
  uniquePrefix,
  uniqueSubject,
  watchInboxes,
} from "./stream-support.ts";

let sides: Sides;
beforeAll(async () => {
  sides = await connectSides();
});
afterAll(async () => {
  await sides?.close();
});

const ITEM_BYTES = 64 * 1024;
const ITEMS = 3_200; // 200 MiB of item data

describe("large streamed replies over NATS", () => {
  it("delivers 200 MB whole and in order, in batches no larger than the batch size", async () => {
    const subject = uniqueSubject("big");
    let pulled = 0;
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: (function* () {
        for (let i = 0; i < ITEMS; i++) {
          pulled++;
          yield { i, data: patternFor(i, ITEM_BYTES) };
        }
      })(),
    }));
    const prefix = uniquePrefix();
    const seen = watchInboxes(sides.observer, prefix);
    await sides.observer.flush();

    const started = performance.now();
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      inboxPrefix: prefix,
    });
    let next = 0;
    let corrupt = 0;
    for await (const item of reply) {
      const { i, data } = item as { i: number; data: Uint8Array };
      if (i !== next || !sameBytes(data, patternFor(i, ITEM_BYTES))) corrupt++;
      next++;
    }
    const done = await reply.done;
    const seconds = (performance.now() - started) / 1000;
    const result = await served.results[0];
    served.stop();

    expect(corrupt).toBe(0);
    expect(next).toBe(ITEMS);
    expect(pulled).toBe(ITEMS);
    expect(result).toMatchObject({ outcome: "completed", items: ITEMS, batches: done.batches });
    expect(done.items).toBe(ITEMS);
    expect(done.bytes).toBeGreaterThan(ITEMS * ITEM_BYTES);

    await sides.client.flush();
    await sides.observer.flush();
    expect(seen).toHaveLength(done.batches);
    expect(Math.max(...seen.map((m) => m.data.length))).toBeLessThanOrEqual(DEFAULT_BATCH_BYTES);
    expect(seen.map((m) => Number(m.headers?.get(HEADERS.seq)))).toEqual(
      seen.map((_, index) => index),
    );
    expect(seen.at(-1)?.headers?.get(HEADERS.end)).toBe("1");
    expect(seen.at(-1)?.headers?.get(HEADERS.items)).toBe(String(ITEMS));

    const mb = done.bytes / 1e6;
    console.log(
      `200 MB reply: ${mb.toFixed(1)} MB in ${done.batches} batches, ${seconds.toFixed(2)} s, ${(mb / seconds).toFixed(0)} MB/s`,
    );
  });

  it("carries one 20 MB value across continued batches", async () => {
    const subject = uniqueSubject("value");
    const blob = patternFor(7, 20 * 1024 * 1024);
    const served = await serve(sides.server, subject, () => ({
      kind: "value",
      value: { name: "blob", blob },
    }));
    const prefix = uniquePrefix();
    const seen = watchInboxes(sides.observer, prefix);
    await sides.observer.flush();

    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      inboxPrefix: prefix,
    });
    const items: unknown[] = [];
    for await (const item of reply) items.push(item);
    const done = await reply.done;
    served.stop();

    expect(items).toHaveLength(1);
    const value = items[0] as { name: string; blob: Uint8Array };
    expect(value.name).toBe("blob");
    expect(sameBytes(value.blob, blob)).toBe(true);
    expect(await served.results[0]).toMatchObject({ outcome: "completed", items: 1 });

    await sides.observer.flush();
    expect(seen).toHaveLength(done.batches);
    const encoded = msgpackCodec.encode({ name: "blob", blob }).length;
    expect(done.batches).toBe(Math.ceil(encoded / DEFAULT_BATCH_BYTES));
    expect(seen.every((m) => m.data.length <= DEFAULT_BATCH_BYTES)).toBe(true);
    const continued = seen.map((m) => m.headers?.get(HEADERS.continued) === "1");
    expect(continued.slice(0, -1).every(Boolean)).toBe(true);
    expect(continued.at(-1)).toBe(false);
    expect(seen[0]?.headers?.get(HEADERS.control)).toMatch(/^_INBOX\./);
    expect(seen.slice(1).some((m) => m.headers?.has(HEADERS.control))).toBe(false);
  });

  it("streams JSON as newline-delimited texts", async () => {
    const subject = uniqueSubject("json");
    const rows = Array.from({ length: 20_000 }, (_, i) => ({
      i,
      name: `row ${i}`,
      big: 2n ** 60n,
    }));
    const served = await serve(sides.server, subject, () => ({ kind: "stream", items: rows }));
    const prefix = uniquePrefix();
    const seen = watchInboxes(sides.observer, prefix);
    await sides.observer.flush();

    const reply = requestReply(sides.client, subject, jsonCodec.encode({}), undefined, {
      codec: jsonCodec,
      inboxPrefix: prefix,
    });
    const got: unknown[] = [];
    for await (const item of reply) got.push(item);
    served.stop();

    // JSON has no 64-bit integers: they travel as decimal strings.
    expect(got).toEqual(rows.map((r) => ({ ...r, big: (2n ** 60n).toString() })));
    await sides.observer.flush();
    expect(seen.length).toBeGreaterThan(1);
    expect(seen[0]?.headers?.get(HEADERS.contentType)).toBe("application/json");
    const text = new TextDecoder().decode(seen[0]?.data);
    expect(text.startsWith('{"i":0,"name":"row 0","big":"1152921504606846976"}\n')).toBe(true);
    expect(text.endsWith("\n")).toBe(true);
  });
});

import { HEADERS, jsonCodec, msgpackCodec } from "@entente/protocol";
import { createInbox, headers, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ByteBudget } from "../src/stream/budget.ts";
import { requestReply } from "../src/stream/receiver.ts";
import type { ReplyStream } from "../src/stream/types.ts";
import {
  connectSides,
  type Sides,
  serve,
  uniquePrefix,
  uniqueSubject,
  until,
} from "./stream-support.ts";

/** What requesters and strangers may do that the producer must survive. */

let sides: Sides;
beforeAll(async () => {
  sides = await connectSides();
});
afterAll(async () => {
  await sides?.close();
});

const BATCH = 256 * 1024;

/** Items that fill one batch each, for as long as anyone pulls. */
function endlessBatches(onPull: () => void = () => {}) {
  return {
    kind: "stream" as const,
    items: (function* () {
      for (let i = 0; ; i++) {
        onPull();
        yield new Uint8Array(BATCH - 16).fill(i & 0xff);
      }
    })(),
  };
}

/**
 * Sends a request the way a hostile client does, by hand: any credit it likes, and nobody
 * reading or granting afterwards. Resolves with what reached its inbox.
 */
async function rawRequest(nc: NatsConnection, subject: string, credit: string): Promise<Msg[]> {
  const inbox = createInbox();
  const seen: Msg[] = [];
  nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (!err) seen.push(msg);
    },
  });
  const h = headers();
  h.set(HEADERS.credit, credit);
  nc.publish(subject, msgpackCodec.encode({}), { headers: h, reply: inbox });
  await nc.flush();
  return seen;
}

async function readAll(reply: ReplyStream): Promise<unknown[]> {
  const items: unknown[] = [];
  for await (const item of reply) items.push(item);
  return items;
}

describe("credit a requester cannot inflate", () => {
  it("cuts a credit of 1,000,000 to the producer's maximum and stops once the reader vanishes", async () => {
    const subject = uniqueSubject("greedy");
    let pulled = 0;
    const served = await serve(sides.server, subject, () => endlessBatches(() => pulled++), {
      maxCredit: 4,
      consumerTimeoutMs: 300,
    });
    const greedy = await connect({ servers: sides.server.getServer() });
    const seen = await rawRequest(greedy, subject, "1000000");
    await until(() => seen.length >= 4, "the first batches");
    expect(seen[0]?.headers?.get(HEADERS.credit)).toBe("4");
    await greedy.close(); // gone without a word: no grant will ever come

    const result = await served.results[0];
    expect(result?.outcome).toBe("consumer-gone");
    expect(result?.batches).toBe(4);
    expect(pulled).toBeLessThanOrEqual(6);
    served.stop();
  });

  it("lets a reader that asked for more read on at the window the producer allows", async () => {
    const subject = uniqueSubject("adopt");
    const served = await serve(
      sides.server,
      subject,
      () => ({
        kind: "stream",
        items: Array.from({ length: 60 }, (_, i) => new Uint8Array(BATCH - 16).fill(i)),
      }),
      { maxCredit: 3 },
    );
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      credit: 16,
    });
    const items = (await readAll(reply)) as Uint8Array[];
    expect(items.map((item) => item[0])).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(await served.results[0]).toMatchObject({ outcome: "completed" });
    served.stop();
  });
});

describe("a worker's budget of unread bytes", () => {
  it("keeps what all its streams leave unread within the budget, however many readers never read", async () => {
    const subject = uniqueSubject("crowd");
    const limit = 4 * BATCH;
    const budget = new ByteBudget(limit);
    let mostOut = 0;
    // Every publish is checked: the budget has already reserved the batch being sent.
    const publish: NatsConnection["publish"] = (...args) => {
      mostOut = Math.max(mostOut, budget.used);
      sides.server.publish(...args);
    };
    const watched = new Proxy(sides.server, {
      get(target, property) {
        if (property === "publish") return publish;
        const value: unknown = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const served = await serve(watched, subject, () => endlessBatches(), {
      budget,
      consumerTimeoutMs: 300,
    });
    const crowd = await connect({ servers: sides.server.getServer() });
    await Promise.all(Array.from({ length: 6 }, () => rawRequest(crowd, subject, "32")));
    await until(() => served.results.length === 6, "every request");
    const results = await Promise.all(served.results);

    expect(mostOut).toBeGreaterThan(0);
    expect(mostOut).toBeLessThanOrEqual(limit);
    for (const result of results) expect(result.outcome).not.toBe("completed");
    const full = results.filter((r) => r.error?.code === "UNAVAILABLE");
    expect(full.length).toBeGreaterThan(0);
    expect(full[0]?.error?.message).toMatch(/stayed full/);
    expect(budget.used).toBe(0);

    // With the crowd gone, a reader that reads gets a reply larger than the whole budget.
    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
    });
    let read = 0;
    for await (const _ of reply) if (++read === 40) break;
    expect(read).toBe(40);
    await crowd.close();
    served.stop();
  });
});

describe("a stranger reading the inboxes", () => {
  it("can neither cancel, grant credit to, nor forge batches of another requester's stream", async () => {
    const subject = uniqueSubject("victim");
    const items = 640;
    const served = await serve(sides.server, subject, () => ({
      kind: "stream",
      items: (function* () {
        for (let i = 0; i < items; i++) yield { i, pad: new Uint8Array(16 * 1024).fill(i & 0xff) };
      })(),
    }));
    // The stranger reads every inbox, the victim's replies and the producer's control subject.
    const victimPrefix = uniquePrefix();
    const stranger = sides.observer;
    const replies: Msg[] = [];
    const controls: Msg[] = [];
    stranger.subscribe(`${victimPrefix}.>`, {
      callback: (err, m) => {
        if (!err) replies.push(m);
      },
    });
    stranger.subscribe("_INBOX.>", {
      callback: (err, m) => {
        if (!err) controls.push(m);
      },
    });
    await stranger.flush();

    const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
      codec: msgpackCodec,
      credit: 2,
      inboxPrefix: victimPrefix,
    });
    const iterator = reply[Symbol.asyncIterator]();
    const received: unknown[] = [(await iterator.next()).value];
    await until(() => replies.length > 0 && controls.length > 0, "the stream's first messages");

    const first = replies[0]!;
    const control = first.headers!.get(HEADERS.control);
    const stream = first.headers!.get(HEADERS.stream);
    const inbox = first.subject;
    const nextSeq = String(
      Math.max(...replies.map((m) => Number(m.headers!.get(HEADERS.seq)))) + 1,
    );
    const forgedBatch = (extra: Record<string, string>, payload: Uint8Array) => {
      const h = headers();
      h.set(HEADERS.stream, stream);
      h.set(HEADERS.seq, nextSeq);
      h.set(HEADERS.auth, first.headers!.get(HEADERS.auth)); // a real tag, for other headers
      for (const [name, value] of Object.entries(extra)) h.set(name, value);
      stranger.publish(inbox, payload, { headers: h });
    };
    const jsonHeaders = headers();
    jsonHeaders.set(HEADERS.contentType, "application/json");

    // Cancel and credit as a plain client would send them, and copies of the victim's own.
    stranger.publish(control, jsonCodec.encode({ cancel: true }), { headers: jsonHeaders });
    stranger.publish(control, msgpackCodec.encode({ credit: 1_000_000 }));
    for (const grant of controls.filter((m) => m.subject === control)) {
      stranger.publish(control, grant.data, { headers: grant.headers! });
    }
    // A last batch that ends the stream early, an error, a batch of forged items, and a copy.
    forgedBatch({ [HEADERS.end]: "1", [HEADERS.items]: "25" }, new Uint8Array(0));
    forgedBatch(
      { [HEADERS.error]: "NOT_FOUND" },
      msgpackCodec.encode({ error: { code: "NOT_FOUND", message: "forged", retryable: false } }),
    );
    forgedBatch({}, msgpackCodec.encode({ i: -1, pad: new Uint8Array(4) }));
    stranger.publish(inbox, first.data, { headers: first.headers! });
    await stranger.flush();

    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      received.push(next.value);
    }
    expect(received).toHaveLength(items);
    const intact = (received as Array<{ i: number; pad: Uint8Array }>).every(
      (item, index) => item.i === index && item.pad[0] === (index & 0xff),
    );
    expect(intact).toBe(true);
    const stats = await reply.done;
    expect(stats.items).toBe(items);
    expect(stats.ignored).toBeGreaterThanOrEqual(4);
    const result = await served.results[0];
    expect(result?.outcome).toBe("completed");
    expect(result?.rejectedControls).toBeGreaterThanOrEqual(3);
    served.stop();
  });

  it("cannot tell where a requester's next reply will go", async () => {
    const subject = uniqueSubject("inboxes");
    const served = await serve(sides.server, subject, () => ({ kind: "value", value: "ok" }));
    const prefix = uniquePrefix();
    const seen: string[] = [];
    sides.observer.subscribe(`${prefix}.>`, {
      callback: (err, m) => {
        if (!err) seen.push(m.subject);
      },
    });
    await sides.observer.flush();
    for (let i = 0; i < 20; i++) {
      const reply = requestReply(sides.client, subject, msgpackCodec.encode({}), undefined, {
        codec: msgpackCodec,
        inboxPrefix: prefix,
      });
      expect(await readAll(reply)).toEqual(["ok"]);
    }
    await until(() => seen.length === 20, "every reply");
    const tokens = seen.map((s) => s.split(".").at(-1)!);
    expect(new Set(tokens).size).toBe(20);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{16}$/);
    served.stop();
  });
});

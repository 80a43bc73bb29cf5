import { HEADERS, jsonCodec, msgpackCodec } from "@entente/protocol";
import { headers, type MsgHdrs } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { ByteBudget, OutstandingBatches } from "../src/stream/budget.ts";
import { ControlGate } from "../src/stream/control-gate.ts";
import { frameHeaders } from "../src/stream/frame-headers.ts";
import { WorkSlice } from "../src/stream/slice.ts";
import { newStreamKey, StreamKey } from "../src/stream/stream-key.ts";

function controlMessage(
  key: StreamKey,
  stream: string,
  seq: number,
  control: unknown,
): { h: MsgHdrs; body: Uint8Array } {
  const body = msgpackCodec.encode(control);
  const h = headers();
  h.set(HEADERS.contentType, msgpackCodec.contentType);
  h.set(HEADERS.controlSeq, String(seq));
  h.set(HEADERS.auth, key.controlTag(stream, seq, body));
  return { h, body };
}

describe("StreamKey", () => {
  const key = new StreamKey(newStreamKey());
  const batch = () =>
    frameHeaders({ codec: msgpackCodec, stream: "s1", seq: 3, end: true, items: 7 });
  const payload = msgpackCodec.encode(["a", "b"]);

  it("accepts a batch tagged with the key", () => {
    const h = batch();
    h.set(HEADERS.auth, key.batchTag(h, payload));
    expect(key.verifyBatch(h, payload)).toBe(true);
  });

  it("refuses a batch without a tag, with another key's tag, or with anything changed", () => {
    const untagged = batch();
    expect(key.verifyBatch(untagged, payload)).toBe(false);

    const otherKey = batch();
    otherKey.set(HEADERS.auth, new StreamKey(newStreamKey()).batchTag(otherKey, payload));
    expect(key.verifyBatch(otherKey, payload)).toBe(false);

    const tagged = batch();
    const tag = key.batchTag(tagged, payload);
    tagged.set(HEADERS.auth, tag);
    expect(key.verifyBatch(tagged, msgpackCodec.encode(["a", "forged"]))).toBe(false);
    for (const [name, value] of [
      [HEADERS.seq, "4"],
      [HEADERS.items, "25"],
      [HEADERS.error, "NOT_FOUND"],
      [HEADERS.control, "_INBOX.elsewhere"],
      [HEADERS.credit, "1000000"],
    ] as const) {
      const changed = batch();
      changed.set(HEADERS.auth, tag);
      changed.set(name, value);
      expect(key.verifyBatch(changed, payload), name).toBe(false);
    }
  });

  it("makes fresh, distinct keys", () => {
    const keys = new Set(Array.from({ length: 1000 }, () => newStreamKey()));
    expect(keys.size).toBe(1000);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe("ControlGate", () => {
  const secret = newStreamKey();
  const key = new StreamKey(secret);

  it("accepts the requester's numbered, tagged messages", () => {
    const gate = new ControlGate("s1", key, msgpackCodec);
    const grant = controlMessage(key, "s1", 1, { credit: 4 });
    expect(gate.admit(grant.h, grant.body)).toEqual({ kind: "accept", control: { credit: 4 } });
    const cancel = controlMessage(key, "s1", 2, { cancel: true });
    expect(gate.admit(cancel.h, cancel.body)).toEqual({
      kind: "accept",
      control: { cancel: true },
    });
  });

  it("refuses an untagged cancel, a forged grant and copies of earlier messages", () => {
    const gate = new ControlGate("s1", key, msgpackCodec);
    const plain = headers();
    plain.set(HEADERS.contentType, "application/json");
    expect(gate.admit(plain, jsonCodec.encode({ cancel: true }))).toEqual({
      kind: "reject",
      reason: "unauthenticated",
    });

    const stranger = new StreamKey(newStreamKey());
    const forged = controlMessage(stranger, "s1", 1, { credit: 1_000_000 });
    expect(gate.admit(forged.h, forged.body).kind).toBe("reject");

    const first = controlMessage(key, "s1", 1, { credit: 2 });
    expect(gate.admit(first.h, first.body).kind).toBe("accept");
    expect(gate.admit(first.h, first.body)).toEqual({ kind: "reject", reason: "repeated" });

    // A copy renumbered to look new no longer matches its tag.
    const renumbered = controlMessage(key, "s1", 2, { credit: 2 });
    renumbered.h.set(HEADERS.auth, first.h.get(HEADERS.auth));
    expect(gate.admit(renumbered.h, renumbered.body)).toEqual({
      kind: "reject",
      reason: "unauthenticated",
    });
  });

  it("refuses a message the same requester sent for another stream", () => {
    const gate = new ControlGate("s2", key, msgpackCodec);
    const other = controlMessage(key, "s1", 5, { cancel: true });
    expect(gate.admit(other.h, other.body).kind).toBe("reject");
  });

  it("accepts any well-formed message for a requester that sent no key", () => {
    const gate = new ControlGate("s1", undefined, msgpackCodec);
    expect(gate.admit(headers(), msgpackCodec.encode({ credit: 3 }))).toEqual({
      kind: "accept",
      control: { credit: 3 },
    });
    expect(gate.admit(headers(), msgpackCodec.encode({ credit: "lots" }))).toEqual({
      kind: "reject",
      reason: "malformed",
    });
  });
});

describe("ByteBudget", () => {
  it("admits batches while they fit and tells listeners of every release", () => {
    const budget = new ByteBudget(1000);
    let released = 0;
    const stop = budget.onRelease(() => released++);
    expect([budget.tryTake(400), budget.tryTake(400), budget.tryTake(400)]).toEqual([
      true,
      true,
      false,
    ]);
    budget.release(400);
    expect(released).toBe(1);
    expect(budget.tryTake(400)).toBe(true);
    expect(budget.used).toBe(800);
    stop();
    budget.release(800);
    expect(released).toBe(1);
    expect(budget.used).toBe(0);
  });

  it("lets one batch larger than the whole budget through when nothing else is out", () => {
    const budget = new ByteBudget(100);
    expect(budget.tryTake(500)).toBe(true);
    expect(budget.tryTake(1)).toBe(false);
    budget.release(500);
    expect(budget.tryTake(1)).toBe(true);
  });
});

describe("OutstandingBatches", () => {
  it("frees the oldest batches a grant covers, and no more than are out", () => {
    const out = new OutstandingBatches();
    for (const size of [10, 20, 30, 40]) out.sent(size);
    expect(out.granted(2)).toBe(30);
    expect(out).toMatchObject({ count: 2, bytes: 70 });
    expect(out.granted(1_000_000)).toBe(70);
    expect(out).toMatchObject({ count: 0, bytes: 0 });
    out.sent(5);
    expect(out.clear()).toBe(5);
  });

  it("stays small over a long stream", () => {
    const out = new OutstandingBatches();
    for (let i = 0; i < 100_000; i++) {
      out.sent(1);
      if (i % 2 === 1) out.granted(2);
    }
    expect(out.count).toBe(0);
  });
});

describe("WorkSlice", () => {
  it("is full after its units, and starts again on reset", () => {
    const slice = new WorkSlice(3);
    expect([slice.add(), slice.add(), slice.add(), slice.add()]).toEqual([
      false,
      false,
      true,
      false,
    ]);
    slice.reset();
    expect([slice.add(), slice.add(), slice.add()]).toEqual([false, false, true]);
  });
});

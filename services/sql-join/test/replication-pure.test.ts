/** The pure parts of replication: counting reads, what a replica is worth, and when it is served. */
import { describe, expect, it } from "vitest";
import { feedVerdict, servable, takesChange } from "../src/replication/freshness.ts";
import { ReadCounter } from "../src/replication/read-counter.ts";
import { decayed, toEvict, withHits } from "../src/replication/value.ts";

describe("ReadCounter", () => {
  it("says an id is wanted once read the threshold number of times within the window", () => {
    const reads = new ReadCounter({ threshold: 3, windowMs: 1_000, maxKeys: 10 });
    expect(reads.record("a", 0)).toBe(false);
    expect(reads.record("a", 400)).toBe(false);
    expect(reads.record("a", 800)).toBe(true);
    // The first read has left the window.
    expect(reads.record("b", 0)).toBe(false);
    expect(reads.record("b", 600)).toBe(false);
    expect(reads.record("b", 1_100)).toBe(false);
    expect(reads.record("b", 1_200)).toBe(true);
  });

  it("forgets the least recently read ids beyond its size, and on request", () => {
    const reads = new ReadCounter({ threshold: 2, windowMs: 1_000, maxKeys: 2 });
    reads.record("a", 0);
    reads.record("b", 1);
    reads.record("a", 2);
    reads.record("c", 3);
    expect(reads.size).toBe(2);
    // b was forgotten: one more read of it is its first.
    expect(reads.record("b", 4)).toBe(false);
    reads.forget("b");
    expect(reads.record("b", 5)).toBe(false);
  });
});

describe("replica worth and eviction", () => {
  it("halves hits every half-life", () => {
    const worth = withHits(undefined, 4, 0, 1_000);
    expect(decayed(worth, 1_000, 1_000)).toBeCloseTo(2);
    expect(withHits(worth, 1, 2_000, 1_000).score).toBeCloseTo(2);
  });

  it("evicts nothing within the budget", () => {
    expect(toEvict([{ key: "a", bytes: 10, worth: undefined }], 10, 0, 1_000)).toEqual([]);
  });

  it("evicts the fewest hits per byte first until within the budget", () => {
    const held = [
      { key: "hot", bytes: 100, worth: { score: 50, at: 0 } },
      { key: "cold", bytes: 100, worth: { score: 1, at: 0 } },
      { key: "big", bytes: 1_000, worth: { score: 20, at: 0 } },
      { key: "unread", bytes: 10, worth: undefined },
    ];
    expect(toEvict(held, 1_210, 0, 1_000)).toEqual([]);
    expect(toEvict(held, 1_150, 0, 1_000)).toEqual(["unread", "cold"]);
    expect(toEvict(held, 200, 0, 1_000)).toEqual(["unread", "cold", "big"]);
  });

  it("lets old hits count less than new ones", () => {
    const held = [
      { key: "once-hot", bytes: 100, worth: { score: 40, at: 0 } },
      { key: "now-warm", bytes: 100, worth: { score: 10, at: 10_000 } },
    ];
    expect(toEvict(held, 100, 10_000, 1_000)).toEqual(["once-hot"]);
  });
});

describe("freshness", () => {
  it("serves replicas only while the last committed poll started within the bound", () => {
    expect(servable(undefined, 1_000, 500)).toBe(false);
    expect(servable(600, 1_000, 500)).toBe(true);
    expect(servable(500, 1_000, 500)).toBe(true);
    expect(servable(499, 1_000, 500)).toBe(false);
  });

  it("trusts no poll from before the worker started", () => {
    expect(servable(900, 1_000, 500, 950)).toBe(false);
    expect(servable(960, 1_000, 500, 950)).toBe(true);
  });

  it("says a position is lost when the stream no longer holds what follows it", () => {
    expect(feedVerdict(0, { first: 0, head: 0 })).toBe("ok");
    expect(feedVerdict(5, { first: 1, head: 9 })).toBe("ok");
    expect(feedVerdict(5, { first: 6, head: 9 })).toBe("ok");
    // Everything expired, nothing missed.
    expect(feedVerdict(9, { first: 10, head: 9 })).toBe("ok");
    expect(feedVerdict(5, { first: 7, head: 9 })).toBe("lost");
    expect(feedVerdict(5, { first: 10, head: 9 })).toBe("lost");
    // The stream was made anew.
    expect(feedVerdict(5, { first: 0, head: 2 })).toBe("lost");
  });

  it("applies a change only when newer than the replica", () => {
    expect(takesChange(4, 5)).toBe(true);
    expect(takesChange(5, 5)).toBe(false);
    expect(takesChange(6, 5)).toBe(false);
  });
});

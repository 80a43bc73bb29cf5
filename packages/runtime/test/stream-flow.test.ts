import { describe, expect, it } from "vitest";
import { CreditBalance, CreditWindow, normalizeCredit } from "../src/stream/credit.ts";
import { SequenceChecker, type SequenceVerdict } from "../src/stream/sequence.ts";

function run(seqs: number[]): SequenceVerdict[] {
  const checker = new SequenceChecker();
  return seqs.map((seq) => checker.observe(seq));
}

function failure(verdict: SequenceVerdict | undefined) {
  if (verdict?.kind !== "fail") throw new Error(`expected a failure, got ${verdict?.kind}`);
  return { code: verdict.error.code, details: verdict.error.details };
}

describe("SequenceChecker", () => {
  it("delivers batches that arrive in order", () => {
    const checker = new SequenceChecker();
    for (let seq = 0; seq < 5; seq++) expect(checker.observe(seq)).toEqual({ kind: "deliver" });
    expect(checker.expected).toBe(5);
  });

  it("holds a batch ahead of its turn, then reports the gap when another follows", () => {
    const verdicts = run([0, 1, 3, 4]);
    expect(verdicts[2]).toEqual({ kind: "hold" });
    expect(failure(verdicts[3])).toEqual({ code: "STREAM_GAP", details: { expected: 2, got: 3 } });
  });

  it("reports the gap when the grace period ends", () => {
    const checker = new SequenceChecker();
    checker.observe(0);
    expect(checker.observe(2).kind).toBe("hold");
    expect(checker.holding).toBe(true);
    expect(failure(checker.gap())).toEqual({
      code: "STREAM_GAP",
      details: { expected: 1, got: 2 },
    });
  });

  it("reports a batch that arrives after a later one as out of order", () => {
    const verdicts = run([0, 1, 3, 2]);
    expect(failure(verdicts[3])).toEqual({
      code: "STREAM_OUT_OF_ORDER",
      details: { expected: 2, got: 3 },
    });
  });

  it("recognizes repeats of batches taken or held, and carries on after them", () => {
    expect(run([0, 1, 1])[2]).toEqual({ kind: "repeat" });
    expect(run([0, 1, 2, 0])[3]).toEqual({ kind: "repeat" });
    expect(run([0, 2, 2])[2]).toEqual({ kind: "repeat" });
    expect(run([0, 0, 1])[2]).toEqual({ kind: "deliver" });
  });

  it("reports a stream that starts after its first batch", () => {
    const verdicts = run([1, 2]);
    expect(verdicts[0]).toEqual({ kind: "hold" });
    expect(failure(verdicts[1])).toEqual({ code: "STREAM_GAP", details: { expected: 0, got: 1 } });
  });
});

describe("CreditWindow", () => {
  it("grants back half a window at a time", () => {
    const window = new CreditWindow(8);
    const grants = Array.from({ length: 12 }, () => window.consumed());
    expect(grants).toEqual([0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 4]);
  });

  it("grants every batch back with a window of one", () => {
    const window = new CreditWindow(1);
    expect([window.consumed(), window.consumed()]).toEqual([1, 1]);
  });

  it("handles odd windows", () => {
    const window = new CreditWindow(3);
    expect([window.consumed(), window.consumed(), window.consumed()]).toEqual([1, 1, 1]);
  });

  it("rejects a useless window", () => {
    expect(() => new CreditWindow(0)).toThrow(RangeError);
  });
});

describe("CreditBalance", () => {
  it("spends and refills credit", () => {
    const balance = new CreditBalance(2);
    expect([balance.tryTake(), balance.tryTake(), balance.tryTake()]).toEqual([true, true, false]);
    balance.grant(1);
    expect(balance.available).toBe(1);
    expect(balance.tryTake()).toBe(true);
  });

  it("never holds more than its window, whatever is granted", () => {
    const balance = new CreditBalance(4);
    balance.grant(1_000_000);
    expect(balance.available).toBe(4);
    balance.tryTake();
    balance.grant(3);
    expect(balance.available).toBe(4);
  });

  it("keeps producer and consumer within the window", () => {
    // Simulated exchange: the producer sends while it has credit, the consumer reads one batch
    // at a time and grants back; nothing in between ever exceeds the window.
    const windowSize = 6;
    const balance = new CreditBalance(windowSize);
    const window = new CreditWindow(windowSize);
    let inFlight = 0;
    let sent = 0;
    for (let step = 0; step < 1000; step++) {
      while (balance.tryTake()) {
        inFlight++;
        sent++;
      }
      expect(inFlight).toBeLessThanOrEqual(windowSize);
      inFlight--;
      const grant = window.consumed();
      if (grant > 0) balance.grant(grant);
    }
    expect(sent).toBeGreaterThanOrEqual(1000);
  });
});

describe("normalizeCredit", () => {
  it("reads header values and falls back on nonsense", () => {
    expect(normalizeCredit("16", 8)).toBe(16);
    expect(normalizeCredit(" 3 ", 8)).toBe(3);
    expect(normalizeCredit("0", 8)).toBe(8);
    expect(normalizeCredit("-2", 8)).toBe(8);
    expect(normalizeCredit("1.5", 8)).toBe(8);
    expect(normalizeCredit("lots", 8)).toBe(8);
    expect(normalizeCredit(undefined, 8)).toBe(8);
    expect(normalizeCredit(10 ** 9, 8)).toBe(1_000_000);
  });

  it("cuts a requester's window to the producer's maximum", () => {
    expect(normalizeCredit("1000000", 8, 32)).toBe(32);
    expect(normalizeCredit("16", 8, 32)).toBe(16);
    expect(normalizeCredit(undefined, 8, 4)).toBe(4);
  });
});

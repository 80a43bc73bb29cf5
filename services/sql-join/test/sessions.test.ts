/**
 * Interactive transactions' bookkeeping on a simulated clock, with stand-in transactions:
 * statements of one session run one at a time, the idle clock runs only while none is queued,
 * and an idle session is rolled back.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SessionRegistry } from "../src/writes/sessions.ts";
import type { Transaction } from "../src/writes/transaction.ts";

let rolledBack: number;

function registry(idleTimeoutMs: number) {
  return new SessionRegistry({
    worker: "w1",
    idleTimeoutMs,
    maxSessions: 2,
    begin: () =>
      ({
        rollback: async () => {
          rolledBack++;
        },
      }) as unknown as Transaction,
  });
}

const statement = (ms: number) => () => new Promise<string>((r) => setTimeout(() => r("ok"), ms));

beforeEach(() => {
  vi.useFakeTimers();
  rolledBack = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe("interactive transactions", () => {
  it("runs a session's statements one after another", async () => {
    const sessions = registry(1_000);
    const { id } = sessions.open();
    const order: string[] = [];
    const first = sessions.run(id, async () => {
      await statement(100)();
      order.push("first");
    });
    const second = sessions.run(id, async () => {
      order.push("second");
    });
    await vi.advanceTimersByTimeAsync(150);
    await Promise.all([first, second]);
    expect(order).toEqual(["first", "second"]);
  });

  it("times idleness from the last queued statement, not an earlier one", async () => {
    const sessions = registry(1_000);
    const { id } = sessions.open();
    // Two statements queued at once, then a third a while after they are done.
    void sessions.run(id, statement(100));
    void sessions.run(id, statement(100));
    await vi.advanceTimersByTimeAsync(700);
    void sessions.run(id, statement(100));
    await vi.advanceTimersByTimeAsync(600); // 1.3 s: 500 ms after the third statement ended
    expect(sessions.holds(id)).toBe(true);
    await vi.advanceTimersByTimeAsync(600);
    expect([sessions.holds(id), rolledBack]).toEqual([false, 1]);
  });

  it("rolls back a session whose statement failed, and refuses it afterwards", async () => {
    const sessions = registry(1_000);
    const { id } = sessions.open();
    await expect(
      sessions.run(id, async () => {
        throw new Error("constraint violated");
      }),
    ).rejects.toThrow(`constraint violated (transaction ${id} was rolled back)`);
    expect(rolledBack).toBe(1);
    expect(() => sessions.run(id, statement(1))).toThrow(/no open transaction/);
  });

  it("names its worker in its ids and holds at most maxSessions", () => {
    const sessions = registry(1_000);
    const { id } = sessions.open();
    expect(SessionRegistry.ownerOf(id)).toBe("w1");
    sessions.open();
    expect(() => sessions.open()).toThrow(/its limit \(writes.maxSessions\)/);
  });
});

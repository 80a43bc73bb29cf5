import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { abortReason, Deadline, foldBodyTimeout } from "../src/deadline.ts";

const NOW = 1_000_000;

function timers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}

describe("abortReason: the one mapping from an abort to an error", () => {
  it("is the signal's own EntenteError when it carries one", () => {
    const reason = new EntenteError("SHUTTING_DOWN", "worker stops");
    expect(abortReason(AbortSignal.abort(reason), Deadline.after(0), "q")).toBe(reason);
  });

  it("is DEADLINE_EXCEEDED once the deadline has passed, whatever else aborted", () => {
    const error = abortReason(AbortSignal.abort("client left"), Deadline.after(0), "entente.q");
    expect(error.code).toBe("DEADLINE_EXCEEDED");
    expect(error.message).toBe("entente.q: deadline exceeded");
  });

  it("reads a timed-out signal as DEADLINE_EXCEEDED even without a deadline", () => {
    const timedOut = AbortSignal.abort(new DOMException("late", "TimeoutError"));
    expect(abortReason(timedOut, undefined, "scan").code).toBe("DEADLINE_EXCEEDED");
  });

  it("is CANCELLED otherwise, keeping the signal's reason as the cause", () => {
    const error = abortReason(AbortSignal.abort("client left"), Deadline.after(60_000), "q");
    expect(error.code).toBe("CANCELLED");
    expect(error.message).toBe("q: request cancelled");
    expect(error.cause).toBe("client left");
    expect(abortReason(undefined, undefined, "q").code).toBe("CANCELLED");
  });
});

describe("foldBodyTimeout", () => {
  const header = Deadline.after(10_000, NOW);

  it("shortens the header's deadline to the body's timeoutMs", () => {
    expect(foldBodyTimeout(header, { timeoutMs: 250 }, NOW).at).toBe(NOW + 250);
  });

  it("never lengthens it: the header (already capped by the host's maximum) still bounds it", () => {
    expect(foldBodyTimeout(header, { timeoutMs: 60_000 }, NOW)).toBe(header);
  });

  it("ignores anything but a positive number at the top level", () => {
    for (const body of [
      undefined,
      null,
      "timeoutMs",
      [250],
      { timeoutMs: "250" },
      { timeoutMs: 0 },
      { timeoutMs: -5 },
      { timeoutMs: Number.NaN },
      { nested: { timeoutMs: 250 } },
    ]) {
      expect(foldBodyTimeout(header, body, NOW)).toBe(header);
    }
  });
});

describe("Deadline.signal", () => {
  it("aborts at the deadline with DEADLINE_EXCEEDED", async () => {
    const budget = Deadline.after(20).signal(undefined, "sub-query");
    const reason = await new Promise((resolve) =>
      budget.signal.addEventListener("abort", () => resolve(budget.signal.reason)),
    );
    expect(reason).toMatchObject({
      code: "DEADLINE_EXCEEDED",
      message: "sub-query: deadline exceeded",
    });
  });

  it("is aborted at once when the deadline has passed or a linked signal has aborted", () => {
    expect(Deadline.after(0).signal().signal.reason).toMatchObject({ code: "DEADLINE_EXCEEDED" });
    const cancel = new EntenteError("CANCELLED", "caller left");
    const linked = Deadline.after(60_000).signal([undefined, AbortSignal.abort(cancel)]);
    expect(linked.signal.reason).toBe(cancel);
  });

  it("follows its parent's abort, with the parent's reason", () => {
    const parent = new AbortController();
    const child = Deadline.after(60_000).within(5_000).signal(parent.signal);
    expect(child.signal.aborted).toBe(false);
    const reason = new EntenteError("SHUTTING_DOWN", "stopping");
    parent.abort(reason);
    expect(child.signal.reason).toBe(reason);
  });

  it("leaves no timer behind once released, and no longer follows its parent", () => {
    const before = timers();
    const parent = new AbortController();
    const child = Deadline.after(60_000).signal(parent.signal);
    expect(timers()).toBe(before + 1);
    child.release();
    expect(timers()).toBe(before);
    parent.abort();
    expect(child.signal.aborted).toBe(false);
  });

  it("lets its timer go when its parent aborts first, and with `using`", () => {
    const before = timers();
    const parent = new AbortController();
    const child = Deadline.after(60_000).signal(parent.signal);
    parent.abort();
    expect(child.signal.aborted).toBe(true);
    expect(timers()).toBe(before);
    {
      using scoped = Deadline.after(60_000).signal();
      expect(scoped.signal.aborted).toBe(false);
      expect(timers()).toBe(before + 1);
    }
    expect(timers()).toBe(before);
  });
});

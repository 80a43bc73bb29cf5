/**
 * The tier move machine with stand-ins for its effects, on a simulated clock: which acts run, in
 * which order, what is saved before each, how mismatches, retryable and final errors end, and
 * where a move resumed from a saved record picks up.
 */
import { EntenteError } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import {
  type CommitInput,
  type CopyInput,
  type DeleteInput,
  type DeleteOutput,
  type ExpireInput,
  type MoveData,
  type MovedFile,
  type MovePolicy,
  moveMachine,
  newMove,
  type PlanOutput,
  progressOf,
  type VerifyInput,
  type VerifyOutput,
} from "../src/tiers/move-machine.ts";

/** 2025-03-31T12:00Z: with 10 days hot, the target watermark is 2025-03-21. */
const NOW = Date.parse("2025-03-31T12:00:00.000Z");

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

interface Script {
  plan?: () => PlanOutput;
  copy?: (input: CopyInput) => MovedFile[];
  verify?: (input: VerifyInput) => VerifyOutput;
  commit?: (input: CommitInput) => number;
  delete?: (input: DeleteInput) => DeleteOutput;
  expire?: (input: ExpireInput) => void;
  persistFailsAt?: number;
}

const fileOf = (day: string, copy: number): MovedFile => ({
  path: `data/day=${day}/m-${day}-g${copy}.parquet`,
  rowCount: 10,
});

const okVerify = (input: VerifyInput): VerifyOutput => ({
  ok: true,
  hotRows: 10 * input.files.length,
  coldRows: 10 * input.files.length,
  hotChecksum: "a",
  coldChecksum: "a",
});

function world(
  move: MoveData,
  script: Script,
  options: { policy?: Partial<MovePolicy>; graceMs?: number; start?: number } = {},
) {
  const clock = new SimulatedClock();
  clock.set(options.start ?? NOW);
  const acts: string[] = [];
  const saved: MoveData[] = [];
  const commits: CommitInput[] = [];
  const machine = moveMachine.provide({
    actors: {
      persist: fromPromise<void, { move: MoveData }>(async ({ input }) => {
        if (script.persistFailsAt === saved.length) throw new Error("wrong last sequence");
        saved.push(structuredClone(input.move));
      }),
      plan: fromPromise(async () => {
        acts.push("plan");
        return script.plan ? script.plan() : { watermark: null, firstDay: "2025-03-18" };
      }),
      copyDay: fromPromise(async ({ input }: { input: CopyInput }) => {
        acts.push(`copy ${input.day}#${input.copy}${input.last ? " last" : ""}`);
        return { files: script.copy ? script.copy(input) : [fileOf(input.day, input.copy)] };
      }),
      verifyDay: fromPromise(async ({ input }: { input: VerifyInput }) => {
        acts.push(`verify ${input.day}`);
        return (script.verify ?? okVerify)(input);
      }),
      commit: fromPromise(async ({ input }: { input: CommitInput }) => {
        acts.push(`commit ${input.watermark}`);
        commits.push(input);
        return { committedAt: script.commit ? script.commit(input) : clock.now() };
      }),
      deleteDay: fromPromise(async ({ input }: { input: DeleteInput }) => {
        acts.push(`delete ${input.day}#${input.attempt}${input.first ? " first" : ""}`);
        return script.delete ? script.delete(input) : { deleted: input.rows };
      }),
      expire: fromPromise(async ({ input }: { input: ExpireInput }) => {
        acts.push(`expire ${input.before}`);
        script.expire?.(input);
        return { removedRows: 3, removedFiles: 1 };
      }),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      move,
      policy: {
        maxAttempts: 3,
        backoffMs: 100,
        maxBackoffMs: 1_000,
        maxCopies: 3,
        maxDays: 31,
        ...options.policy,
      },
      graceMs: options.graceMs ?? 5_000,
      coldRetentionDays: 100,
      now: () => clock.now(),
    },
  });
  return {
    actor,
    acts,
    saved,
    commits,
    clock,
    async start() {
      actor.start();
      for (let i = 0; i < 100; i++) await settle();
    },
    async advance(ms: number) {
      clock.increment(ms);
      for (let i = 0; i < 100; i++) await settle();
    },
    get value() {
      return actor.getSnapshot().value;
    },
    get move() {
      return actor.getSnapshot().context.move;
    },
  };
}

const fresh = (columnType: "date" | "timestamp" = "date") =>
  newMove({ id: "m1", table: "events", columnType, hotRetentionDays: 10, now: NOW });

describe("the tier move machine", () => {
  it("copies, verifies and commits every old day, deletes after the grace, then expires", async () => {
    const w = world(fresh(), {});
    await w.start();
    // Days 18, 19, 20 (the target is the 21st): copied, verified, committed in one snapshot.
    expect(w.acts).toEqual([
      "plan",
      "copy 2025-03-18#0",
      "copy 2025-03-19#0",
      "copy 2025-03-20#0 last",
      "verify 2025-03-18",
      "verify 2025-03-19",
      "verify 2025-03-20",
      "commit 2025-03-21",
    ]);
    expect(w.commits[0]?.files.map((f) => f.path)).toEqual([
      "data/day=2025-03-18/m-2025-03-18-g0.parquet",
      "data/day=2025-03-19/m-2025-03-19-g0.parquet",
      "data/day=2025-03-20/m-2025-03-20-g0.parquet",
    ]);
    expect(w.value).toEqual({ grace: "waiting" });
    // Nothing is deleted before the grace is over.
    await w.advance(4_999);
    expect(w.acts).toHaveLength(8);
    await w.advance(1);
    expect(w.acts.slice(8)).toEqual([
      "delete 2025-03-18#1 first",
      "delete 2025-03-19#1",
      "delete 2025-03-20#1",
      "expire 2024-12-21",
    ]);
    expect(w.value).toBe("done");
    const progress = progressOf(w.move);
    expect(progress).toMatchObject({
      state: "done",
      from: null,
      to: "2025-03-21",
      partitions: 3,
      copied: 3,
      verified: 3,
      deleted: 3,
      rows: 30,
    });
    expect(w.move.expired).toEqual({ removedRows: 3, removedFiles: 1 });
  });

  it("saves its progress before each act", async () => {
    const w = world(fresh(), {}, { graceMs: 0 });
    await w.start();
    await w.advance(0);
    const states = w.saved.map((m) => m.state);
    // planning, 3 copies, 3 verifies, commit, grace, 3 deletes, expiring, done.
    expect(states).toEqual([
      "planning",
      "copying",
      "copying",
      "copying",
      "verifying",
      "verifying",
      "verifying",
      "committing",
      "grace",
      "deleting",
      "deleting",
      "deleting",
      "expiring",
      "done",
    ]);
    // The grace record holds the commit's time; each delete is saved as under way first.
    expect(w.saved[8]?.committedAt).toBe(NOW);
    expect(w.saved[9]?.days.map((d) => d.status)).toEqual(["deleting", "verified", "verified"]);
  });

  it("moves from the watermark, stops at the day cap, and writes timestamp watermarks", async () => {
    const w = world(
      fresh("timestamp"),
      { plan: () => ({ watermark: "2025-03-01T00:00:00.000Z", firstDay: "2025-01-01" }) },
      { policy: { maxDays: 5 }, graceMs: 0 },
    );
    await w.start();
    await w.advance(0);
    expect(w.move.days.map((d) => d.day)).toEqual([
      "2025-03-01",
      "2025-03-02",
      "2025-03-03",
      "2025-03-04",
      "2025-03-05",
    ]);
    expect(w.commits[0]?.watermark).toBe("2025-03-06T00:00:00.000Z");
    expect(progressOf(w.move)).toMatchObject({
      from: "2025-03-01T00:00:00.000Z",
      to: "2025-03-06T00:00:00.000Z",
    });
  });

  it("commits nothing when no day is old enough, but still expires cold rows", async () => {
    const w = world(fresh(), { plan: () => ({ watermark: "2025-03-21", firstDay: "2025-03-25" }) });
    await w.start();
    expect(w.acts).toEqual(["plan", "expire 2024-12-21"]);
    expect(w.value).toBe("done");
    const empty = world(fresh(), { plan: () => ({ watermark: null, firstDay: null }) });
    await empty.start();
    expect(empty.acts).toEqual(["plan", "expire 2024-12-21"]);
  });

  it("copies a day again when its verify differs, and fails after maxCopies", async () => {
    let mismatches = 1;
    const w = world(fresh(), {
      plan: () => ({ watermark: null, firstDay: "2025-03-20" }),
      verify: (input) =>
        mismatches-- > 0
          ? { ok: false, hotRows: 11, coldRows: 10, hotChecksum: "b", coldChecksum: "a" }
          : okVerify(input),
    });
    await w.start();
    expect(w.acts.slice(0, 6)).toEqual([
      "plan",
      "copy 2025-03-20#0 last",
      "verify 2025-03-20",
      "copy 2025-03-20#1 last",
      "verify 2025-03-20",
      "commit 2025-03-21",
    ]);
    expect(w.commits[0]?.files.map((f) => f.path)).toEqual([
      "data/day=2025-03-20/m-2025-03-20-g1.parquet",
    ]);

    const never = world(fresh(), {
      plan: () => ({ watermark: null, firstDay: "2025-03-20" }),
      verify: () => ({ ok: false, hotRows: 11, coldRows: 10, hotChecksum: "b", coldChecksum: "a" }),
    });
    await never.start();
    expect(never.value).toBe("failed");
    expect(never.acts.filter((a) => a.startsWith("copy"))).toHaveLength(3);
    expect(never.commits).toHaveLength(0);
    expect(never.move.error).toMatch(/day 2025-03-20 of events still differs after 3 copies/);
    expect(never.saved.at(-1)?.state).toBe("failed");
  });

  it("retries a retryable error after its backoff, and fails on another or when attempts run out", async () => {
    let failures = 1;
    const w = world(fresh(), {
      commit: () => {
        if (failures-- > 0) throw new EntenteError("UNAVAILABLE", "disk busy", { retryable: true });
        return NOW;
      },
    });
    await w.start();
    expect(w.acts.filter((a) => a.startsWith("commit"))).toHaveLength(1);
    expect(w.value).toEqual({ committing: "retrying" });
    expect(w.move.lastError).toBe("disk busy");
    await w.advance(99);
    expect(w.acts.filter((a) => a.startsWith("commit"))).toHaveLength(1);
    await w.advance(1);
    expect(w.acts.filter((a) => a.startsWith("commit"))).toHaveLength(2);
    expect(w.value).toEqual({ grace: "waiting" });

    const final = world(fresh(), {
      copy: () => {
        throw new EntenteError("BAD_REQUEST", "no such column");
      },
    });
    await final.start();
    expect(final.value).toBe("failed");
    expect(final.move).toMatchObject({ failedIn: "copying", error: "copying: no such column" });

    const exhausted = world(fresh(), {
      delete: () => {
        throw new EntenteError("UNAVAILABLE", "locked", { retryable: true });
      },
    });
    await exhausted.start();
    await exhausted.advance(5_000);
    for (let i = 0; i < 5; i++) await exhausted.advance(1_000);
    expect(exhausted.value).toBe("failed");
    // Each delete attempt is one of its own (a replacement would take a fresh name).
    expect(exhausted.acts.filter((a) => a.startsWith("delete"))).toEqual([
      "delete 2025-03-18#1 first",
      "delete 2025-03-18#2 first",
      "delete 2025-03-18#3 first",
    ]);
    expect(exhausted.move).toMatchObject({
      failedIn: "deleting",
      error: "deleting: locked (after 3 attempts)",
    });
  });

  it("stops as lost when a save is refused", async () => {
    const w = world(fresh(), { persistFailsAt: 2 });
    await w.start();
    expect(w.value).toBe("lost");
    expect(w.acts).toEqual(["plan", "copy 2025-03-18#0"]);
  });

  it("records a replacement of a day whose rows changed after the copy", async () => {
    const w = world(
      fresh(),
      {
        plan: () => ({ watermark: null, firstDay: "2025-03-20" }),
        delete: (input) => ({
          deleted: 12,
          replaced: { files: [fileOf(input.day, 100 + input.attempt)], rows: 12 },
        }),
      },
      { graceMs: 0 },
    );
    await w.start();
    await w.advance(0);
    expect(w.value).toBe("done");
    expect(w.move.days[0]).toMatchObject({
      status: "deleted",
      rows: 12,
      replacedRows: 2,
      deleted: 12,
      files: [{ path: "data/day=2025-03-20/m-2025-03-20-g101.parquet" }],
    });
  });

  describe("resumed from a saved record", () => {
    async function savedAt(state: string): Promise<MoveData> {
      const w = world(fresh(), {}, { graceMs: 5_000 });
      await w.start();
      await w.advance(5_000);
      const found = w.saved.find((m) => m.state === state);
      if (!found) throw new Error(`no save in ${state}`);
      return structuredClone(found);
    }

    it("copies again only the days not copied yet", async () => {
      const record = await savedAt("copying");
      // Saved before the first copy; mark it done as if the save after it had landed.
      const w = world({ ...record, state: "copying" }, {});
      await w.start();
      expect(w.acts[0]).toBe("copy 2025-03-18#0");
      expect(w.acts).not.toContain("plan");
    });

    it("commits again when the commit was under way, which the effect finds already done", async () => {
      const record = await savedAt("committing");
      const w = world(record, { commit: () => NOW - 2_000 }, { start: NOW + 60_000 });
      await w.start();
      expect(w.acts).toEqual(["commit 2025-03-21"]);
      // The commit happened 62 s ago: the 5 s grace is over.
      await w.advance(0);
      expect(w.acts.slice(1, 2)).toEqual(["delete 2025-03-18#1 first"]);
    });

    it("waits only what is left of the grace", async () => {
      const record = await savedAt("grace");
      const w = world(record, {}, { start: (record.committedAt ?? 0) + 3_000 });
      await w.start();
      expect(w.acts).toEqual([]);
      await w.advance(1_999);
      expect(w.acts).toEqual([]);
      await w.advance(1);
      expect(w.acts[0]).toBe("delete 2025-03-18#1 first");
    });

    it("runs a delete under way again as a new attempt, and skips days deleted", async () => {
      const record = await savedAt("deleting");
      const second = {
        ...record,
        days: record.days.map((d, i) =>
          i === 0
            ? { ...d, status: "deleted" as const, deleted: 10 }
            : i === 1
              ? { ...d, status: "deleting" as const, deletes: 1 }
              : d,
        ),
      };
      const w = world(second, {});
      await w.start();
      expect(w.acts).toEqual(["delete 2025-03-19#2", "delete 2025-03-20#1", "expire 2024-12-21"]);
      expect(w.value).toBe("done");
    });

    it("ends at once for a finished record", async () => {
      const done = world({ ...fresh(), state: "done" }, {});
      await done.start();
      expect([done.value, done.acts]).toEqual(["done", []]);
    });
  });
});

describe("copy file names", () => {
  it("gives each copy attempt a nonce of its own, saved in the move before the copy", async () => {
    const seen: CopyInput[] = [];
    let failOnce = true;
    const w = world(fresh(), {
      copy: (input) => {
        seen.push(input);
        if (input.day === "2025-03-19" && failOnce) {
          failOnce = false;
          throw new EntenteError("UNAVAILABLE", "disk hiccup", { retryable: true });
        }
        return [
          { path: `data/${input.day}/tier-m1-${input.day}-${input.nonce}-0.parquet`, rowCount: 10 },
        ];
      },
    });
    await w.start();
    await w.advance(100);
    const tries = seen.filter((c) => c.day === "2025-03-19");
    expect(tries).toHaveLength(2);
    expect(tries[0]?.nonce).not.toBe(tries[1]?.nonce);
    expect(new Set(seen.map((c) => c.nonce)).size).toBe(seen.length);
    // Each nonce was in the saved record before its copy ran.
    for (const copy of seen) {
      expect(
        w.saved.some((m) => m.days.find((d) => d.day === copy.day)?.nonce === copy.nonce),
      ).toBe(true);
    }
    // The commit adds exactly the files of the last, recorded copy of each day.
    expect(w.commits[0]?.files.map((f) => f.path)).toEqual(
      ["2025-03-18", "2025-03-19", "2025-03-20"].map((day) => {
        const nonce = w.move.days.find((d) => d.day === day)?.nonce;
        return `data/${day}/tier-m1-${day}-${nonce}-0.parquet`;
      }),
    );
  });
});

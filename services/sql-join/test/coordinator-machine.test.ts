/**
 * The two-phase commit coordinator with stand-in participants and log: every path from the
 * machine's diagram, and the order of what it asks for.
 */
import { describe, expect, it } from "vitest";
import { createActor, fromPromise, toPromise } from "xstate";
import {
  type CoordinatorOutput,
  coordinatorMachine,
  type Decision,
} from "../src/writes/coordinator-machine.ts";
import {
  parseGid,
  participantGid,
  scopeTag,
  transactionId,
  transactionPrefix,
  workerTag,
} from "../src/writes/tx-ids.ts";

interface Script {
  prepare?: "ok" | "fail";
  /** What each decide call answers, in turn: a decision, or "fail". */
  decide?: (Decision | "fail")[];
  commit?: "ok" | "partial" | "fail";
  rollback?: "ok" | "fail";
}

async function run(script: Script): Promise<{ output: CoordinatorOutput; calls: string[] }> {
  const calls: string[] = [];
  const decisions = [...(script.decide ?? ["commit"])];
  const logic = coordinatorMachine.provide({
    actors: {
      prepareAll: fromPromise(async () => {
        calls.push("prepare");
        if (script.prepare === "fail") throw new Error("participant refused to prepare");
      }),
      decide: fromPromise(async ({ input }: { input: { id: string; decision: Decision } }) => {
        calls.push(`decide ${input.decision}`);
        const answer = decisions.shift() ?? input.decision;
        if (answer === "fail") throw new Error("log unreachable");
        return answer;
      }),
      commitAll: fromPromise(async () => {
        calls.push("commit");
        if (script.commit === "fail") throw new Error("commit failed");
        return script.commit === "partial" ? ["shop"] : [];
      }),
      rollbackAll: fromPromise(async () => {
        calls.push("rollback");
        if (script.rollback === "fail") throw new Error("rollback failed");
      }),
      finish: fromPromise(async () => {
        calls.push("finish");
      }),
    },
  });
  const output = await toPromise(createActor(logic, { input: { id: "ent.1.w.0.0" } }).start());
  return { output, calls };
}

describe("the two-phase commit coordinator", () => {
  it("prepares, logs commit, commits, then marks the decision done", async () => {
    const { output, calls } = await run({});
    expect(calls).toEqual(["prepare", "decide commit", "commit", "finish"]);
    expect(output).toEqual({ outcome: "committed", unfinished: [], decided: true });
  });

  it("rolls back when a participant cannot prepare, logging nothing", async () => {
    const { output, calls } = await run({ prepare: "fail" });
    expect(calls).toEqual(["prepare", "rollback"]);
    expect([output.outcome, output.decided]).toEqual(["rolled back", false]);
    expect((output.error as Error).message).toBe("participant refused to prepare");
  });

  it("follows an abort a recovering worker logged first", async () => {
    const { output, calls } = await run({ decide: ["abort"] });
    expect(calls).toEqual(["prepare", "decide commit", "rollback"]);
    expect([output.outcome, output.decided]).toEqual(["rolled back", true]);
  });

  it("asks again, proposing abort, when the log did not answer, and follows what stands", async () => {
    const landed = await run({ decide: ["fail", "commit"] });
    expect(landed.calls).toEqual(["prepare", "decide commit", "decide abort", "commit", "finish"]);
    expect(landed.output.outcome).toBe("committed");
    const aborted = await run({ decide: ["fail", "abort"] });
    expect(aborted.calls).toEqual(["prepare", "decide commit", "decide abort", "rollback"]);
    expect(aborted.output.outcome).toBe("rolled back");
  });

  it("leaves the transaction in doubt when the log cannot be reached at all", async () => {
    const { output, calls } = await run({ decide: ["fail", "fail"] });
    expect(calls).toEqual(["prepare", "decide commit", "decide abort"]);
    expect(output.outcome).toBe("in doubt");
  });

  it("is committed once commit is logged, whatever a participant then answers", async () => {
    const partial = await run({ commit: "partial" });
    expect(partial.calls).toEqual(["prepare", "decide commit", "commit"]);
    expect(partial.output).toEqual({ outcome: "committed", unfinished: ["shop"], decided: true });
    const failed = await run({ commit: "fail" });
    expect(failed.output.outcome).toBe("committed");
    expect(failed.output.unfinished).toEqual(["unknown"]);
  });

  it("ends rolled back even when a rollback fails: recovery presumes abort", async () => {
    const { output } = await run({ prepare: "fail", rollback: "fail" });
    expect(output.outcome).toBe("rolled back");
  });
});

describe("transaction ids", () => {
  it("name the log, region, worker and start, and fit MariaDB's 64 characters", () => {
    const parts = {
      scope: "a-rather-long-deployment-name-32/Kf3nQ2x9ZpLm0aBcDeFgHi",
      region: 65_535,
      worker: "Kf3nQ2x9ZpLm0aBcDe",
      startedAtMs: Date.UTC(2030, 0, 1),
    };
    const id = transactionId(parts, 1_000_000);
    const gid = participantGid(id, 12);
    expect(gid.length).toBeLessThanOrEqual(64);
    expect(id.startsWith(transactionPrefix(parts.scope, 65_535))).toBe(true);
    expect(parseGid(gid)).toEqual({
      id,
      scopeTag: scopeTag(parts.scope),
      region: 65_535,
      worker: workerTag(parts.worker),
      startedAtMs: parts.startedAtMs,
    });
    // Another log's or region's ids do not share the prefix recovery lists.
    expect(id.startsWith(transactionPrefix("entente/Kf3nQ2x9ZpLm0aBcDeFgHj", 65_535))).toBe(false);
    expect(id.startsWith(transactionPrefix(parts.scope, 6_553))).toBe(false);
    expect(parseGid("someone-else's-xid")).toBeUndefined();
    expect(workerTag("a-b_c")).toBe("abc");
  });
});

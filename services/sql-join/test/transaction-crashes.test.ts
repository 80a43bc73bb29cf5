/**
 * Two-phase commit across PostgreSQL and MariaDB when things die: sql-join workers run as
 * separate `entente serve sql-join` processes over real NATS (JetStream) and real databases.
 *
 * - A coordinator killed (SIGKILL, by the ENTENTE_TX_CRASH_AT fault injection) at each point of
 *   two-phase commit: another worker's recovery rolls the transfer back when no decision was
 *   logged, and commits it on both sides once commit was logged. At `committing`, a proxy in
 *   front of MariaDB decides deterministically whether MariaDB's XA COMMIT arrived or not.
 *   Where it arrived, nothing is left to recover: the decision stays in the log, unused, until
 *   the log's retention drops it (recovery only visits transactions it finds prepared).
 * - PostgreSQL restarted while a transaction is prepared there: it survives the restart and
 *   recovery finishes it.
 * - The bank invariant (after Jepsen's bank test): 1,000 concurrent transfers between accounts
 *   in both databases, one of two workers killed midway and replaced, PostgreSQL restarted
 *   midway; whatever the requests answer, money is neither created nor destroyed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ProcessStartError, seededRandom } from "@entente/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import {
  CrashLab,
  type CrashPoint,
  type DecisionRecord,
  settle,
  startWithholdingProxy,
} from "./tx-crash-support.ts";

let lab: CrashLab;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "entente-tx-crashes-"));
  lab = await CrashLab.start(dir);
}, 120_000);

afterEach(async () => {
  await lab?.stopWorkers();
});

afterAll(async () => {
  await lab?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/** The transfer of the crash tests: 10 from PostgreSQL account `id` to MariaDB wallet `id`. */
const transfer = (id: number): [string, unknown[]][] => [
  ["UPDATE accounts SET balance = balance - $1 WHERE id = $2", [10, id]],
  ["UPDATE wallets SET balance = balance + $1 WHERE id = $2", [10, id]],
];

async function resetPair(id: number): Promise<void> {
  await lab.pgExec("DELETE FROM accounts WHERE id = $1", [id]);
  await lab.pgExec("INSERT INTO accounts VALUES ($1, 100)", [id]);
  await lab.myExec("DELETE FROM wallets WHERE id = ?", [id]);
  await lab.myExec("INSERT INTO wallets VALUES (?, 100)", [id]);
}

async function pair(id: number): Promise<[number, number]> {
  const [pg] = await lab.pgRows("SELECT balance FROM accounts WHERE id = $1", [id]);
  const [my] = await lab.myRows("SELECT balance FROM wallets WHERE id = ?", [id]);
  return [Number(pg?.[0]), Number(my?.[0])];
}

const nothingPrepared = async () => {
  const p = await lab.prepared();
  return p.pg.length === 0 && p.maria.length === 0;
};

/** The decisions logged since `known` was taken. */
async function newDecisions(known: ReadonlySet<string>): Promise<Map<string, DecisionRecord>> {
  return new Map([...(await lab.decisions())].filter(([id]) => !known.has(id)));
}

/** Recovery has left nothing prepared at either database (bounded wait). */
async function nothingLeftPrepared(): Promise<void> {
  await settle(
    "nothing prepared at either database",
    async () => ((await nothingPrepared()) ? true : undefined),
    async () => JSON.stringify(await lab.prepared()),
    30_000,
  );
}

/** The decisions logged since `known` was taken: a finished one is deleted from the log. */
async function openDecisions(known: ReadonlySet<string>): Promise<DecisionRecord[]> {
  return [...(await newDecisions(known)).values()];
}

/**
 * Every decision logged since `known` is finished: marked done, or removed from the log (the
 * log has done both, in turn). Recovery runs every 300 ms, so 10 s is over thirty rounds: a
 * decision still open then is one recovery does not finish.
 */
async function decisionsFinished(known: ReadonlySet<string>): Promise<void> {
  await settle(
    "every new decision finished",
    async () => ((await openDecisions(known)).length === 0 ? true : undefined),
    async () => JSON.stringify(await openDecisions(known)),
    10_000,
  );
}

interface Crash {
  /** The decisions logged before the transfer, to tell the new ones apart. */
  known: Set<string>;
  /** Checks that the client's request failed (it does at its deadline: await it last). */
  requestFailed(): Promise<void>;
}

/** Worker A, armed to crash at `point`, gets the transfer and dies of SIGKILL. */
async function crashOnTransfer(id: number, point: CrashPoint, configFile?: string): Promise<Crash> {
  const known = new Set((await lab.decisions().catch(() => new Map())).keys());
  const a = await lab.startWorker(point, configFile);
  onTestFailed(() => console.log(`--- ${a.name} ---\n${a.logs.tail(60)}`));
  // The client learns nothing from a dead worker until its deadline: keep it short.
  const request = lab.transaction(transfer(id), 5_000).then(
    (result) => ({ ok: true as const, result }),
    (error: Error) => ({ ok: false as const, error: String(error) }),
  );
  const exit = await Promise.race([
    a.exited,
    sleep(30_000).then(() => "still running 30 s after the request" as const),
  ]);
  expect(exit).toEqual({ code: null, signal: "SIGKILL" });
  return {
    known,
    async requestFailed() {
      const answer = await request;
      expect(answer.ok, `the request answered ${JSON.stringify(answer)}`).toBe(false);
    },
  };
}

async function recoverWithFreshWorker(): Promise<void> {
  const b = await lab.startWorker();
  onTestFailed(() => console.log(`--- ${b.name} ---\n${b.logs.tail(60)}`));
  await nothingLeftPrepared();
}

describe("a coordinator killed during two-phase commit", () => {
  it("after preparing both sides, before logging a decision: recovery rolls both back", async () => {
    await resetPair(1);
    const { known, requestFailed } = await crashOnTransfer(1, "prepared");
    const left = await lab.prepared();
    expect([left.pg.length, left.maria.length]).toEqual([1, 1]);
    expect(await openDecisions(known)).toEqual([]);
    await recoverWithFreshWorker();
    await requestFailed();
    expect(await pair(1)).toEqual([100, 100]);
    // Recovery decided abort (nothing had been logged) and finished that decision.
    await decisionsFinished(known);
  }, 90_000);

  it("after logging commit, before committing anywhere: recovery commits both", async () => {
    await resetPair(2);
    const { known, requestFailed } = await crashOnTransfer(2, "decided");
    const left = await lab.prepared();
    expect([left.pg.length, left.maria.length]).toEqual([1, 1]);
    expect(await openDecisions(known)).toEqual([
      expect.objectContaining({
        decision: "commit",
        by: expect.stringMatching(/^coordinator on worker /),
      }),
    ]);
    await recoverWithFreshWorker();
    await requestFailed();
    expect(await pair(2)).toEqual([90, 110]);
    await decisionsFinished(known);
  }, 90_000);

  it("after committing PostgreSQL, before MariaDB's commit arrived: recovery commits MariaDB", async () => {
    // MariaDB is reached through a proxy that never passes on the coordinator's XA COMMIT:
    // PostgreSQL commits first, the worker kills itself there, and MariaDB stays prepared.
    const proxy = await startWithholdingProxy(lab.mariaDbTarget, "XA COMMIT", "request");
    try {
      await resetPair(3);
      const config = await lab.configThroughMariaDbPort(proxy.port);
      const { known, requestFailed } = await crashOnTransfer(3, "committing", config);
      const left = await lab.prepared();
      expect([left.pg.length, left.maria.length]).toEqual([0, 1]);
      expect(await pair(3)).toEqual([90, 100]);
      expect(await openDecisions(known)).toEqual([expect.objectContaining({ decision: "commit" })]);
      await recoverWithFreshWorker();
      await requestFailed();
      expect(await pair(3)).toEqual([90, 110]);
      await decisionsFinished(known);
    } finally {
      await proxy.close();
    }
  }, 90_000);

  it("after committing, with every participant's commit carried out: nothing to recover, the decision left to expire", async () => {
    // MariaDB is reached through a proxy that passes the coordinator's XA COMMIT on but never
    // its answer: PostgreSQL's commit returns first and the worker kills itself, with
    // MariaDB's commit carried out all the same (as happens without any proxy whenever
    // MariaDB's XA COMMIT is on the wire when the worker dies). The transfer is complete and
    // nothing is prepared anywhere; only the decision log still holds the commit decision.
    const proxy = await startWithholdingProxy(lab.mariaDbTarget, "XA COMMIT", "reply");
    try {
      await resetPair(4);
      const config = await lab.configThroughMariaDbPort(proxy.port);
      const { known, requestFailed } = await crashOnTransfer(4, "committing", config);
      await nothingLeftPrepared();
      expect(await pair(4)).toEqual([90, 110]);
      expect(await openDecisions(known)).toEqual([expect.objectContaining({ decision: "commit" })]);
      await recoverWithFreshWorker();
      await requestFailed();
      expect(await pair(4)).toEqual([90, 110]);
      await nothingLeftPrepared();
      // Recovery visits only transactions it finds prepared; this commit decision, whose
      // participants all committed before the coordinator died, stays until the bucket's
      // retention (logRetentionMs) drops it. It is never read again, so it does no harm.
      expect(await openDecisions(known)).toEqual([expect.objectContaining({ decision: "commit" })]);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});

describe("a participant restarted between prepare and commit", () => {
  const cases: { point: CrashPoint; id: number; committed: boolean }[] = [
    { point: "prepared", id: 11, committed: false },
    { point: "decided", id: 12, committed: true },
  ];

  it.each(cases)(
    "PostgreSQL restarted after the crash at $point: the prepared transaction survives and recovery finishes it",
    async ({ point, id, committed }) => {
      await resetPair(id);
      const { known, requestFailed } = await crashOnTransfer(id, point);
      const before = await lab.prepared();
      expect([before.pg.length, before.maria.length]).toEqual([1, 1]);
      expect((await openDecisions(known)).map((d) => d.decision)).toEqual(
        committed ? ["commit"] : [],
      );

      await lab.pg.restart();
      // Still prepared after a clean restart of PostgreSQL, its update not visible.
      expect((await lab.prepared()).pg).toEqual(before.pg);
      expect(await pair(id)).toEqual([100, 100]);

      await recoverWithFreshWorker();
      await requestFailed();
      expect(await pair(id)).toEqual(committed ? [90, 110] : [100, 100]);
      await decisionsFinished(known);
    },
    90_000,
  );
});

describe("the bank invariant under a killed worker and a restarted PostgreSQL", () => {
  const ACCOUNTS = 8;
  const INITIAL = 100;
  const TRANSFERS = 1_000;
  const IN_FLIGHT = 32;

  it("keeps the total over both databases and no balance negative", async () => {
    await lab.pgExec("DELETE FROM pg_bank");
    await lab.myExec("DELETE FROM my_bank");
    for (let id = 1; id <= ACCOUNTS; id++) {
      await lab.pgExec("INSERT INTO pg_bank VALUES ($1, $2)", [id, INITIAL]);
      await lab.myExec("INSERT INTO my_bank VALUES (?, ?)", [id, INITIAL]);
    }
    const total = async () => {
      const [[pg]] = (await lab.pgRows("SELECT coalesce(sum(balance), 0) FROM pg_bank")) as [
        [unknown],
      ];
      const [[my]] = (await lab.myRows("SELECT coalesce(sum(balance), 0) FROM my_bank")) as [
        [unknown],
      ];
      return Number(pg) + Number(my);
    };
    const expected = 2 * ACCOUNTS * INITIAL;
    expect(await total()).toBe(expected);

    const known = new Set((await lab.decisions().catch(() => new Map())).keys());
    const first = await lab.startWorker();
    const second = await lab.startWorker();
    onTestFailed(() => console.log(`--- ${second.name} ---\n${second.logs.tail(80)}`));

    const seed = Date.now() >>> 0;
    console.log(`bank test seed ${seed}`);
    const random = seededRandom(seed);
    const outcomes = new Map<string, number>();
    const samples = new Map<string, string>();
    const answeredCommitted: string[] = [];
    const answeredRolledBack: string[] = [];
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    let done = 0;
    let next = 0;
    const events: Promise<unknown>[] = [];
    let replacement: Awaited<ReturnType<typeof lab.startWorker>> | undefined;
    let killed = false;
    let restarted = false;

    const send = async () => {
      const from = 1 + Math.floor(random() * ACCOUNTS);
      const to = 1 + Math.floor(random() * ACCOUNTS);
      const amount = 1 + Math.floor(random() * 40);
      const pgToMaria = random() < 0.5;
      // PostgreSQL first in every transfer: one lock order, so no deadlock spans the databases.
      const statements: [string, unknown[]][] = pgToMaria
        ? [
            ["UPDATE pg_bank SET balance = balance - $1 WHERE id = $2", [amount, from]],
            ["UPDATE my_bank SET balance = balance + $1 WHERE id = $2", [amount, to]],
          ]
        : [
            ["UPDATE pg_bank SET balance = balance + $1 WHERE id = $2", [amount, to]],
            ["UPDATE my_bank SET balance = balance - $1 WHERE id = $2", [amount, from]],
          ];
      try {
        const result = await lab.transaction(statements, 10_000);
        const outcome = result.transaction?.outcome;
        count(outcome === "committed" ? "committed" : `answered ${String(outcome)}`);
        if (result.transaction?.id) answeredCommitted.push(result.transaction.id);
      } catch (err) {
        const e = err as { code?: string; message?: string; details?: { transaction?: string } };
        const why = /check|constraint/i.test(e.message ?? "") ? "overdraft" : (e.code ?? "error");
        count(`failed: ${why}`);
        if (why !== "overdraft" && !samples.has(why)) samples.set(why, String(e.message));
        const tx = e.details?.transaction;
        if (tx && /rolled back/.test(e.message ?? "")) answeredRolledBack.push(tx);
      }
      done++;
      if (!killed && done >= TRANSFERS / 3) {
        killed = true;
        events.push(
          (async () => {
            const exit = await first.kill("SIGKILL");
            const left = await lab.prepared();
            console.log(
              `killed ${first.name} after ${done} transfers: ${JSON.stringify(exit)}; prepared then: ${left.pg.length} at PostgreSQL, ${left.maria.length} at MariaDB`,
            );
            replacement = await startedWhileDatabasesRestart(() => lab.startWorker());
            console.log(`started ${replacement.name} after ${done} transfers`);
          })(),
        );
      }
      if (!restarted && done >= (2 * TRANSFERS) / 3) {
        restarted = true;
        events.push(
          (async () => {
            console.log(`restarting PostgreSQL after ${done} transfers`);
            const left = (await lab.prepared()).pg.length;
            await lab.pg.restart();
            console.log(
              `PostgreSQL back after ${done} transfers; ${left} prepared there just before the restart`,
            );
          })(),
        );
      }
    };
    const lane = async () => {
      while (next < TRANSFERS) {
        next++;
        await send();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => lane()));
    await Promise.all(events);
    console.log(`bank transfers: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(TRANSFERS);
    expect(replacement?.running).toBe(true);

    // The workers still serving recover whatever the killed one and the restart left prepared.
    await settle(
      "nothing prepared",
      async () => ((await nothingPrepared()) ? true : undefined),
      async () => JSON.stringify(await lab.prepared()),
      60_000,
    );
    console.log(`bank failures, one message each: ${JSON.stringify(Object.fromEntries(samples))}`);
    const log = await newDecisions(known);
    const decisions = [...log.values()];
    console.log(
      `decision log: ${decisions.length} decisions left, ${decisions.filter((d) => d.decision === "commit").length} commit ${JSON.stringify([...log])}`,
    );
    // What the client was told agrees with the log: no answered commit was logged abort, and
    // no transaction the client was told had rolled back was logged commit.
    // (A finished decision may have been removed from the log: only those still there count.)
    expect(answeredCommitted.filter((id) => log.get(id)?.decision === "abort")).toEqual([]);
    expect(answeredRolledBack.filter((id) => log.get(id)?.decision === "commit")).toEqual([]);

    const pgBalances = await lab.pgRows("SELECT id, balance FROM pg_bank ORDER BY id");
    const myBalances = await lab.myRows("SELECT id, balance FROM my_bank ORDER BY id");
    console.log(
      `balances: pg ${JSON.stringify(pgBalances.map((r) => Number(r[1])))}, maria ${JSON.stringify(myBalances.map((r) => Number(r[1])))}`,
    );
    expect(await total()).toBe(expected);
    for (const [, balance] of [...pgBalances, ...myBalances]) {
      expect(Number(balance)).toBeGreaterThanOrEqual(0);
    }
    expect(outcomes.get("committed") ?? 0).toBeGreaterThan(0);
  }, 150_000);
});

/**
 * A worker started while PostgreSQL may be restarting: a worker refuses to start on a source
 * that is down (as it should), so the start is tried again until the database answers; a
 * connection the restarting server resets is down too.
 */
async function startedWhileDatabasesRestart<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const down =
        err instanceof ProcessStartError &&
        /starting up|ECONNREFUSED|ECONNRESET|shutting down/.test(err.message);
      if (!down || attempt >= 40) throw err;
      await sleep(500);
    }
  }
}

/**
 * Tier moves when the worker moving dies: real `entente serve sql-join` processes over a private
 * NATS server (JetStream), a year of rows in PostgreSQL (one an hour, 30 days kept hot), a
 * cold store in a temporary directory.
 *
 * For each point of a move (after the copy, after the verify, after the commit, after the first
 * hot delete) a worker armed with ENTENTE_TIER_CRASH_AT is asked to move its table and kills
 * itself with SIGKILL there. Meanwhile a reader loops over every table through `entente.sql` of
 * another worker: every read, during the move, after the kill and after the resumed move, must
 * be every id once. A worker started right after the kill without the crash variable takes the
 * move up once the dead worker's lease has lapsed (a few seconds after its last renewal: the
 * workers run with a short `tiers.leaseMs`), finishes it and the moves of the rest of the backlog; then the move's snapshot is in cold once, PostgreSQL holds exactly the rows at
 * or above the watermark and the cold table's files exactly the rows below it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ColdStore } from "@entente/connectors";
import { bucketNameOf, msgpackCodec } from "@entente/protocol";
import type { ManagedProcess } from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { currentFilesOf, MOVE_SUMMARY, OP_SUMMARY, watermarkOf } from "../src/tiers/effects.ts";
import { coldStoreOf } from "../src/tiers/lifecycle.ts";
import type { MoveData } from "../src/tiers/move-machine.ts";
import type { TierRecord } from "../src/tiers/store.ts";
import {
  type CrashTable,
  column,
  DAY_MS,
  differs,
  HOT_DAYS,
  ReaderLoop,
  range,
  STEP_MS,
  TierCrashLab,
  type TierCrashPoint,
  todayMs,
} from "./tier-crash-support.ts";

const POINTS: TierCrashPoint[] = ["after-copy", "after-verify", "after-commit", "mid-delete"];

/** Where the saved record says the move stood when its worker died. */
const STATE_AT: Record<TierCrashPoint, string> = {
  "after-copy": "copying",
  "after-verify": "verifying",
  "after-commit": "committing",
  "mid-delete": "deleting",
};

let lab: TierCrashLab;
let dir: string;
let reader: ReaderLoop;
let readerWorker: ManagedProcess;
const tables = new Map<TierCrashPoint, CrashTable>();
/** The move each crash left under way. */
const crashed = new Map<TierCrashPoint, MoveData>();
/** The worker started again after each crash. */
const replacements = new Map<TierCrashPoint, ManagedProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "entente-tier-crashes-"));
  lab = await TierCrashLab.start(dir);
  for (const point of POINTS) tables.set(point, await lab.addTable(point));
  // The reader first: it creates the cold tables, which the movers then find.
  readerWorker = await lab.startWorker(await lab.readerConfig());
  for (const t of tables.values()) expect(differs(await lab.readIds(t), t.rows)).toBeUndefined();
  reader = new ReaderLoop(lab, [...tables.values()]);
}, 120_000);

afterAll(async () => {
  await reader?.stop();
  await lab?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

const tableOf = (point: TierCrashPoint): CrashTable => tables.get(point) as CrashTable;

async function record(t: CrashTable): Promise<TierRecord | undefined> {
  const kv = await new Kvm(jetstream(lab.nc)).open(bucketNameOf(t.deployment, "tiers"));
  const entry = await kv.get("events");
  if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
  return msgpackCodec.decode(entry.value) as TierRecord;
}

const store = (t: CrashTable): ColdStore => coldStoreOf(t.cold) as ColdStore;

/** `YYYY-MM-DDT00:00:00.000Z` of a time. */
const watermarkAt = (ms: number): string =>
  `${new Date(ms).toISOString().slice(0, 10)}T00:00:00.000Z`;

/** The ids of rows below a watermark: 1..k. */
const idsBelow = (t: CrashTable, watermark: string): number =>
  Math.max(0, Math.ceil((Date.parse(watermark) - t.start) / STEP_MS));

const sortedIds = async (connector: CrashTable["hot"], sql: string) =>
  (await column(connector, sql)).map(Number).sort((a, b) => a - b);

describe("a tier move killed with SIGKILL at each of its points", () => {
  it.each(POINTS)(
    "%s: the worker dies there and every read stays whole",
    async (point) => {
      const t = tableOf(point);
      const before = reader.reads;
      const worker = await lab.startWorker(t.configFile, point);
      showLogsOnFailure(worker);
      // The worker dies without answering: the request fails at its deadline (checked last).
      const request = lab.move(t, 5_000).then(
        (reply) => ({ ok: true as const, reply }),
        (error: unknown) => ({ ok: false as const, error: String(error) }),
      );
      const exit = await Promise.race([
        worker.exited,
        sleep(60_000).then(() => "still running 60 s after the move request" as const),
      ]);
      expect(exit).toEqual({ code: null, signal: "SIGKILL" });

      // The saved record names the act under way when the worker died.
      const left = (await record(t))?.running;
      expect(left?.state).toBe(STATE_AT[point]);
      const move = left as MoveData;
      crashed.set(point, move);
      // The first move of a year's backlog: its oldest 31 days.
      expect(move.days.map((d) => d.day)).toEqual(
        range(0, 30).map((i) => new Date(t.start + i * DAY_MS).toISOString().slice(0, 10)),
      );
      expect(move.to).toBe(watermarkAt(t.start + 31 * DAY_MS));
      const watermark = watermarkOf(await store(t).load("events"));
      const committed = point === "after-commit" || point === "mid-delete";
      expect(watermark).toBe(committed ? move.to : null);
      const hotRows = Number((await column(t.hot, "SELECT count(*) FROM events"))[0]);
      // Mid-delete: the first day (24 rows) is gone from hot, the others are still there.
      expect(hotRows).toBe(point === "mid-delete" ? t.rows - 24 : t.rows);

      // What readers see with the worker dead: every id once.
      expect(differs(await lab.readIds(t), t.rows)).toBeUndefined();
      await waitForReads(before + tables.size);
      expect(reader.wrong).toEqual([]);
      const answer = await request;
      expect(answer.ok, `the move request answered ${JSON.stringify(answer)}`).toBe(false);

      // A worker without the crash variable, started now so that it takes the move up as soon
      // as the dead worker's lease lapses, while the next points are tried; the test below
      // follows it.
      replacements.set(point, await lab.startWorker(t.configFile));
    },
    120_000,
  );

  it.each(POINTS)(
    "%s: the worker started again takes the move up once the lease lapses and finishes it, the rows whole",
    async (point) => {
      const t = tableOf(point);
      const left = crashed.get(point);
      expect(left, "the crash test before this one left a move").toBeDefined();
      const before = reader.reads;
      const worker = replacements.get(point) as ManagedProcess;
      expect(worker, "the crash test before this one started a worker again").toBeDefined();
      showLogsOnFailure(worker);
      // The worker takes the move up at its first check after the dead worker's lease lapsed
      // (it checks every half second), finishes it, and moves the rest of the year's backlog in
      // the moves that follow it; followed through `status`.
      const target = watermarkAt(todayMs() - HOT_DAYS * DAY_MS);
      const status = await settle(
        `the moves of ${t.name} done up to ${target}`,
        async () => {
          const s = await lab.status(t);
          return s.running === undefined && s.last?.state === "done" && s.last.to === target
            ? s
            : undefined;
        },
        async () => JSON.stringify(await lab.status(t)),
        180_000,
      );
      expect(status.last?.error).toBeUndefined();
      expect(status.watermark).toBe(target);
      // The move the dead worker left was taken up and finished here, not started anew.
      const logged = worker.logs.lines().join("\n");
      expect(logged).toMatch(
        new RegExp(`"move":"${left?.id}"[^\n]*"msg":"tiers: taking up a move left under way"`),
      );
      expect(logged).toMatch(new RegExp(`"move":"${left?.id}"[^\n]*"msg":"tiers: move done"`));
      // Committed once: one snapshot of the cold table is that move's.
      const snapshots = (await store(t).load("events"))?.snapshots ?? [];
      expect(
        snapshots.filter(
          (s) => s.summary[MOVE_SUMMARY] === left?.id && s.summary[OP_SUMMARY] === "move",
        ),
      ).toHaveLength(1);

      // Hot ∪ cold through entente.sql: every id once.
      expect(differs(await lab.readIds(t), t.rows)).toBeUndefined();
      // PostgreSQL holds exactly the rows at or above the watermark, the cold table's current
      // files exactly those below it.
      const below = idsBelow(t, target);
      expect(below).toBe(t.rows - HOT_DAYS * 24);
      expect(await sortedIds(t.hot, "SELECT id FROM events")).toEqual(range(below + 1, t.rows));
      expect(
        Number(
          (
            await column(
              t.hot,
              `SELECT count(*) FROM events WHERE created_at < TIMESTAMP '${target.slice(0, 10)}'`,
            )
          )[0],
        ),
      ).toBe(0);
      expect(await sortedIds(t.cold, 'SELECT "id" FROM "main"."events"')).toEqual(range(1, below));
      const metadata = await store(t).load("events");
      expect(metadata && currentFilesOf(metadata).reduce((n, f) => n + f.rowCount, 0)).toBe(below);

      await waitForReads(before + tables.size);
      expect(reader.wrong).toEqual([]);
      await worker.kill("SIGKILL");
    },
    240_000,
  );

  it("every read of the reader loop was every id once; no request failed", async () => {
    await reader.stop();
    expect(reader.reads).toBeGreaterThan(4 * 2 * tables.size);
    console.log(`reader: ${reader.reads} reads`);
    expect(reader.wrong).toEqual([]);
    // The reader's worker served throughout: a failed read would be a loaded machine's
    // deadline, never an answer; show them if any.
    expect(reader.errors).toEqual([]);
  });
});

function showLogsOnFailure(worker: ManagedProcess): void {
  onTestFailed(() => {
    for (const w of [worker, readerWorker]) console.log(`--- ${w.name} ---\n${w.logs.tail(60)}`);
    console.log(
      `reader: ${reader.reads} reads, wrong ${JSON.stringify(reader.wrong.slice(0, 5))}, errors ${JSON.stringify(reader.errors.slice(0, 5))}`,
    );
  });
}

/**
 * Polls `check` every 250 ms until it returns a value, at most `timeoutMs` (a bound on the wait,
 * not a timing assertion); then fails with `show()` of the last state.
 */
async function settle<T>(
  what: string,
  check: () => Promise<T | undefined>,
  show: () => Promise<string>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`${what} did not happen within ${timeoutMs} ms; last: ${await show()}`);
    }
    await sleep(250);
  }
}

/** Waits until the reader loop has made `reads` reads (bounded). */
async function waitForReads(reads: number): Promise<void> {
  for (let i = 0; i < 600 && reader.reads < reads; i++) await sleep(100);
  expect(reader.reads).toBeGreaterThanOrEqual(reads);
}

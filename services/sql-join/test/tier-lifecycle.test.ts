/**
 * Tier moves on real databases: PostgreSQL (timestamp column) and MariaDB (date column) as the
 * hot source, a cold store in a temporary directory, the moves' records in JetStream KV. What a
 * reader sees — hot rows at or above the watermark, cold rows below it — is the truth before,
 * at every act of a move, and after; a move stopped half way and taken up by another worker
 * ends the same; rows written into a copied day are not lost.
 */
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ColdStore, type Connector, createConnector, type Row } from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import { createLogger } from "@entente/runtime";
import {
  type MariaDbService,
  mariadb,
  type NatsService,
  natsServer,
  type PostgresService,
  postgres,
  uniqueName,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TierLifecycleConfig } from "../src/logical-config.ts";
import { currentFilesOf, type TierEffects, watermarkOf } from "../src/tiers/effects.ts";
import { tiersHandler } from "../src/tiers/handler.ts";
import { coldStoreOf, TierLifecycle } from "../src/tiers/lifecycle.ts";
import { addDays, dayMs, dayOf } from "../src/tiers/move-machine.ts";
import { TierLeaseLost, TierStore } from "../src/tiers/store.ts";

process.env.ENTENTE_TEST_POSTGRES_URL ??= "postgres://postgres@127.0.0.1:5432/postgres";
process.env.ENTENTE_TEST_MARIADB_URL ??= "mysql://root@127.0.0.1:3306/test";
process.env.ENTENTE_TEST_NATS_URL ??= "nats://127.0.0.1:4222";

const HOT_DAYS = 7;
const GRACE_MS = 200;
const logger = createLogger({ service: "tiers test", level: "silent" });

let pg: PostgresService;
let maria: MariaDbService;
let nats: NatsService;
let nc: NatsConnection;
const closing: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  [pg, maria, nats] = await Promise.all([postgres(), mariadb(), natsServer()]);
  nc = await connect({ servers: nats.url });
}, 120_000);

afterAll(async () => {
  for (const close of closing.reverse()) await close().catch(() => {});
  await nc?.close();
  await nats?.stop();
  await maria?.stop();
  await pg?.stop();
});

type Kind = "postgres" | "mysql";
type ColumnType = "timestamp" | "date";

interface World {
  kind: Kind;
  type: ColumnType;
  hot: Connector;
  coldConnector: Connector;
  cold: ColdStore;
  connectors: Map<string, Connector>;
  config: TierLifecycleConfig;
  deployment: string;
  /** Every row ever written, by id: `[id, day]`. */
  truth: Map<number, string>;
  nextId: number;
  target: string;
}

const today = () => dayOf(Date.now());

/** The column's value for a day at an hour, in the engine's normal form. */
function valueAt(type: ColumnType, day: string, hour: number): unknown {
  return type === "date" ? day : BigInt(dayMs(day) + hour * 3_600_000) * 1_000_000n;
}

function dayOfValue(type: ColumnType, v: unknown): string {
  return type === "date" ? String(v).slice(0, 10) : dayOf(Number((v as bigint) / 1_000_000n));
}

async function insert(w: World, days: string[], perDay: number): Promise<void> {
  const rows: Row[] = [];
  for (const day of days) {
    for (let i = 0; i < perDay; i++) {
      const id = w.nextId++;
      rows.push([id, valueAt(w.type, day, (i * 5) % 24), `p${id}`]);
      w.truth.set(id, day);
    }
  }
  await w.hot.appendRows("events", ["id", "created_at", "payload"], rows);
}

async function world(kind: Kind, type: ColumnType): Promise<World> {
  const url = await (kind === "postgres" ? pg : maria).createDatabase();
  const hot = await createConnector("hot", { kind, url });
  const dir = join(tmpdir(), uniqueName("tiers_cold"));
  const coldConnector = await createConnector("archive", { kind: "coldstore", path: dir });
  closing.push(
    () => hot.close(),
    () => coldConnector.close(),
    () => rm(dir, { recursive: true, force: true }),
  );
  const columnSql = type === "date" ? "date" : kind === "mysql" ? "datetime(6)" : "timestamp";
  await hot.execute({
    sql: `CREATE TABLE events (id bigint PRIMARY KEY, created_at ${columnSql} NOT NULL, payload varchar(50))`,
    params: [],
  });
  const schema = (await hot.listTables()).find((t) => t.name === "events")?.schema as string;
  const cold = coldStoreOf(coldConnector) as ColdStore;
  const w: World = {
    kind,
    type,
    hot,
    coldConnector,
    cold,
    connectors: new Map([
      ["hot", hot],
      ["archive", coldConnector],
    ]),
    config: {
      table: "events",
      column: "created_at",
      hot: `hot.${schema}.events`,
      cold: "archive.main.events",
      hotRetentionDays: HOT_DAYS,
      coldRetentionDays: 365,
      everyMs: undefined,
      graceMs: GRACE_MS,
      partitionBy: undefined,
    },
    deployment: uniqueName("tiers"),
    truth: new Map(),
    nextId: 1,
    target: addDays(today(), -HOT_DAYS),
  };
  // 20 days back to today, three rows a day: the 13 days before the target are old.
  await insert(
    w,
    Array.from({ length: 21 }, (_, i) => addDays(today(), -20 + i)),
    3,
  );
  return w;
}

async function all(connector: Connector, sql: string): Promise<Row[]> {
  const result = await connector.query({ sql, params: [] });
  const rows: Row[] = [];
  for await (const batch of result.batches) rows.push(...batch);
  return rows;
}

/** What a reader of the tiered table sees now: ids of hot rows >= W and of cold rows < W. */
async function seen(
  w: World,
): Promise<{ ids: number[]; watermark: string | null; hot: number[]; cold: number[] }> {
  const watermark = watermarkOf(await w.cold.load("events"));
  const below = (v: unknown) =>
    watermark !== null && dayOfValue(w.type, v) < watermark.slice(0, 10);
  const hotRows = await all(w.hot, "SELECT id, created_at FROM events");
  const coldRows =
    (await w.cold.load("events")) === undefined
      ? []
      : await all(w.coldConnector, 'SELECT "id", "created_at" FROM "main"."events"');
  const hot = hotRows.filter((r) => !below(r[1])).map((r) => Number(r[0]));
  const cold = coldRows.filter((r) => below(r[1])).map((r) => Number(r[0]));
  return {
    ids: [...hot, ...cold].sort((a, b) => a - b),
    watermark,
    hot: hotRows.map((r) => Number(r[0])).sort((a, b) => a - b),
    cold: coldRows.map((r) => Number(r[0])).sort((a, b) => a - b),
  };
}

const truthIds = (w: World) => [...w.truth.keys()].sort((a, b) => a - b);
const idsWhere = (w: World, keep: (day: string) => boolean) =>
  [...w.truth.entries()]
    .filter(([, day]) => keep(day))
    .map(([id]) => id)
    .sort((a, b) => a - b);

/** Effects that check what a reader sees before and after each act. */
function watched(w: World, log: string[], problems: string[], commits: { at?: number }) {
  const check = async (when: string) => {
    const now = await seen(w);
    const want = truthIds(w);
    if (JSON.stringify(now.ids) !== JSON.stringify(want)) {
      problems.push(`${when}: a reader sees ${now.ids.length} rows, the truth is ${want.length}`);
    }
  };
  return (_table: string, base: TierEffects): TierEffects => {
    const wrap =
      <K extends keyof TierEffects>(name: K) =>
      async (input: Parameters<TierEffects[K]>[0], signal: AbortSignal) => {
        await check(`before ${name}`);
        if (
          name === "deleteDay" &&
          commits.at !== undefined &&
          Date.now() < commits.at + GRACE_MS
        ) {
          problems.push("a hot delete before the grace was over");
        }
        if (name === "deleteDay" && commits.at === undefined)
          problems.push("a delete before the commit");
        const out = await (base[name] as (i: unknown, s: AbortSignal) => Promise<unknown>)(
          input,
          signal,
        );
        if (name === "commit") commits.at = (out as { committedAt: number }).committedAt;
        log.push(
          `${name}${"day" in (input as object) ? ` ${(input as { day: string }).day}` : ""}`,
        );
        await check(`after ${name}`);
        return out as never;
      };
    return {
      plan: wrap("plan"),
      copyDay: wrap("copyDay"),
      verifyDay: wrap("verifyDay"),
      commit: wrap("commit"),
      deleteDay: wrap("deleteDay"),
      expire: wrap("expire"),
    };
  };
}

function lifecycle(
  w: World,
  worker: string,
  wrapEffects?: (table: string, effects: TierEffects) => TierEffects,
): TierLifecycle {
  const l = new TierLifecycle({
    tables: [w.config],
    connectors: w.connectors,
    nc,
    deployment: w.deployment,
    worker,
    logger,
    leaseMs: 5_000,
    checkEveryMs: 3_600_000,
    policy: { backoffMs: 50, maxBackoffMs: 200 },
    ...(wrapEffects ? { wrapEffects } : {}),
  });
  closing.push(() => l.stop());
  return l;
}

describe.each([
  ["postgres", "timestamp"],
  ["mysql", "date"],
] as const)("tier moves on %s (%s column)", (kind, type) => {
  it("moves exactly the old days, deletes them after the commit and grace, and never loses or doubles a row", async () => {
    const w = await world(kind, type);
    const log: string[] = [];
    const problems: string[] = [];
    const commits: { at?: number } = {};
    const l = lifecycle(w, "w1", watched(w, log, problems, commits));
    await l.start();
    // The cold table was created from the hot one's columns.
    expect((await w.cold.load("events"))?.schema.columns.map((c) => [c.name, c.type])).toEqual([
      ["id", "bigint"],
      ["created_at", type],
      ["payload", "text"],
    ]);
    expect((await seen(w)).ids).toEqual(truthIds(w));

    const move = await l.move("events", { wait: true });
    expect(problems).toEqual([]);
    expect(move).toMatchObject({
      state: "done",
      from: null,
      to: type === "date" ? w.target : `${w.target}T00:00:00.000Z`,
      partitions: 13,
      copied: 13,
      verified: 13,
      deleted: 13,
      rows: 39,
    });
    // One snapshot for the whole move; hot holds the young days only, cold the old ones only.
    const after = await seen(w);
    expect(after.ids).toEqual(truthIds(w));
    expect(after.watermark?.slice(0, 10)).toBe(w.target);
    expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
    expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
    const metadata = await w.cold.load("events");
    expect(metadata?.snapshots.filter((s) => s.summary["entente.tier.op"] === "move")).toHaveLength(
      1,
    );
    expect(log.indexOf("commit")).toBeLessThan(log.findIndex((a) => a.startsWith("deleteDay")));

    // A second move finds nothing old enough; the status says so.
    const again = await l.move("events", { wait: true });
    expect(again).toMatchObject({ state: "done", partitions: 0 });
    const handle = tiersHandler({ lifecycle: l, connectors: w.connectors });
    const status = (await handle({ op: "status", table: "events" })) as {
      tables: Array<{ watermark: string | null; last?: { id: string } }>;
    };
    expect(status.tables[0]?.watermark?.slice(0, 10)).toBe(w.target);
    expect(status.tables[0]?.last?.id).toBe(again.id);
    await expect(handle({ op: "status", table: "nope" })).rejects.toThrow(
      /known|tiered tables: events/,
    );
    await l.stop();
  }, 120_000);

  it("rows written into a copied day after its copy are moved too, not lost", async () => {
    const w = await world(kind, type);
    const log: string[] = [];
    const problems: string[] = [];
    const late = addDays(w.target, -3);
    let added = false;
    const base = watched(w, log, problems, {});
    const l = lifecycle(w, "w1", (table, effects) => {
      const inner = base(table, effects);
      return {
        ...inner,
        async deleteDay(input, signal) {
          if (!added) {
            added = true;
            await insert(w, [late], 2);
          }
          return inner.deleteDay(input, signal);
        },
      };
    });
    await l.start();
    const move = await l.move("events", { wait: true });
    expect(move.state).toBe("done");
    // Between the late insert and its day's replacement, the late rows were not visible yet.
    expect(problems.filter((p) => !p.includes("deleteDay"))).toEqual([]);
    const after = await seen(w);
    expect(after.ids).toEqual(truthIds(w));
    expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
    expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
    const replaced = (await w.cold.load("events"))?.snapshots.filter(
      (s) => s.summary["entente.tier.op"] === "replace",
    );
    expect(replaced?.map((s) => s.summary["entente.tier.day"])).toEqual([late]);
    await l.stop();
  }, 120_000);

  it("copies a day again when rows arrive in it between its copy and its verify", async () => {
    const w = await world(kind, type);
    const log: string[] = [];
    const problems: string[] = [];
    const day = addDays(w.target, -5);
    let added = false;
    const base = watched(w, log, problems, {});
    const l = lifecycle(w, "w1", (table, effects) => {
      const inner = base(table, effects);
      return {
        ...inner,
        async verifyDay(input, signal) {
          if (!added && input.day === day) {
            added = true;
            await insert(w, [day], 1);
          }
          return inner.verifyDay(input, signal);
        },
      };
    });
    await l.start();
    const move = await l.move("events", { wait: true });
    expect(move).toMatchObject({ state: "done", rows: 40 });
    expect(log.filter((a) => a === `copyDay ${day}`)).toHaveLength(2);
    expect(problems).toEqual([]);
    const after = await seen(w);
    expect(after.ids).toEqual(truthIds(w));
    expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
    await l.stop();
  }, 120_000);

  describe.each([
    ["during a copy", "copyDay", 3],
    ["right after the commit", "commit", 1],
    ["between two day deletes", "deleteDay", 2],
  ] as const)("stopped %s", (_what, act, nth) => {
    it("is taken up by another worker and ends with every row once", async () => {
      const w = await world(kind, type);
      const log: string[] = [];
      const problems: string[] = [];
      const commits: { at?: number } = {};
      let calls = 0;
      let cut = false;
      const cutOff = (signal: AbortSignal) =>
        aborted(signal).catch((err: unknown) => {
          cut = true;
          throw err;
        });
      let reached!: () => void;
      const stopHere = new Promise<void>((r) => {
        reached = r;
      });
      const base = watched(w, log, problems, commits);
      const first = lifecycle(w, "w1", (table, effects) => {
        const inner = base(table, effects);
        const hold = async <T>(run: () => Promise<T>, signal: AbortSignal, after: boolean) => {
          if (!after) {
            reached();
            await cutOff(signal);
          }
          const out = await run();
          reached();
          await cutOff(signal);
          return out;
        };
        return {
          ...inner,
          async [act](input: never, signal: AbortSignal) {
            calls++;
            const run = () =>
              (inner[act] as (i: never, s: AbortSignal) => Promise<never>)(input, signal);
            if (calls !== nth) return run();
            // A copy is cut off before it ran; a commit and a delete once they have landed.
            return hold(run, signal, act !== "copyDay");
          },
        };
      });
      await first.start();
      const progress = await first.move("events");
      await stopHere;
      await first.stop();
      // Stopping aborted the act under way.
      expect(cut).toBe(true);
      expect((await seen(w)).ids).toEqual(truthIds(w));

      const second = lifecycle(w, "w2", base);
      await second.start();
      const record = await tiersHandler({ lifecycle: second, connectors: w.connectors })({
        op: "move",
        table: "events",
        wait: true,
      });
      expect(record).toMatchObject({ table: "events", move: { id: progress.id, state: "done" } });
      expect(problems).toEqual([]);
      const after = await seen(w);
      expect(after.ids).toEqual(truthIds(w));
      expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
      expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
      const metadata = await w.cold.load("events");
      expect(
        metadata?.snapshots.filter((s) => s.summary["entente.tier.op"] === "move"),
      ).toHaveLength(1);
      // Each old day once in cold.
      expect(currentFilesOf(metadata as never).reduce((n, f) => n + f.rowCount, 0)).toBe(39);
      await second.stop();
    }, 120_000);
  });
});

describe("scheduled moves and cold-store maintenance", () => {
  it("starts a move when one is due, and compacts, repartitions and expires the cold table", async () => {
    const w = await world("postgres", "timestamp");
    w.config = { ...w.config, everyMs: 3_600_000 };
    const l = lifecycle(w, "w1");
    // No move yet: one is due at once, and start's first check runs it.
    await l.start();
    const started = await l.status("events");
    expect(started[0]?.running?.state).toBeDefined();
    const move = await l.move("events", { wait: true });
    expect(move).toMatchObject({ id: started[0]?.running?.id, state: "done", partitions: 13 });
    const handle = tiersHandler({ lifecycle: l, connectors: w.connectors });
    const status = (await handle({ op: "status" })) as {
      tables: Array<{ nextRunAt?: string; hotRetention: string; running?: unknown }>;
    };
    expect(status.tables).toHaveLength(1);
    expect(status.tables[0]?.running).toBeUndefined();
    expect(Date.parse(status.tables[0]?.nextRunAt ?? "")).toBe(
      Date.parse(move.startedAt) + 3_600_000,
    );
    expect(await handle({ op: "retention" })).toEqual({
      tables: [
        {
          table: "events",
          hotRetention: "7 days",
          coldRetention: "365 days",
          watermark: `${w.target}T00:00:00.000Z`,
        },
      ],
    });

    const compacted = await handle({ op: "compact", table: "events" });
    expect(compacted).toMatchObject({ table: "events", rows: expect.any(Number) });
    const repartitioned = await handle({
      op: "repartition",
      table: "archive.main.events",
      partitionBy: [
        { column: "created_at", transform: "day" },
        { column: "id", transform: "bucket", buckets: 2 },
      ],
    });
    expect(repartitioned).toMatchObject({ table: "archive.main.events", rows: 39 });
    expect((await seen(w)).ids).toEqual(truthIds(w));
    const expired = await handle({ op: "expireSnapshots", table: "events", olderThanMs: 0 });
    expect(expired).toMatchObject({ table: "events", expiredSnapshots: expect.any(Number) });
    expect((await seen(w)).ids).toEqual(truthIds(w));

    await expect(handle({ op: "compact", table: "hot.public.events" })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    await expect(handle({ op: "compact", table: "nowhere.main.x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("tiered tables: events"),
    });
    await expect(handle({ op: "move", table: "events_old" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await l.stop();
  }, 120_000);
});

describe("moves that fail or lose their worker", () => {
  it("goes on with a move that failed after its commit instead of starting another", async () => {
    const w = await world("postgres", "timestamp");
    let failures = 1;
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async deleteDay(input, signal) {
        if (failures-- > 0) throw new EntenteError("BAD_REQUEST", "permission denied");
        return effects.deleteDay(input, signal);
      },
    }));
    await l.start();
    const failed = await l.move("events", { wait: true });
    expect(failed).toMatchObject({ state: "failed", deleted: 0 });
    expect(failed.error).toMatch(/deleting: permission denied/);
    // Its rows are in cold and, invisible, still in hot: the next move finishes this one.
    expect((await seen(w)).ids).toEqual(truthIds(w));
    const again = await l.move("events", { wait: true });
    expect(again).toMatchObject({ id: failed.id, state: "done", deleted: 13 });
    const after = await seen(w);
    expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
    expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
    await l.stop();
  }, 120_000);

  it("hands a move whose worker stopped renewing to another, which fences the first off", async () => {
    const w = await world("postgres", "timestamp");
    let reached!: () => void;
    const blocked = new Promise<void>((r) => {
      reached = r;
    });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async copyDay(input, signal) {
        if (input.day === addDays(w.target, -10)) {
          reached();
          await gate;
        }
        return effects.copyDay(input, signal);
      },
    }));
    await first.start();
    const started = await first.move("events");
    await blocked;
    // As if its worker had died: the lease is over.
    const store = await TierStore.open(nc, w.deployment);
    for (;;) {
      const held = await store.get("events");
      if (!held) throw new Error("no record");
      try {
        await store.update({ ...held.record, leaseUntil: 0 }, held.revision);
        break;
      } catch (err) {
        if (!(err instanceof TierLeaseLost)) throw err;
      }
    }
    const second = lifecycle(w, "w2");
    await second.start();
    const done = await second.move("events", { wait: true });
    expect(done).toMatchObject({ id: started.id, state: "done", partitions: 13 });
    // The first worker's copy now lands, but its next save is refused: it stops there.
    release();
    // Whether its renewal or its next save finds it out first, it stops without moving again.
    for (let i = 0; i < 100 && (await first.status("events"))[0]?.running; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await first.status("events"))[0]?.running).toBeUndefined();
    expect((await store.get("events"))?.record.last?.id).toBe(started.id);
    const after = await seen(w);
    expect(after.ids).toEqual(truthIds(w));
    expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
    expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
    await first.stop();
    await second.stop();
  }, 120_000);
});

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Error("stopped"));
    signal.addEventListener("abort", () => reject(new Error("stopped")), { once: true });
  });
}

/** The cold table's rows, id → payload, and how many rows there are in all (to see doubles). */
async function coldPayloads(w: World): Promise<{ byId: Map<number, string>; count: number }> {
  const rows = await all(w.coldConnector, 'SELECT "id", "payload" FROM "main"."events"');
  return { byId: new Map(rows.map((r) => [Number(r[0]), String(r[1])])), count: rows.length };
}

const idsOfDay = (w: World, day: string) => idsWhere(w, (d) => d === day);

/** A lifecycle whose delete of `day` runs `hook` around the real one. */
function hooked(
  w: World,
  day: string,
  hook: (
    run: () => Promise<Awaited<ReturnType<TierEffects["deleteDay"]>>>,
    call: number,
  ) => Promise<Awaited<ReturnType<TierEffects["deleteDay"]>>>,
): TierLifecycle {
  let calls = 0;
  return lifecycle(w, "w1", (_table, effects) => ({
    ...effects,
    async deleteDay(input, signal) {
      if (input.day !== day) return effects.deleteDay(input, signal);
      calls++;
      return hook(() => effects.deleteDay(input, signal), calls);
    },
  }));
}

async function expectMovedExactly(w: World): Promise<void> {
  const after = await seen(w);
  expect(after.ids).toEqual(truthIds(w));
  expect(after.cold).toEqual(idsWhere(w, (d) => d < w.target));
  expect(after.hot).toEqual(idsWhere(w, (d) => d >= w.target));
  // No row twice in cold.
  const cold = await coldPayloads(w);
  expect(cold.count).toBe(cold.byId.size);
}

const retryable = () => new EntenteError("UNAVAILABLE", "the reply was lost", { retryable: true });

describe.each([
  ["postgres", "timestamp"],
  ["mysql", "date"],
] as const)("the delete step on %s (%s column)", (kind, type) => {
  it("replaces the cold day when a copied row was updated (same count, other checksum)", async () => {
    const w = await world(kind, type);
    const day = addDays(w.target, -3);
    const id = idsOfDay(w, day)[0] as number;
    const l = hooked(w, day, async (run, call) => {
      if (call === 1) {
        await w.hot.execute({
          sql: `UPDATE events SET payload = 'UPDATED' WHERE id = ${id}`,
          params: [],
        });
      }
      return run();
    });
    await l.start();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    await expectMovedExactly(w);
    expect((await coldPayloads(w)).byId.get(id)).toBe("UPDATED");
    const replaced = (await w.cold.load("events"))?.snapshots.filter(
      (s) => s.summary["entente.tier.op"] === "replace",
    );
    expect(replaced?.map((s) => s.summary["entente.tier.day"])).toEqual([day]);
    await l.stop();
  }, 120_000);

  it("keeps a row inserted and drops one deleted in a copied day (same count)", async () => {
    const w = await world(kind, type);
    const day = addDays(w.target, -5);
    const gone = idsOfDay(w, day)[1] as number;
    const l = hooked(w, day, async (run, call) => {
      if (call === 1) {
        await w.hot.execute({ sql: `DELETE FROM events WHERE id = ${gone}`, params: [] });
        w.truth.delete(gone);
        await insert(w, [day], 1);
      }
      return run();
    });
    await l.start();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    await expectMovedExactly(w);
    expect((await coldPayloads(w)).byId.has(gone)).toBe(false);
    await l.stop();
  }, 120_000);

  it("adds rows that arrived after a committed delete whose reply was lost, once", async () => {
    const w = await world(kind, type);
    const day = addDays(w.target, -2);
    const l = hooked(w, day, async (run, call) => {
      if (call > 1) return run();
      // The delete commits, then its worker loses the reply; rows of the day arrive meanwhile.
      await run();
      await insert(w, [day], 2);
      throw retryable();
    });
    await l.start();
    const move = await l.move("events", { wait: true });
    expect(move).toMatchObject({ state: "done", rows: 39 + 2 });
    await expectMovedExactly(w);
    const ops = (await w.cold.load("events"))?.snapshots.map((s) => s.summary["entente.tier.op"]);
    expect(ops?.filter((o) => o === "late-rows")).toHaveLength(1);
    expect(ops?.filter((o) => o === "replace")).toHaveLength(0);
    // The move's delete markers went when it finished.
    const markers = await all(w.hot, "SELECT count(*) FROM entente_tier_deletes");
    expect(Number(markers[0]?.[0])).toBe(0);
    await l.stop();
  }, 120_000);

  it("takes hot as the whole day when an earlier delete attempt did not commit", async () => {
    const w = await world(kind, type);
    const day = addDays(w.target, -4);
    const gone = idsOfDay(w, day)[0] as number;
    const l = hooked(w, day, async (run, call) => {
      if (call > 1) return run();
      // The first attempt fails before deleting anything; a row of the day goes meanwhile.
      await w.hot.execute({ sql: `DELETE FROM events WHERE id = ${gone}`, params: [] });
      w.truth.delete(gone);
      throw retryable();
    });
    await l.start();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    await expectMovedExactly(w);
    expect((await coldPayloads(w)).byId.has(gone)).toBe(false);
    await l.stop();
  }, 120_000);

  it("finds a day's cold rows by content after the cold table was repartitioned without a day field", async () => {
    const w = await world(kind, type);
    const day = addDays(w.target, -6);
    let first = true;
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async deleteDay(input, signal) {
        if (first) {
          first = false;
          // Between the commit and the deletes: every day's rows now share files.
          await w.cold.repartition("events", [{ source: "id", transform: "bucket", buckets: 2 }]);
          await insert(w, [day], 1);
        }
        return effects.deleteDay(input, signal);
      },
    }));
    await l.start();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    await expectMovedExactly(w);
    await l.stop();
  }, 120_000);
});

describe("moves that must not go on", () => {
  it("refuses a cold table that is missing or behind what the tier store says was committed", async () => {
    const w = await world("postgres", "timestamp");
    const l = lifecycle(w, "w1");
    await l.start();
    const moved = await l.move("events", { wait: true });
    expect(moved.state).toBe("done");
    await l.stop();
    // A second host whose cold store path is another (empty) directory.
    const dir = join(tmpdir(), uniqueName("tiers_elsewhere"));
    const elsewhere = await createConnector("archive", { kind: "coldstore", path: dir });
    closing.push(
      () => elsewhere.close(),
      () => rm(dir, { recursive: true, force: true }),
    );
    const other = lifecycle(
      { ...w, connectors: new Map([...w.connectors, ["archive", elsewhere]]) },
      "w2",
    );
    await other.start();
    const watermark = `${w.target}T00:00:00.000Z`;
    await expect(other.watermark("events")).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: expect.stringMatching(new RegExp(`events.*${watermark}.*${dir}.*is missing|${dir}`)),
    });
    const error = await other.watermark("events").catch((err: Error) => err.message);
    expect(error).toContain("events");
    expect(error).toContain(dir);
    expect(error).toContain(watermark);
    // Not created empty over the moved rows, and no move runs against it.
    expect(await coldStoreOf(elsewhere)?.load("events")).toBeUndefined();
    await expect(other.move("events", { wait: true })).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
    expect(await coldStoreOf(elsewhere)?.load("events")).toBeUndefined();
    const [status] = (await other.status("events")) as Array<{ watermark: null; error?: string }>;
    expect(status?.watermark).toBeNull();
    expect(status?.error).toContain(dir);
    await other.stop();
  }, 120_000);

  it("fails a move before copying when the hot table has a column the cold one has not", async () => {
    for (const kind of ["postgres", "mysql"] as const) {
      const w = await world(kind, kind === "postgres" ? "timestamp" : "date");
      const l = lifecycle(w, "w1");
      await l.start();
      await w.hot.execute({ sql: "ALTER TABLE events ADD COLUMN extra integer", params: [] });
      const move = await l.move("events", { wait: true });
      expect(move).toMatchObject({ state: "failed", copied: 0 });
      expect(move.error).toMatch(/only in hot: extra/);
      expect((await seen(w)).hot).toEqual(truthIds(w));
      await l.stop();
    }
  }, 120_000);

  it("stops waiting for a move at the caller's deadline, and the move goes on", async () => {
    const w = await world("postgres", "timestamp");
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async copyDay(input, signal) {
        await gate;
        return effects.copyDay(input, signal);
      },
    }));
    await l.start();
    const handle = tiersHandler({ lifecycle: l, connectors: w.connectors });
    const started = Date.now();
    await expect(
      handle({ op: "move", table: "events", wait: true }, AbortSignal.timeout(300)),
    ).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
    expect(Date.now() - started).toBeLessThan(5_000);
    const [status] = await l.status("events");
    expect(status?.running?.state).toBe("copying");
    release();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    await expectMovedExactly(w);
    await l.stop();
  }, 120_000);

  it("backs off between resumes of a move failed after its commit, and says so in the status", async () => {
    const w = await world("postgres", "timestamp");
    w.config = { ...w.config, everyMs: 1 };
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async deleteDay() {
        throw new EntenteError("BAD_REQUEST", "permission denied");
      },
    }));
    await l.start();
    const failed = await l.move("events", { wait: true });
    expect(failed.state).toBe("failed");
    const store = await TierStore.open(nc, w.deployment);
    const before = (await store.get("events"))?.record.last;
    // A check finds the table due by its schedule, but the resume waits out its backoff.
    await l.check();
    await new Promise((r) => setTimeout(r, 100));
    const after = (await store.get("events"))?.record;
    expect(after?.running).toBeUndefined();
    expect(after?.last?.updatedAt).toBe(before?.updatedAt);
    const [status] = (await l.status("events")) as Array<{
      nextRunAt?: string;
      resume?: { resumes: number; nextAt: string; error?: string };
    }>;
    expect(status?.resume).toMatchObject({ resumes: 0, error: expect.stringMatching(/denied/) });
    const pause = Date.parse(status?.resume?.nextAt ?? "") - (before?.finishedAt ?? 0);
    expect(pause).toBe(60_000);
    expect(status?.nextRunAt).toBe(status?.resume?.nextAt);
    // Taken up on demand: it fails again, and the next pause is twice as long.
    const again = await l.move("events", { wait: true });
    expect(again).toMatchObject({ id: failed.id, state: "failed" });
    const last = (await store.get("events"))?.record.last;
    expect(last?.resumes).toBe(1);
    const [later] = (await l.status("events")) as Array<{ resume?: { nextAt: string } }>;
    expect(Date.parse(later?.resume?.nextAt ?? "") - (last?.finishedAt ?? 0)).toBe(120_000);
    await l.stop();
  }, 120_000);

  it("writes each copy attempt to files of its own and commits exactly the recorded ones", async () => {
    const w = await world("mysql", "date");
    const day = addDays(w.target, -1);
    const nonces: string[] = [];
    let failed = false;
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async copyDay(input, signal) {
        const out = await effects.copyDay(input, signal);
        if (input.day === day) nonces.push(input.nonce);
        if (input.day === day && !failed) {
          failed = true;
          throw retryable();
        }
        return out;
      },
    }));
    await l.start();
    const move = await l.move("events", { wait: true });
    expect(move.state).toBe("done");
    expect(nonces).toHaveLength(2);
    expect(nonces[0]).not.toBe(nonces[1]);
    const record = (await (await TierStore.open(nc, w.deployment)).get("events"))?.record;
    const progress = record?.last?.days.find((d) => d.day === day);
    expect(progress?.nonce).toBe(nonces[1]);
    const committed = (await w.cold.load("events"))?.snapshots.find(
      (s) => s.summary["entente.tier.op"] === "move",
    );
    const paths = committed?.files.map((f) => f.path) ?? [];
    expect(paths.filter((p) => p.includes(`-${day}-`))).toEqual(progress?.files.map((f) => f.path));
    expect(paths.some((p) => p.includes(nonces[0] as string))).toBe(false);
    await expectMovedExactly(w);
    await l.stop();
  }, 120_000);
});

describe.each([
  ["postgres", "timestamp"],
  ["mysql", "date"],
] as const)("rows below the watermark in hot on %s (%s column)", (kind, type) => {
  it("are swept to cold by the next move, the watermark kept, even when more arrive meanwhile", async () => {
    const w = await world(kind, type);
    let sweeps = 0;
    const l = lifecycle(w, "w1", (_table, effects) => ({
      ...effects,
      async deleteDay(input, signal) {
        if (input.below !== undefined && sweeps++ === 0) {
          // Another stray arrives between the sweep's copy and its delete.
          await insert(w, [addDays(w.target, -1)], 1);
        }
        return effects.deleteDay(input, signal);
      },
    }));
    await l.start();
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done" });
    const watermark = watermarkOf(await w.cold.load("events"));
    // Written below the watermark straight into hot: no reader sees them.
    await insert(w, [addDays(w.target, -3), addDays(w.target, -10)], 2);
    expect((await seen(w)).ids).not.toEqual(truthIds(w));
    const sweep = await l.move("events", { wait: true });
    expect(sweep).toMatchObject({ state: "done", from: watermark, to: watermark, partitions: 1 });
    expect(sweeps).toBe(1);
    expect(watermarkOf(await w.cold.load("events"))).toBe(watermark);
    // The stray that arrived after the sweep's copy made its delete replace the swept files.
    const replaced = (await w.cold.load("events"))?.snapshots.filter(
      (s) => s.summary["entente.tier.op"] === "replace",
    );
    expect(replaced?.map((s) => s.summary["entente.tier.day"])).toEqual([
      `below-${watermark?.slice(0, 10)}`,
    ]);
    await expectMovedExactly(w);
    // Nothing left below: the next move has nothing to sweep.
    expect(await l.move("events", { wait: true })).toMatchObject({ state: "done", partitions: 0 });
    await l.stop();
  }, 120_000);
});

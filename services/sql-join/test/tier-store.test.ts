/**
 * The tier moves' store on real JetStream KV: one worker at a time holds a table, a lease run
 * out is taken over, and the former holder's writes are refused from then on.
 */
import { type NatsService, natsServer, uniqueName } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newMove } from "../src/tiers/move-machine.ts";
import { committedWatermark, TierLeaseLost, TierStore } from "../src/tiers/store.ts";

process.env.ENTENTE_TEST_NATS_URL ??= "nats://127.0.0.1:4222";

let nats: NatsService;
let nc: NatsConnection;
let store: TierStore;

beforeAll(async () => {
  nats = await natsServer();
  nc = await connect({ servers: nats.url });
  store = await TierStore.open(nc, uniqueName("tierstore"));
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const move = (id: string) =>
  newMove({ id, table: "events", columnType: "date", hotRetentionDays: 30, now: Date.now() });

describe("the tier store", () => {
  it("lets one worker hold a table until its lease runs out", async () => {
    const [a, b] = await Promise.all([
      store.acquire("t1", { owner: "w1", leaseMs: 60_000 }),
      store.acquire("t1", { owner: "w2", leaseMs: 60_000 }),
    ]);
    // Exactly one of two racing workers gets it.
    expect([a, b].filter((l) => l !== undefined)).toHaveLength(1);
    const held = (a ?? b) as NonNullable<typeof a>;
    const other = a ? "w2" : "w1";
    expect(await store.acquire("t1", { owner: other, leaseMs: 60_000 })).toBeUndefined();
    await held.save(move("m1"));
    expect((await store.get("t1"))?.record.running?.id).toBe("m1");
    expect(await store.tables()).toContain("t1");
  });

  it("keeps a finished move as the last one and lets the table go", async () => {
    const lease = await store.acquire("t2", { owner: "w1", leaseMs: 60_000 });
    if (!lease) throw new Error("not acquired");
    await lease.save(move("m1"));
    await lease.save({ ...move("m1"), state: "done" });
    const record = (await store.get("t2"))?.record;
    expect(record?.running).toBeUndefined();
    expect(record?.last?.state).toBe("done");
    expect(record?.leaseUntil).toBe(0);
    expect(await store.acquire("t2", { owner: "w2", leaseMs: 60_000 })).toBeDefined();
  });

  it("hands a table whose lease ran out to another worker, and refuses the former holder", async () => {
    const first = await store.acquire("t3", { owner: "w1", leaseMs: 1 });
    if (!first) throw new Error("not acquired");
    await first.save(move("m1"));
    // The lease written with the save lasted 1 ms.
    await new Promise((r) => setTimeout(r, 5));
    const second = await store.acquire("t3", { owner: "w2", leaseMs: 60_000 });
    expect(second?.record.running?.id).toBe("m1");
    await expect(first.save({ ...move("m1"), state: "copying" })).rejects.toBeInstanceOf(
      TierLeaseLost,
    );
    expect(first.lost).toBe(true);
    expect((await store.get("t3"))?.record.owner).toBe("w2");
  });
});

describe("the committed watermark", () => {
  it("keeps the highest watermark a committed move reached, never one of an uncommitted move", async () => {
    const lease = await store.acquire("t9", { owner: "w1", leaseMs: 60_000 });
    if (!lease) throw new Error("not acquired");
    const m = move("m1");
    await lease.save(m);
    expect((await store.get("t9"))?.record.watermark).toBeUndefined();
    await lease.save({ ...m, state: "grace", committedAt: Date.now() });
    expect((await store.get("t9"))?.record.watermark).toBe(m.to);
    await lease.save({ ...m, state: "done", committedAt: Date.now() });
    // A later move not committed yet, or one with a lower target, leaves it as it is.
    const next = { ...move("m2"), to: "2000-01-01" };
    await lease.save(next);
    await lease.save({ ...next, state: "done", committedAt: Date.now() });
    const record = (await store.get("t9"))?.record;
    expect(record?.watermark).toBe(m.to);
    expect(committedWatermark(undefined, { ...next, committedAt: 1 })).toBe("2000-01-01");
  });
});

/**
 * The saga store's compare-and-set on real JetStream KV: one of two workers racing for an
 * abandoned saga wins it, and the loser's (or a former owner's) writes are refused.
 */
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSaga } from "../src/records.ts";
import {
  isAbandoned,
  LeaseLost,
  SagaLease,
  type SagaRecord,
  SagaStore,
  takeOver,
} from "../src/store.ts";

let nats: NatsServer;
let nc: NatsConnection;
let store: SagaStore;

const definition = {
  steps: [{ name: "a", action: { kind: "request" as const, subject: "test.a" } }],
};

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: nats.url });
  store = await SagaStore.open(nc, "storetest");
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe("the saga store", () => {
  it("creates an id once", async () => {
    const record: SagaRecord = { ...newSaga("once", definition), leaseUntil: 0 };
    expect(await store.create(record)).toBeTypeOf("number");
    expect(await store.create(record)).toBeUndefined();
  });

  it("renews and releases what was saved last, even a save still under way", async () => {
    const record: SagaRecord = { ...newSaga("renew", definition), owner: "w", leaseUntil: 1 };
    await store.create(record);
    const held = await store.get("renew");
    if (!held) throw new Error("not stored");
    const lease = (await takeOver(store, held, { owner: "w", leaseMs: 60_000 })) as SagaLease;
    // The final save and a renewal timer firing before it landed.
    const saved = lease.save({ ...held.record, state: "completed" });
    const renewed = lease.renew();
    await Promise.all([saved, renewed]);
    const now = await store.get("renew");
    expect([now?.record.state, isAbandoned(now?.record as SagaRecord, Date.now())]).toEqual([
      "completed",
      false,
    ]);
    expect(now?.record.leaseUntil).toBe(0);
  });

  it("hands an abandoned saga to exactly one of two workers racing for it", async () => {
    const record: SagaRecord = { ...newSaga("race", definition), owner: "dead", leaseUntil: 1 };
    await store.create(record);
    const held = await store.get("race");
    if (!held) throw new Error("not stored");
    expect(isAbandoned(held.record, Date.now())).toBe(true);
    const [a, b] = await Promise.all([
      takeOver(store, held, { owner: "a", leaseMs: 60_000 }),
      takeOver(store, held, { owner: "b", leaseMs: 60_000 }),
    ]);
    expect([a, b].filter((lease) => lease !== undefined).length).toBe(1);
    const winner = (a ?? b) as SagaLease;
    const now = await store.get("race");
    expect(now?.record.owner).toBe(a ? "a" : "b");
    expect(isAbandoned(now?.record as SagaRecord, Date.now())).toBe(false);

    // The former owner's view is stale: its next save is refused.
    const former = new SagaLease(store, held, { owner: "dead", leaseMs: 60_000, sentAt: 0 });
    await expect(former.save({ ...held.record, cursor: 1 })).rejects.toBeInstanceOf(LeaseLost);
    expect(former.lost).toBe(true);

    // The winner goes on, and letting go makes the saga anyone's again.
    await winner.save({ ...held.record, updatedAt: Date.now() });
    await winner.release();
    const released = await store.get("race");
    expect(released?.record.owner).toBeUndefined();
    expect(isAbandoned(released?.record as SagaRecord, Date.now())).toBe(true);
  });

  it("lets go of a saga that ended, so nobody resumes it", async () => {
    await store.create({
      ...newSaga("ends", definition),
      owner: "w",
      leaseUntil: Date.now() + 60_000,
    });
    const held = await store.get("ends");
    if (!held) throw new Error("not stored");
    const lease = new SagaLease(store, held, { owner: "w", leaseMs: 60_000, sentAt: Date.now() });
    await lease.save({ ...held.record, state: "completed" });
    await lease.renew(); // a renewal queued behind the final save claims nothing
    const ended = await store.get("ends");
    expect(ended?.record).toMatchObject({ state: "completed", leaseUntil: 0 });
    expect(ended?.record.owner).toBeUndefined();
    expect(isAbandoned(ended?.record as SagaRecord, Date.now() + 120_000)).toBe(false);
  });
});

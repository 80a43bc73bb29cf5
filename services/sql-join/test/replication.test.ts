/**
 * Replication of cross-region reads across three regions (a nats-server, router, sql-join
 * worker and PostgreSQL database each). East replicates what it reads often from west and
 * south; the owners write through `entente.data.put` and publish to their change feeds.
 *
 * No timing is asserted: the staleness rule is checked as "a read that starts once the bound
 * has passed since the put returned sees the new row", and waits are `eventually`.
 */
import {
  type DataGetReply,
  type DataPutReply,
  encodeId,
  msgpackCodec,
  SUBJECTS,
  streamNameOf,
  type TrafficReply,
} from "@entente/protocol";
import { eventually } from "@entente/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataRegions } from "./data-regions.ts";

const STALENESS_MS = 1_500;
const READS = 3;
/** East's replica budget, changed before a restart of its worker. */
let budgetBytes = 1_000_000;

let set: DataRegions;

beforeAll(async () => {
  set = await DataRegions.start({
    fill: async (db, region) => {
      await db.execute({
        sql: `INSERT INTO people SELECT ($1::bigint << 48) | g, 'p_' || $1 || '_' || g, g
                FROM generate_series(1, 50) g`,
        params: [region],
      });
    },
    config: (region) => [
      "tables:",
      "  people: { table: people_db.public.people, id: id, writable: true }",
      ...(region.id === 1
        ? [
            `dataReplication: { enabled: true, readsToReplicate: ${READS}, windowMs: 60000, maxStalenessMs: ${STALENESS_MS}, budgetBytes: ${budgetBytes} }`,
          ]
        : []),
    ],
  });
}, 120_000);

afterAll(async () => {
  await set?.close();
});

function get(ids: bigint[], timeoutMs = 5_000): Promise<DataGetReply> {
  return set.client.request<DataGetReply>(
    SUBJECTS.data.get,
    { table: "people", ids: ids.map(String) },
    { timeoutMs },
  );
}

async function put(rows: Array<Record<string, unknown>>): Promise<DataPutReply> {
  const reply = await set.client.request<DataPutReply>(
    SUBJECTS.data.put,
    { table: "people", rows },
    { timeoutMs: 10_000 },
  );
  expect(reply.partial).toBeUndefined();
  return reply;
}

/** How many of the ids were served from replicas, per region. */
function replicaIds(reply: DataGetReply): Map<number, number> {
  return new Map(reply.served.filter((s) => s.from === "replica").map((s) => [s.region, s.ids]));
}

/** Reads until every id is served from a replica. */
async function replicated(ids: bigint[]): Promise<void> {
  await eventually(
    `replicas of ${ids.length} ids`,
    async () => {
      const reply = await get(ids);
      const held = [...replicaIds(reply).values()].reduce((n, c) => n + c, 0);
      return held === ids.length ? true : undefined;
    },
    30_000,
  );
}

/** East's sql-join stats for its reads from `owner`. */
function pairStats(owner: number): Record<string, number | null> | undefined {
  const worker = set.region(1).services?.hosted[1];
  // $SRV.STATS carries a service's own figures in each endpoint's data.
  const stats = worker?.stats() as {
    endpoints: Array<{ data?: { dataRegions?: Array<Record<string, number>> } }>;
  };
  return stats?.endpoints[0]?.data?.dataRegions?.find((p) => p.to === owner);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until `ms` have passed since `since` by the wall clock (a timer may fire a ms early). */
async function sleepPast(since: number, ms: number): Promise<void> {
  while (Date.now() - since < ms) await sleep(ms - (Date.now() - since) + 1);
}

describe("replication of cross-region reads", () => {
  const west = [1, 2, 3, 4].map((s) => encodeId(2, s));
  const south = [1, 2].map((s) => encodeId(3, s));

  it("makes ids read repeatedly from other regions into replicas, answered as the owner would", async () => {
    const ids = [...west, encodeId(1, 1), ...south];
    const first = await get(ids);
    expect(first.served.map((s) => [s.region, s.from])).toEqual([
      [1, "local"],
      [2, "owner"],
      [3, "owner"],
    ]);
    for (let i = 1; i < READS; i++) await get(ids);
    await replicated([...west, ...south]);
    const reply = await get(ids);
    expect(reply.served.map((s) => [s.region, s.from, s.ids])).toEqual([
      [1, "local", 1],
      [2, "replica", 4],
      [3, "replica", 2],
    ]);
    expect(reply.rows.map((r) => r?.map(String))).toEqual(first.rows.map((r) => r?.map(String)));
    const stats = pairStats(2);
    expect(stats?.replicas).toBe(4);
    expect(stats?.replicaHits).toBeGreaterThan(0);
    expect(stats?.replicaBytes).toBeGreaterThan(0);
    expect(stats?.stalenessMs).toBeLessThanOrEqual(STALENESS_MS * 4);
    // East's router adds the same figures to its traffic view (`entente regions traffic`).
    const traffic = await set.client.request<TrafficReply>(SUBJECTS.router.traffic, {});
    const toWest = traffic.to.find((t) => t.region === 2);
    expect(toWest?.data?.replicas).toBe(4);
    expect(toWest?.data?.replicaHits).toBeGreaterThan(0);
    expect(toWest?.requests).toBeGreaterThan(0);
  }, 60_000);

  it("serves the owner's update once the staleness bound has passed since the put", async () => {
    const id = west[0] as bigint;
    await replicated([id]);
    await put([{ id: String(id), name: "updated_once" }]);
    const returned = Date.now();
    // Until the bound has passed, either row may be read; from then on, only the new one.
    await sleepPast(returned, STALENESS_MS);
    for (let i = 0; i < 10; i++) {
      const reply = await get([id]);
      expect(reply.rows[0]?.[1]).toBe("updated_once");
    }
    // And the replica itself caught up (it is served again, with the new row).
    await eventually(
      "the updated replica",
      async () => {
        const reply = await get([id]);
        return replicaIds(reply).get(2) === 1 && reply.rows[0]?.[1] === "updated_once"
          ? true
          : undefined;
      },
      20_000,
    );
  }, 60_000);

  it("never answers a row older than the bound while the owner keeps writing it", async () => {
    const id = west[3] as bigint;
    await replicated([id]);
    // One writer: score i is put, then returned at returnedAt[i].
    const returnedAt: number[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 1; writing && i <= 200; i++) {
        await put([{ id: String(id), name: "p_2_4", score: i }]);
        returnedAt[i] = Date.now();
      }
    })();
    // Awaited below; marked handled now so a failed put cannot go unnoticed as a stray rejection.
    writer.catch(() => {});
    let fromReplica = 0;
    try {
      const until = Date.now() + 4 * STALENESS_MS;
      while (Date.now() < until) {
        const started = Date.now();
        const reply = await get([id]);
        const score = Number(reply.rows[0]?.[2]);
        if (replicaIds(reply).get(2) === 1) fromReplica += 1;
        // Every score put and returned a bound before this read started is at most this old.
        const due = returnedAt.findLastIndex(
          (at) => at !== undefined && at <= started - STALENESS_MS,
        );
        if (due > 0) expect(score).toBeGreaterThanOrEqual(due);
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(fromReplica).toBeGreaterThan(0);
  }, 60_000);

  it("keeps replicas consistent across a restart of the reading worker", async () => {
    const id = west[1] as bigint;
    await replicated([id]);
    const east = set.region(1);
    await set.stopWorker(east);
    // Written at the owner while east's worker is away: east's replica store holds the old row.
    const westClient = await set.clientOf(set.region(2));
    try {
      const reply = await westClient.client.request<DataPutReply>(
        SUBJECTS.data.put,
        { table: "people", rows: [{ id: String(id), name: "updated_while_away" }] },
        { timeoutMs: 10_000 },
      );
      expect(reply.partial).toBeUndefined();
    } finally {
      await westClient.close();
      await set.startWorker(east);
    }
    // The very first reads after the restart never answer the old row.
    for (let i = 0; i < 20; i++) {
      const reply = await get([id]).catch(() => undefined);
      const name = reply?.rows[0]?.[1];
      if (name !== undefined) expect(name).toBe("updated_while_away");
    }
    await eventually(
      "the replica after the restart",
      async () => {
        const reply = await get([id]);
        expect(reply.rows[0]?.[1]).toBe("updated_while_away");
        return replicaIds(reply).get(2) === 1 ? true : undefined;
      },
      30_000,
    );
  }, 60_000);

  it("drops an owner's replicas when its stream no longer holds the changes they need", async () => {
    const id = west[2] as bigint;
    await replicated([id]);
    const east = set.region(1);
    const droppedBefore = Number(pairStats(2)?.dropped ?? 0);
    await set.stopWorker(east);
    const westClient = await set.clientOf(set.region(2));
    const westNc = await connect({ servers: set.region(2).nats.url, noAsyncTraces: true });
    try {
      await westClient.client.request<DataPutReply>(
        SUBJECTS.data.put,
        { table: "people", rows: [{ id: String(id), name: "updated_then_purged" }] },
        { timeoutMs: 10_000 },
      );
      // West's stream loses the change before east has read it.
      await (await jetstreamManager(westNc)).streams.purge(streamNameOf("entente", "data_changes"));
    } finally {
      await westNc.close();
      await westClient.close();
      await set.startWorker(east);
    }
    for (let i = 0; i < 10; i++) {
      const reply = await get([id]).catch(() => undefined);
      const name = reply?.rows[0]?.[1];
      if (name !== undefined) expect(name).toBe("updated_then_purged");
    }
    await eventually("the dropped replicas", () =>
      Number(pairStats(2)?.dropped ?? 0) > droppedBefore ? true : undefined,
    );
    // Read often again, the row is replicated anew, as it is now.
    await eventually(
      "the replica made anew",
      async () => {
        const reply = await get([id]);
        expect(reply.rows[0]?.[1]).toBe("updated_then_purged");
        return replicaIds(reply).get(2) === 1 ? true : undefined;
      },
      30_000,
    );
  }, 60_000);

  it("fails reads of a region that is down once the bound has passed, never serving its replicas", async () => {
    const westRegion = set.region(2);
    await replicated(west);
    await set.stopWorker(westRegion);
    const stopped = Date.now();
    try {
      await sleepPast(stopped, STALENESS_MS);
      for (let i = 0; i < 5; i++) {
        const reply = await get(west, 3_000);
        expect(replicaIds(reply).get(2)).toBeUndefined();
        expect(reply.partial?.errors.map((e) => e.region)).toEqual([2]);
        expect([...reply.unanswered].sort()).toEqual(west.map(String).sort());
        expect(reply.rows.every((r) => r === null)).toBe(true);
      }
    } finally {
      await set.startWorker(westRegion);
      await set.reachable(set.region(1));
    }
    // Back up: the replicas are served again once a poll has caught up.
    await replicated(west);
  }, 90_000);

  it("survives a region whose feed answers garbage: an error counted, nothing served stale", async () => {
    const southRegion = set.region(3);
    await replicated(south);
    await set.stopWorker(southRegion);
    const liar = await connect({ servers: southRegion.nats.url, noAsyncTraces: true });
    try {
      liar.subscribe(`entente.r.*.fwd.${SUBJECTS.data.changes}`, {
        callback: (_, msg) => {
          msg.respond(msgpackCodec.encode({ changes: "all of them", head: -1 }));
        },
      });
      await liar.flush();
      const errorsBefore = Number(pairStats(3)?.feedErrors ?? 0);
      await eventually("a counted feed error", () =>
        Number(pairStats(3)?.feedErrors ?? 0) > errorsBefore ? true : undefined,
      );
      await sleep(STALENESS_MS);
      const reply = await get([...south, encodeId(1, 2)], 3_000);
      expect(replicaIds(reply).get(3)).toBeUndefined();
      expect(reply.rows[2]?.[1]).toBe("p_1_2");
      expect(reply.unanswered.sort()).toEqual(south.map(String).sort());
    } finally {
      await liar.close();
      await set.startWorker(southRegion);
      await set.reachable(set.region(1));
    }
  }, 60_000);

  it("evicts the least valuable replicas to stay within a tiny budget", async () => {
    const east = set.region(1);
    await set.stopWorker(east);
    budgetBytes = 400;
    await set.startWorker(east);
    await set.reachable(east);
    const ids = [5, 6, 7, 8, 9, 10].map((s) => encodeId(2, s));
    await eventually(
      "evictions",
      async () => {
        for (let i = 0; i < READS; i++) await get(ids);
        const stats = pairStats(2);
        return Number(stats?.evictions ?? 0) > 0 ? stats : undefined;
      },
      30_000,
    );
    // Once a poll has run, what is held fits the budget.
    await eventually("replicas within the budget", () => {
      const bytes = [2, 3].reduce((n, owner) => n + Number(pairStats(owner)?.replicaBytes ?? 0), 0);
      return bytes <= budgetBytes ? true : undefined;
    });
    // Reads still answer every row, from replicas or owners.
    const reply = await get(ids);
    expect(reply.rows.map((r) => r?.[1])).toEqual(ids.map((id) => `p_2_${id & 0xffffn}`));
  }, 60_000);
});

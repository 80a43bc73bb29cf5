/**
 * `entente.data.put` and `entente.data.changes` across three regions: rows land in the databases
 * of the regions that own their ids, each owner publishes what it wrote to its change feed, a
 * region that is down fails only its own rows, and bad input is refused by name.
 */
import {
  type DataChangesReply,
  type DataPutReply,
  EntenteError,
  encodeId,
  SUBJECTS,
  streamNameOf,
} from "@entente/protocol";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DataRegion, DataRegions, rowIn } from "./data-regions.ts";

let set: DataRegions;

beforeAll(async () => {
  set = await DataRegions.start({
    fill: async (db, region) => {
      await db.execute({
        sql: `INSERT INTO people VALUES (($1::bigint << 48) | 1, 'first_' || $1, 1)`,
        params: [region],
      });
    },
    config: () => [
      "tables:",
      "  people: { table: people_db.public.people, id: id, writable: true }",
      "  readonly: { table: people_db.public.people, id: id }",
      "  plain: people_db.public.people",
      "dataChanges: { maxPutBytes: 65536 }",
    ],
  });
}, 120_000);

afterAll(async () => {
  await set?.close();
});

function put(body: unknown, timeoutMs = 10_000): Promise<DataPutReply> {
  return set.client.request<DataPutReply>(SUBJECTS.data.put, body, { timeoutMs });
}

async function failure(body: unknown): Promise<EntenteError> {
  try {
    await put(body);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected the put to fail");
}

async function feedOf(region: DataRegion, after = 0): Promise<DataChangesReply> {
  return set.client.request<DataChangesReply>(
    SUBJECTS.data.changes,
    { after, limit: 100 },
    { region: region.id, timeoutMs: 10_000 },
  );
}

describe("entente.data.put across regions", () => {
  it("writes local and remote rows into their owners' databases and publishes them", async () => {
    const [east, west, south] = set.regions as [DataRegion, DataRegion, DataRegion];
    const before = { west: (await feedOf(west)).head, south: (await feedOf(south)).head };
    const rows = [
      { id: String(encodeId(2, 10)), name: "w10", score: 10 },
      { id: String(encodeId(1, 10)), name: "e10", score: 11 },
      { id: String(encodeId(3, 10)), name: "s10", score: null },
      // An update of an existing row, naming only one column.
      { id: String(encodeId(2, 1)), name: "renamed" },
    ];
    const reply = await put({ table: "people", rows });
    expect(reply.partial).toBeUndefined();
    expect(reply.unwritten).toEqual([]);
    expect(reply.written.map((w) => [w.region, w.from, w.ids])).toEqual([
      [1, "local", [rows[1]?.id]],
      [2, "owner", [rows[0]?.id, rows[3]?.id]],
      [3, "owner", [rows[2]?.id]],
    ]);
    expect(await rowIn(east.db, encodeId(1, 10))).toEqual([String(encodeId(1, 10)), "e10", "11"]);
    expect(await rowIn(west.db, encodeId(2, 10))).toEqual([String(encodeId(2, 10)), "w10", "10"]);
    expect(await rowIn(west.db, encodeId(2, 1))).toEqual([String(encodeId(2, 1)), "renamed", "1"]);
    expect(await rowIn(south.db, encodeId(3, 10))).toEqual([
      String(encodeId(3, 10)),
      "s10",
      "null",
    ]);
    // Nothing lands in a region that does not own the id.
    expect(await rowIn(east.db, encodeId(2, 10))).toBeNull();
    expect(await rowIn(west.db, encodeId(3, 10))).toBeNull();

    // Each owner's feed holds its rows as they are now, whole.
    const westFeed = await feedOf(west, before.west);
    expect(westFeed.head).toBe(before.west + 2);
    expect(
      westFeed.changes.map((c) => [c.table, String(c.id), c.columns, c.row.map(String)]),
    ).toEqual([
      ["people", rows[0]?.id, ["id", "name", "score"], [rows[0]?.id, "w10", "10"]],
      ["people", rows[3]?.id, ["id", "name", "score"], [rows[3]?.id, "renamed", "1"]],
    ]);
    const southFeed = await feedOf(south, before.south);
    expect(southFeed.changes.map((c) => String(c.id))).toEqual([rows[2]?.id]);
    expect(southFeed.changes[0]?.seq).toBe(before.south + 1);
    // Read past the head: nothing more.
    expect((await feedOf(south, southFeed.head)).changes).toEqual([]);
  }, 30_000);

  it("refuses tables not declared writable, naming the setting", async () => {
    const readonly = await failure({ table: "readonly", rows: [{ id: String(encodeId(1, 5)) }] });
    expect(readonly.code).toBe("BAD_REQUEST");
    expect(readonly.message).toMatch(/read-only.*tables\.readonly\.writable: true/);
    const plain = await failure({ table: "plain", rows: [{ id: String(encodeId(1, 5)) }] });
    expect(plain.message).toMatch(/declares no id column/);
    const unknown = await failure({ table: "nobody", rows: [{ id: String(encodeId(1, 5)) }] });
    expect(unknown.code).toBe("BAD_REQUEST");
    expect(unknown.message).toMatch(/unknown table "nobody".*\(people\)/);
  });

  it("refuses bad rows by their index: id missing or out of range, unknown columns", async () => {
    const noId = await failure({ table: "people", rows: [{ name: "x" }] });
    expect(noId.code).toBe("BAD_REQUEST");
    expect(noId.message).toMatch(/rows\[0\].*id column "id".*missing/);
    const range = await failure({
      table: "people",
      rows: [
        { id: String(encodeId(1, 6)), name: "ok" },
        { id: "12", name: "small" },
      ],
    });
    expect(range.code).toBe("BAD_REQUEST");
    expect(range.message).toMatch(/rows\[1\]\.id.*out of range/);
    const column = await failure({
      table: "people",
      rows: [{ id: String(encodeId(1, 6)), nickname: "x" }],
    });
    expect(column.code).toBe("BAD_REQUEST");
    expect(column.message).toMatch(/rows\[0\]: "nickname" not in people/);
    const empty = await failure({ table: "people", rows: [] });
    expect(empty.code).toBe("BAD_REQUEST");
    const big = await failure({
      table: "people",
      rows: Array.from({ length: 200 }, (_, i) => ({
        id: String(encodeId(1, 1_000 + i)),
        name: "x".repeat(1_000),
      })),
    });
    expect(big.code).toBe("TOO_LARGE");
    expect(big.message).toMatch(/exceeds the limit of 65536 bytes/);
    // Nothing was written by any of them.
    expect(await rowIn(set.region(1).db, encodeId(1, 6))).toBeNull();
    expect(await rowIn(set.region(1).db, encodeId(1, 1_000))).toBeNull();
  });

  it("refuses a change feed request out of range", async () => {
    for (const body of [{ after: -1 }, { after: 0, limit: 5_000 }, { after: "x" }]) {
      const err = await set.client.request(SUBJECTS.data.changes, body, { timeoutMs: 5_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EntenteError);
      expect((err as EntenteError).code).toBe("BAD_REQUEST");
    }
  });

  it("fails a region's part when the write committed but could not be published", async () => {
    const west = set.region(2);
    const nc = await connect({ servers: west.nats.url, noAsyncTraces: true });
    try {
      await (await jetstreamManager(nc)).streams.delete(streamNameOf("entente", "data_changes"));
      const rows = [
        { id: String(encodeId(2, 30)), name: "w30" },
        { id: String(encodeId(1, 30)), name: "e30" },
      ];
      const reply = await put({ table: "people", rows });
      expect(reply.written.map((w) => w.region)).toEqual([1]);
      expect(reply.unwritten).toEqual([rows[0]?.id]);
      const error = reply.partial?.errors[0];
      expect([error?.region, error?.code]).toEqual([2, "UNAVAILABLE"]);
      expect(error?.message).toMatch(/committed the rows but could not publish/);
      // Committed all the same: the message says so, and the database has it.
      expect(await rowIn(west.db, encodeId(2, 30))).not.toBeNull();
    } finally {
      await nc.close();
      // A worker makes its change stream when it starts.
      await set.stopWorker(west);
      await set.startWorker(west);
      await set.reachable(set.region(1));
    }
    const again = await put({
      table: "people",
      rows: [{ id: String(encodeId(2, 30)), name: "w30" }],
    });
    expect(again.partial).toBeUndefined();
  }, 40_000);

  it("writes the regions that answer and names the one that is down", async () => {
    const south = set.region(3);
    await set.stopWorker(south);
    try {
      const rows = [
        { id: String(encodeId(1, 20)), name: "e20" },
        { id: String(encodeId(3, 20)), name: "s20" },
        { id: String(encodeId(2, 20)), name: "w20" },
      ];
      const reply = await put({ table: "people", rows }, 4_000);
      expect(reply.partial?.total).toBe(3);
      expect(reply.partial?.succeeded).toBe(2);
      expect(reply.partial?.errors.map((e) => e.region)).toEqual([3]);
      expect(reply.unwritten).toEqual([rows[1]?.id]);
      expect(reply.written.map((w) => w.region)).toEqual([1, 2]);
      expect(await rowIn(set.region(1).db, encodeId(1, 20))).not.toBeNull();
      expect(await rowIn(set.region(2).db, encodeId(2, 20))).not.toBeNull();
      expect(await rowIn(south.db, encodeId(3, 20))).toBeNull();
    } finally {
      await set.startWorker(south);
      await set.reachable(set.region(1));
    }
  }, 40_000);
});

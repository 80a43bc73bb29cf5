/**
 * `entente.data.get` across three regions, each its own nats-server with a region router and a
 * sql-join worker over its own PostgreSQL database, which holds only the rows its region owns.
 * A reference database holding every row tells what the answer must be.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { type DataGetReply, EntenteError, encodeId, SUBJECTS } from "@entente/protocol";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DataRegions, PEOPLE_TABLE } from "./data-regions.ts";

/** Rows per region: sequences 1..ROWS, except multiples of 7 (missing on purpose). */
const ROWS = 400;

let set: DataRegions;
let reference: Connector;

/** Region `region`'s rows. */
async function fill(db: Connector, region: number): Promise<void> {
  await db.execute({
    sql: `INSERT INTO people
            SELECT (${region}::bigint << 48) | g, 'person_' || ${region} || '_' || g,
                   CASE WHEN g % 5 = 0 THEN NULL ELSE g * ${region} END
              FROM generate_series(1, ${ROWS}) g WHERE g % 7 <> 0`,
    params: [],
  });
}

function get(body: unknown, timeoutMs = 10_000): Promise<DataGetReply> {
  return set.client.request<DataGetReply>(SUBJECTS.data.get, body, { timeoutMs });
}

async function failure(body: unknown): Promise<EntenteError> {
  try {
    await get(body);
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected the request to fail");
}

/** What one database holding every row answers for these ids, in their order. */
async function expected(ids: bigint[]): Promise<Array<unknown[] | null>> {
  const result = await reference.query({
    sql: "SELECT id, name, score FROM people WHERE id = ANY($1::bigint[])",
    params: [ids.map(String)],
  });
  const byId = new Map<string, unknown[]>();
  for await (const batch of result.batches as AsyncIterable<unknown[][]>) {
    for (const row of batch) byId.set(String(row[0]), row);
  }
  return ids.map((id) => byId.get(id.toString()) ?? null);
}

/** 1,000 ids over the three regions, some repeated, some with no row. */
function mixedIds(): bigint[] {
  return Array.from({ length: 1_000 }, (_, i) =>
    encodeId(1 + ((i * 7) % 3), 1 + ((i * 13) % (ROWS + 50))),
  );
}

beforeAll(async () => {
  set = await DataRegions.start({
    fill,
    config: () => [
      "tables:",
      "  people: { table: people_db.public.people, id: id }",
      "  plain: people_db.public.people",
    ],
  });
  reference = await createConnector("reference", {
    kind: "postgres",
    url: await set.createDatabase(),
  });
  await reference.execute({ sql: PEOPLE_TABLE, params: [] });
  for (const region of [1, 2, 3]) await fill(reference, region);
}, 120_000);

afterAll(async () => {
  await reference?.close();
  await set?.close();
});

describe("entente.data.get across regions", () => {
  it("answers 1,000 mixed ids as one database holding them all would, in order", async () => {
    const ids = mixedIds();
    const reply = await get({ table: "people", ids: ids.map(String) }, 30_000);
    expect(reply.columns).toEqual(["id", "name", "score"]);
    expect(reply.rows).toHaveLength(ids.length);
    const want = await expected(ids);
    expect(
      reply.rows.map((row) => row?.map((v) => (v === null ? null : String(v))) ?? null),
    ).toEqual(want.map((row) => row?.map((v) => (v === null ? null : String(v))) ?? null));
    const missing = [...new Set(ids.filter((_, i) => want[i] === null).map(String))];
    expect([...reply.missing].sort()).toEqual(missing.sort());
    expect(missing.length).toBeGreaterThan(0);
    expect(reply.unanswered).toEqual([]);
    expect(reply.partial).toBeUndefined();
    expect(reply.served.map((s) => [s.region, s.from])).toEqual([
      [1, "local"],
      [2, "owner"],
      [3, "owner"],
    ]);
    expect(reply.served.reduce((n, s) => n + s.ids, 0)).toBe(new Set(ids.map(String)).size);
  }, 60_000);

  it("reads the columns asked, ids given as integers too", async () => {
    const ids = [encodeId(3, 2), encodeId(1, 3), encodeId(2, 7)];
    const reply = await get({
      table: "people",
      ids: [String(ids[0]), Number(ids[1]), String(ids[2])],
      columns: ["name"],
    });
    expect(reply.columns).toEqual(["name"]);
    expect(reply.rows).toEqual([["person_3_2"], ["person_1_3"], null]);
    expect(reply.missing).toEqual([String(ids[2])]);
    const both = await get({ table: "people", ids: [String(ids[0])], columns: ["name", "id"] });
    expect(both.columns).toEqual(["name", "id"]);
    expect(both.rows.map((row) => row?.map(String))).toEqual([["person_3_2", String(ids[0])]]);
  });

  it("refuses ids out of range, unknown tables and tables without an id column", async () => {
    const range = await failure({ table: "people", ids: [String(encodeId(1, 1)), "12"] });
    expect(range.code).toBe("BAD_REQUEST");
    expect(range.message).toMatch(/ids.*1/);
    expect(range.message).toMatch(/out of range/);
    const unknown = await failure({ table: "nobody", ids: [String(encodeId(1, 1))] });
    expect(unknown.code).toBe("BAD_REQUEST");
    expect(unknown.message).toMatch(/unknown table "nobody"/);
    const plain = await failure({ table: "plain", ids: [String(encodeId(1, 1))] });
    expect(plain.code).toBe("BAD_REQUEST");
    expect(plain.message).toMatch(/declares no id column.*tables\.plain/);
    const column = await failure({ table: "people", ids: [], columns: ["nope"] });
    expect(column.code).toBe("BAD_REQUEST");
    expect(column.message).toMatch(/"nope"/);
  });

  it("answers partially within the deadline when a region is down, naming it", async () => {
    const south = set.region(3);
    await set.stopWorker(south);
    const ids = mixedIds().slice(0, 300);
    const reply = await get({ table: "people", ids: ids.map(String) }, 5_000);
    const want = await expected(ids);
    expect(reply.partial?.total).toBe(3);
    expect(reply.partial?.succeeded).toBe(2);
    expect(reply.partial?.errors.map((e) => e.region)).toEqual([3]);
    expect(reply.partial?.errors[0]?.message).toBeTruthy();
    const southIds = [...new Set(ids.filter((id) => id >> 48n === 3n).map(String))];
    expect([...reply.unanswered].sort()).toEqual(southIds.sort());
    ids.forEach((id, i) => {
      if (id >> 48n === 3n) expect(reply.rows[i]).toBeNull();
      else expect(reply.rows[i]?.map(String)).toEqual(want[i]?.map(String));
    });
    expect(reply.missing.some((id) => southIds.includes(id))).toBe(false);
  }, 30_000);

  it("answers before the deadline when a region takes the request and never replies", async () => {
    const south = set.region(3);
    // South's router runs (so the others see it reachable), its sql-join worker does not:
    // something on its server takes the requests in its place and stays silent.
    await set.stopWorker(south);
    await set.startWorker(south);
    await set.reachable(set.region(1));
    await set.stopSqlJoin(south);
    const silent = await connect({ servers: south.nats.url, noAsyncTraces: true });
    try {
      silent.subscribe(SUBJECTS.data.get, { callback: () => {} });
      await silent.flush();
      const ids = [encodeId(3, 1), encodeId(1, 1), encodeId(2, 1)];
      const reply = await get({ table: "people", ids: ids.map(String) }, 3_000);
      expect(reply.partial?.errors.map((e) => [e.region, e.code])).toEqual([
        [3, "DEADLINE_EXCEEDED"],
      ]);
      expect(reply.unanswered).toEqual([String(ids[0])]);
      expect(reply.rows.map((row) => row?.[1] ?? null)).toEqual([null, "person_1_1", "person_2_1"]);
    } finally {
      await silent.close();
    }
  }, 60_000);
});

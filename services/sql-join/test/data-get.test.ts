/**
 * `entente.data.get` across three regions, each its own nats-server with a region router and a
 * sql-join worker over its own PostgreSQL database, which holds only the rows its region owns.
 * A reference database holding every row tells what the answer must be.
 */
import { type Connector, createConnector } from "@entente/connectors";
import {
  type DataGetReply,
  EntenteError,
  encodeId,
  type RegionsReply,
  SUBJECTS,
} from "@entente/protocol";
import { regionRouterService } from "@entente/region-router";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import {
  eventually,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlJoinService } from "../src/index.ts";

/** Rows per region: sequences 1..ROWS, except multiples of 7 (missing on purpose). */
const ROWS = 400;
const ROUTER =
  "probeIdleMs: 300, probeTimeoutMs: 1000, missedProbesForDown: 2, advertiseEveryMs: 500, advertMaxAgeMs: 3000, shortcutEveryMs: 600000";

interface Region {
  name: string;
  id: number;
  nats: NatsServer;
  url: string;
  /** Its router and sql-join worker, and their connection. */
  services: { hosted: HostedService[]; nc: NatsConnection } | undefined;
}

const regions: Region[] = [];
let pg: PostgresService;
let reference: Connector;
let nc: NatsConnection;
let client: EntenteClient;

const TABLE = `CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, score integer)`;

/** Rows of region `region` (all regions when undefined) into a fresh database. */
async function database(region: number | undefined): Promise<string> {
  const url = await pg.createDatabase();
  const setup = await createConnector(`setup_${region ?? "all"}`, { kind: "postgres", url });
  try {
    await setup.execute({ sql: TABLE, params: [] });
    const owners = region === undefined ? [1, 2, 3] : [region];
    for (const r of owners) {
      await setup.execute({
        sql: `INSERT INTO people
                SELECT (${r}::bigint << 48) | g, 'person_' || ${r} || '_' || g,
                       CASE WHEN g % 5 = 0 THEN NULL ELSE g * ${r} END
                  FROM generate_series(1, ${ROWS}) g WHERE g % 7 <> 0`,
        params: [],
      });
    }
  } finally {
    await setup.close();
  }
  return url;
}

async function startRegionWorker(region: Region, root: Region | undefined): Promise<void> {
  const parent = root && root !== region ? `, parent: ${root.name}` : "";
  const join = root && root !== region ? `, join: "${root.nats.url}"` : "";
  const yaml = [
    `nats: { servers: ["${region.nats.url}"] }`,
    `region: { name: ${region.name}, id: ${region.id}${parent} }`,
    "log: { level: silent }",
    `regionRouter: { ${ROUTER}${join} }`,
    `sources: { people_db: { kind: postgres, url: "${region.url}" } }`,
    "tables:",
    "  people: { table: people_db.public.people, id: id }",
    "  plain: people_db.public.people",
  ].join("\n");
  const config = loadConfig({ text: yaml, env: {} });
  const logger = createLogger({ service: `region ${region.name}`, level: "silent" });
  const nc = await connect({ servers: region.nats.url, noAsyncTraces: true });
  const client = new EntenteClient(nc, { region: region.name, regionId: region.id });
  const hosted: HostedService[] = [];
  region.services = { hosted, nc };
  for (const service of [regionRouterService, sqlJoinService]) {
    hosted.push(await HostedService.start(service, { nc, config, client, logger }));
  }
}

/** Stops a region's router and worker; its server keeps running. */
async function stopRegionWorker(region: Region): Promise<void> {
  const services = region.services;
  region.services = undefined;
  if (!services) return;
  for (const service of [...services.hosted].reverse()) await service.stop(1_000);
  await services.nc.close();
}

function get(body: unknown, timeoutMs = 10_000): Promise<DataGetReply> {
  return client.request<DataGetReply>(SUBJECTS.data.get, body, { timeoutMs });
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
  pg = await postgres();
  reference = await createConnector("reference", {
    kind: "postgres",
    url: await database(undefined),
  });
  for (const [id, name] of [
    [1, "east"],
    [2, "west"],
    [3, "south"],
  ] as const) {
    const nats = await startNatsServer();
    regions.push({ name, id, nats, url: await database(id), services: undefined });
  }
  const root = regions[0] as Region;
  for (const region of regions) await startRegionWorker(region, root);
  nc = await connect({ servers: root.nats.url, noAsyncTraces: true });
  client = new EntenteClient(nc, { region: root.name, regionId: root.id });
  // Every router knows every region before the first request.
  for (const region of regions) {
    const own = await connect({ servers: region.nats.url, noAsyncTraces: true });
    try {
      const c = new EntenteClient(own);
      await eventually(`the registry of ${region.name}`, async () => {
        const reply = await c.request<RegionsReply>(SUBJECTS.router.regions, {});
        return reply.regions.length === 3 && reply.regions.every((r) => r.reachable)
          ? true
          : undefined;
      });
    } finally {
      await own.close();
    }
  }
}, 120_000);

afterAll(async () => {
  await nc?.close();
  for (const region of [...regions].reverse()) {
    await stopRegionWorker(region);
    await region.nats.stop();
  }
  await reference?.close();
  await pg?.stop();
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
    const south = regions[2] as Region;
    await stopRegionWorker(south);
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
    const south = regions[2] as Region;
    await stopRegionWorker(south);
    // South's router is stopped; something on its server takes the routed requests in its place
    // and stays silent.
    const silent = await connect({ servers: south.nats.url, noAsyncTraces: true });
    try {
      silent.subscribe(`entente.r.*.fwd.${SUBJECTS.data.get}`, { callback: () => {} });
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
  }, 30_000);
});

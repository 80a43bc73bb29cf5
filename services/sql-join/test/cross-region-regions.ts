/**
 * Three regions for the cross-region SQL tests: each its own nats-server with a region router and
 * a sql-join worker over its own PostgreSQL database, which holds only the `people` rows its
 * region owns (ids `(region << 48) | seq`). Every worker has the same `logicalTables:` section,
 * naming each region's share of `people`; region 1 (the caller's) also holds `visits`. A reference
 * database holds every row, so it tells what any statement must answer.
 */
import { type Connector, createConnector, type Row } from "@entente/connectors";
import { type RegionsReply, type SqlResultItem, SUBJECTS } from "@entente/protocol";
import { regionRouterService } from "@entente/region-router";
import {
  createLogger,
  EntenteClient,
  HostedService,
  loadConfig,
  type ServiceDefinition,
} from "@entente/runtime";
import {
  eventually,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { sqlJoinService } from "../src/index.ts";

/** People per region: sequences 1..ROWS, except multiples of 7. */
export const ROWS = 300;
export const VISITS = 240;
const ROUTER =
  "probeIdleMs: 300, probeTimeoutMs: 1000, missedProbesForDown: 2, advertiseEveryMs: 500, advertMaxAgeMs: 3000, shortcutEveryMs: 600000";
const NAMES = [
  [1, "east"],
  [2, "west"],
  [3, "south"],
] as const;

export interface Region {
  name: string;
  id: number;
  nats: NatsServer;
  url: string;
  router: { hosted: HostedService; nc: NatsConnection } | undefined;
  sqlJoin: { hosted: HostedService; nc: NatsConnection } | undefined;
}

export interface SqlAnswer {
  columns: { name: string; type?: string }[];
  rows: unknown[][];
  stats?: SqlResultItem["stats"];
  plan?: string;
}

const PEOPLE = `CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, score integer,
  city text, joined date)`;
const VISITS_TABLE = `CREATE TABLE visits (visit_id integer PRIMARY KEY, person_id bigint,
  amount integer)`;

/** The people of `owners` and, when asked, the visits, in a fresh database. */
async function database(pg: PostgresService, owners: number[], visits: boolean): Promise<string> {
  const url = await pg.createDatabase();
  const setup = await createConnector("setup", { kind: "postgres", url });
  try {
    await setup.execute({ sql: PEOPLE, params: [] });
    for (const r of owners) {
      await setup.execute({
        sql: `INSERT INTO people
                SELECT (${r}::bigint << 48) | g, 'p_' || ${r} || '_' || g,
                       CASE WHEN g % 5 = 0 THEN NULL ELSE (g * ${r} * 37) % 1000 END,
                       (ARRAY['oslo', 'lima', 'kyiv', 'pune'])[1 + (g * ${r}) % 4],
                       DATE '2024-01-01' + (g * ${r}) % 365
                  FROM generate_series(1, ${ROWS}) g WHERE g % 7 <> 0`,
        params: [],
      });
    }
    if (visits) {
      await setup.execute({ sql: VISITS_TABLE, params: [] });
      // Visits of people of every region, some of ids no region holds.
      await setup.execute({
        sql: `INSERT INTO visits
                SELECT v, ((1 + v % 3)::bigint << 48) | (1 + (v * 13) % ${ROWS + 20}), (v * 17) % 100
                  FROM generate_series(1, ${VISITS}) v`,
        params: [],
      });
    }
    await setup.execute({ sql: "ANALYZE", params: [] });
  } finally {
    await setup.close();
  }
  return url;
}

/** Worker settings (`sqlJoin:`) for every region. */
export interface RegionsOptions {
  sqlJoin?: string;
}

function workerYaml(region: Region, root: Region, options: RegionsOptions): string {
  const child = region !== root;
  const parent = child ? `, parent: ${root.name}` : "";
  const join = child ? `, join: "${root.nats.url}"` : "";
  const member = (r: number) => `        - { region: ${r}, table: people_db.public.people }`;
  return [
    `nats: { servers: ["${region.nats.url}"] }`,
    `region: { name: ${region.name}, id: ${region.id}${parent} }`,
    "log: { level: silent }",
    `regionRouter: { ${ROUTER}${join} }`,
    `sources: { people_db: { kind: postgres, url: "${region.url}" } }`,
    ...(options.sqlJoin ? [`sqlJoin: ${options.sqlJoin}`] : []),
    "logicalTables:",
    "  people:",
    "    shards:",
    "      key: id",
    "      by: region",
    "      members:",
    ...NAMES.map(([id]) => member(id)),
  ].join("\n");
}

export class Regions {
  readonly regions: Region[] = [];
  pg!: PostgresService;
  reference!: Connector;
  /** A client of region 1, where statements are sent. */
  client!: EntenteClient;
  private nc!: NatsConnection;
  private readonly options: RegionsOptions;

  private constructor(options: RegionsOptions) {
    this.options = options;
  }

  static async start(options: RegionsOptions = {}): Promise<Regions> {
    const regions = new Regions(options);
    try {
      await regions.open();
    } catch (err) {
      await regions.close();
      throw err;
    }
    return regions;
  }

  private async open(): Promise<void> {
    this.pg = await postgres();
    this.reference = await createConnector("reference", {
      kind: "postgres",
      url: await database(this.pg, [1, 2, 3], true),
    });
    for (const [id, name] of NAMES) {
      const nats = await startNatsServer();
      const url = await database(this.pg, [id], id === 1);
      this.regions.push({ name, id, nats, url, router: undefined, sqlJoin: undefined });
    }
    // Routers first, so each worker finds the others' tables when it starts.
    for (const region of this.regions) await this.startService(region, "router");
    await this.routesReady();
    for (const region of this.regions) await this.startService(region, "sqlJoin");
    const root = this.root;
    this.nc = await connect({ servers: root.nats.url, noAsyncTraces: true });
    this.client = new EntenteClient(this.nc, { region: root.name, regionId: root.id });
  }

  get root(): Region {
    return this.regions[0] as Region;
  }

  region(id: number): Region {
    const region = this.regions.find((r) => r.id === id);
    if (!region) throw new Error(`no region ${id}`);
    return region;
  }

  /** Starts a region's router or sql-join worker (or `replacement` in the worker's place). */
  async startService(
    region: Region,
    which: "router" | "sqlJoin",
    replacement?: ServiceDefinition,
  ): Promise<void> {
    const config = loadConfig({ text: workerYaml(region, this.root, this.options), env: {} });
    const logger = createLogger({ service: `${region.name} ${which}`, level: "silent" });
    const nc = await connect({ servers: region.nats.url, noAsyncTraces: true });
    const client = new EntenteClient(nc, { region: region.name, regionId: region.id });
    const service = which === "router" ? regionRouterService : (replacement ?? sqlJoinService);
    const hosted = await HostedService.start(service, { nc, config, client, logger });
    region[which] = { hosted, nc };
  }

  async stopService(region: Region, which: "router" | "sqlJoin"): Promise<void> {
    const running = region[which];
    region[which] = undefined;
    if (!running) return;
    await running.hosted.stop(1_000);
    await running.nc.close();
  }

  /** Until every router knows every region as reachable. */
  private async routesReady(): Promise<void> {
    for (const region of this.regions) {
      const own = await connect({ servers: region.nats.url, noAsyncTraces: true });
      try {
        const c = new EntenteClient(own);
        await eventually(`the registry of ${region.name}`, async () => {
          const reply = await c.request<RegionsReply>(SUBJECTS.router.regions, {});
          return reply.regions.length === this.regions.length &&
            reply.regions.every((r) => r.reachable)
            ? true
            : undefined;
        });
      } finally {
        await own.close();
      }
    }
  }

  /** A statement through region 1's worker, its reply items merged. */
  async sql(sql: string, params: unknown[] = [], timeoutMs = 15_000): Promise<SqlAnswer> {
    const items = await this.client.collect<SqlResultItem>(
      SUBJECTS.sql,
      { sql, params },
      { timeoutMs },
    );
    const answer: SqlAnswer = { columns: [], rows: [] };
    for (const item of items) {
      if (item.columns) answer.columns = item.columns;
      if (item.rows) answer.rows.push(...item.rows);
      if (item.stats) answer.stats = item.stats;
      if (item.plan) answer.plan = item.plan;
    }
    return answer;
  }

  /** The same statement on the database that holds every row. */
  async expected(sql: string, params: unknown[] = []): Promise<Row[]> {
    const result = await this.reference.query({ sql, params });
    const rows: Row[] = [];
    for await (const batch of result.batches) rows.push(...batch);
    return rows;
  }

  async close(): Promise<void> {
    await this.nc?.close();
    for (const region of [...this.regions].reverse()) {
      await this.stopService(region, "sqlJoin");
      await this.stopService(region, "router");
      await region.nats.stop();
    }
    await this.reference?.close();
    await this.pg?.stop();
  }
}

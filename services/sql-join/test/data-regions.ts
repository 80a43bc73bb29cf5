/**
 * Three regions for the data tests: each its own nats-server (JetStream) with a region router
 * and a sql-join worker over its own PostgreSQL database, which holds only the rows its region
 * owns. Workers can be stopped and started again; servers keep running.
 */
import { type Connector, createConnector } from "@entente/connectors";
import { type RegionsReply, SUBJECTS } from "@entente/protocol";
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
import { sqlJoinService } from "../src/index.ts";

const ROUTER =
  "probeIdleMs: 300, probeTimeoutMs: 1000, missedProbesForDown: 2, advertiseEveryMs: 500, advertMaxAgeMs: 3000, shortcutEveryMs: 600000";

export const PEOPLE_TABLE =
  "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL, score integer)";

export interface DataRegion {
  name: string;
  id: number;
  nats: NatsServer;
  /** Its database's URL, and a connection to it for checking what landed there. */
  url: string;
  db: Connector;
  /** Its router and sql-join worker, and their connection. */
  services: { hosted: HostedService[]; nc: NatsConnection } | undefined;
}

export interface DataRegionsOptions {
  /** Fills a region's fresh database (the table is made already). */
  fill?: (db: Connector, region: number) => Promise<void>;
  /** Extra configuration lines of a region (a `tables:` section at least). */
  config: (region: DataRegion) => string[];
}

export class DataRegions {
  readonly regions: DataRegion[] = [];
  /** A client connected to the first region's server. */
  client!: EntenteClient;
  #nc: NatsConnection | undefined;
  #pg: PostgresService | undefined;
  readonly #options: DataRegionsOptions;

  private constructor(options: DataRegionsOptions) {
    this.#options = options;
  }

  static async start(options: DataRegionsOptions): Promise<DataRegions> {
    const set = new DataRegions(options);
    try {
      await set.#start();
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  /** A fresh database on the same PostgreSQL, e.g. a reference holding every region's rows. */
  createDatabase(): Promise<string> {
    if (!this.#pg) throw new Error("PostgreSQL is not running");
    return this.#pg.createDatabase();
  }

  region(id: number): DataRegion {
    const region = this.regions.find((r) => r.id === id);
    if (!region) throw new Error(`no region ${id}`);
    return region;
  }

  /** A client of another region than the first. */
  async clientOf(region: DataRegion): Promise<{ client: EntenteClient; close(): Promise<void> }> {
    const nc = await connect({ servers: region.nats.url, noAsyncTraces: true });
    return {
      client: new EntenteClient(nc, { region: region.name, regionId: region.id }),
      close: () => nc.close(),
    };
  }

  async #start(): Promise<void> {
    this.#pg = await postgres();
    for (const [id, name] of [
      [1, "east"],
      [2, "west"],
      [3, "south"],
    ] as const) {
      const nats = await startNatsServer();
      const url = await this.#pg.createDatabase();
      const db = await createConnector(`db_${name}`, { kind: "postgres", url });
      await db.execute({ sql: PEOPLE_TABLE, params: [] });
      await this.#options.fill?.(db, id);
      this.regions.push({ name, id, nats, url, db, services: undefined });
    }
    for (const region of this.regions) await this.startWorker(region);
    const root = this.regions[0] as DataRegion;
    this.#nc = await connect({ servers: root.nats.url, noAsyncTraces: true });
    this.client = new EntenteClient(this.#nc, { region: root.name, regionId: root.id });
    // Every router knows every region before the first request.
    for (const region of this.regions) await this.reachable(region);
  }

  /** Waits until `region`'s router sees every region reachable. */
  async reachable(region: DataRegion): Promise<void> {
    const own = await this.clientOf(region);
    try {
      await eventually(
        `the registry of ${region.name}`,
        async () => {
          const reply = await own.client.request<RegionsReply>(SUBJECTS.router.regions, {});
          return reply.regions.length === 3 && reply.regions.every((r) => r.reachable)
            ? true
            : undefined;
        },
        30_000,
      );
    } finally {
      await own.close();
    }
  }

  async startWorker(region: DataRegion): Promise<void> {
    const root = this.regions[0] as DataRegion;
    const parent = root !== region ? `, parent: ${root.name}` : "";
    const join = root !== region ? `, join: "${root.nats.url}"` : "";
    const yaml = [
      `nats: { servers: ["${region.nats.url}"] }`,
      `region: { name: ${region.name}, id: ${region.id}${parent} }`,
      "log: { level: silent }",
      `regionRouter: { ${ROUTER}${join} }`,
      `sources: { people_db: { kind: postgres, url: "${region.url}" } }`,
      ...this.#options.config(region),
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

  /** Stops a region's sql-join worker only; its router keeps running. */
  async stopSqlJoin(region: DataRegion): Promise<void> {
    const worker = region.services?.hosted.pop();
    await worker?.stop(1_000);
  }

  /** Stops a region's router and worker; its server keeps running. */
  async stopWorker(region: DataRegion): Promise<void> {
    const services = region.services;
    region.services = undefined;
    if (!services) return;
    for (const service of [...services.hosted].reverse()) await service.stop(1_000);
    await services.nc.close();
  }

  async close(): Promise<void> {
    await this.#nc?.close();
    for (const region of [...this.regions].reverse()) {
      await this.stopWorker(region);
      await region.nats.stop();
      await region.db.close();
    }
    await this.#pg?.stop();
  }
}

/** The row of `id` in a region's database, as text values (null when there is none). */
export async function rowIn(db: Connector, id: bigint): Promise<string[] | null> {
  const result = await db.query({
    sql: "SELECT id, name, score FROM people WHERE id = $1",
    params: [id.toString()],
  });
  for await (const batch of result.batches as AsyncIterable<unknown[][]>) {
    const row = batch[0];
    if (row) return row.map((v) => (v === null ? "null" : String(v)));
  }
  return null;
}

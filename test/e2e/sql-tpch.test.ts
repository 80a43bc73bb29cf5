/**
 * TPC-H through the SQL join service: the 22 queries with the specification's validation
 * parameters at scale factor 0.1 (ENTENTE_TEST_TPCH_SF for another), in two layouts of the eight
 * tables over PostgreSQL, MariaDB and DuckDB, each compared with one PostgreSQL database holding
 * every table (the reference) — the same multiset of rows, in the same order where the query
 * orders them.
 * Layout A runs once more with pushdown off, every operator in the engine.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntenteError, SUBJECTS } from "@entente/protocol";
import { EntenteClient, loadConfig, startWorker, type Worker } from "@entente/runtime";
import { sqlJoinService } from "@entente/sql-join";
import {
  type MariaDbService,
  mariadb,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlResult } from "./sql/compare.ts";
import {
  type Executor,
  type PgExecutor,
  postgresExecutor,
  serviceExecutor,
} from "./sql/executors.ts";
import { answerMismatch } from "./sql/tpch/answers.ts";
import { tpchTables } from "./sql/tpch/generate.ts";
import {
  layoutTableName,
  type SourceLocations,
  TPCH_LAYOUTS,
  type TpchLayout,
  tablesIn,
  tpchWorkerConfigYaml,
} from "./sql/tpch/layouts.ts";
import { loadDuckDb, loadMysql, loadPostgres } from "./sql/tpch/load.ts";
import { renameTables, type TpchQuery, tpchQueries } from "./sql/tpch/queries.ts";

const SF = Number(process.env.ENTENTE_TEST_TPCH_SF || 0.1);
if (!(SF > 0 && SF <= 1)) throw new Error(`ENTENTE_TEST_TPCH_SF must be in (0, 1], not ${SF}`);
const QUERY_TIMEOUT_MS = 120_000;

const TABLES = tpchTables(SF);
const QUERIES = tpchQueries(SF);

let nats: NatsServer;
let pgServer: PostgresService;
let mariaServer: MariaDbService;
let dir: string;
let worker: Worker;
let client: EntenteClient;
let service: Executor;
let engineOnly: Executor;
let reference: PgExecutor;

/** Creates each layout's three sources and the reference, and loads them all at once. */
async function createAndLoad(): Promise<Map<TpchLayout, SourceLocations>> {
  const referenceUrl = await pgServer.createDatabase();
  const locations = new Map<TpchLayout, SourceLocations>();
  for (const layout of TPCH_LAYOUTS) {
    locations.set(layout, {
      postgres: await pgServer.createDatabase(),
      mysql: await mariaServer.createDatabase(),
      duckdb: join(dir, `${layout.name}.duckdb`),
    });
  }
  await Promise.all([
    loadPostgres(referenceUrl, TABLES),
    ...TPCH_LAYOUTS.flatMap((layout) => {
      const at = locations.get(layout)!;
      return [
        loadPostgres(at.postgres, tablesIn(layout, "postgres", TABLES)),
        loadMysql(at.mysql, tablesIn(layout, "mysql", TABLES)),
        loadDuckDb(at.duckdb, tablesIn(layout, "duckdb", TABLES)),
      ];
    }),
  ]);
  reference = await postgresExecutor(referenceUrl);
  return locations;
}

beforeAll(async () => {
  [nats, pgServer, mariaServer] = await Promise.all([
    startNatsServer({ jetstream: false }),
    postgres(),
    mariadb(),
  ]);
  dir = await mkdtemp(join(tmpdir(), "entente-sql-tpch-"));
  const locations = await createAndLoad();
  worker = await startWorker({
    services: [sqlJoinService],
    config: loadConfig({ text: tpchWorkerConfigYaml(nats.url, locations), env: {} }),
  });
  // The service sends nothing while it computes: a slow query is not a stalled stream.
  client = new EntenteClient(await connect({ servers: nats.url }), {
    defaultTimeoutMs: QUERY_TIMEOUT_MS,
    stallTimeoutMs: QUERY_TIMEOUT_MS,
  });
  service = serviceExecutor(client, SUBJECTS.sql, { timeoutMs: QUERY_TIMEOUT_MS });
  engineOnly = serviceExecutor(client, SUBJECTS.sql, {
    timeoutMs: QUERY_TIMEOUT_MS,
    pushdown: false,
  });
  // Generating, loading and indexing seven databases at SF 0.1 takes tens of seconds.
}, 300_000);

afterAll(async () => {
  await client?.nc.close();
  await worker?.stop();
  await reference?.close();
  // Stopping the services drops the databases they created.
  await Promise.all([pgServer?.stop(), mariaServer?.stop(), nats?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/**
 * Reference answers by query: both layouts compare with the same one. The reference reads its
 * char(n) columns directly (the executor drops their padding): no TPC-H query matches one with
 * LIKE or compares it with a varchar, where PostgreSQL's padded semantics differ from the engine's.
 */
const referenceAnswers = new Map<number, Promise<SqlResult>>();

function referenceResult(query: TpchQuery): Promise<SqlResult> {
  let answer = referenceAnswers.get(query.id);
  if (!answer) {
    answer = reference.run(query.sql);
    referenceAnswers.set(query.id, answer);
  }
  return answer;
}

const inLayout = (layout: TpchLayout, query: TpchQuery) =>
  renameTables(query.sql, (table) => layoutTableName(layout, table));

const describeError = (error: EntenteError) => `${error.code}: ${error.message}`;

async function expectSameAsReference(
  layout: TpchLayout,
  query: TpchQuery,
  run: Executor,
): Promise<void> {
  const sql = inLayout(layout, query);
  let got: SqlResult;
  try {
    got = await run(sql);
  } catch (error) {
    if (!(error instanceof EntenteError)) throw error;
    throw new Error(
      `layout ${layout.name}, Q${query.id}: the service failed: ${describeError(error)}`,
    );
  }
  const mismatch = answerMismatch(sql, await referenceResult(query), got);
  if (mismatch) throw new Error(`layout ${layout.name}, Q${query.id}\n${mismatch}`);
}

describe("the data set", () => {
  it.each(QUERIES)(`Q$id has rows at SF ${SF} in the reference`, async (query) => {
    const result = await referenceResult(query);
    expect(result.rows.length).toBeGreaterThan(0);
    // Single-row aggregates (Q6, Q14, Q17, Q19) are NULL over no rows.
    expect(result.rows[0]!.some((value) => value !== null)).toBe(true);
  });
});

describe.each(TPCH_LAYOUTS)("TPC-H, layout $name ($description)", (layout) => {
  it.each(QUERIES.map((query) => [query.id, query] as const))(
    "Q%i answers as one PostgreSQL database does",
    (_id, query) => expectSameAsReference(layout, query, service),
    QUERY_TIMEOUT_MS + 30_000,
  );
});

describe("TPC-H, layout a, pushdown off", () => {
  const layout = TPCH_LAYOUTS[0] as TpchLayout;
  it.each(QUERIES.map((query) => [query.id, query] as const))(
    "Q%i answers as one PostgreSQL database does with every operator in the engine",
    (_id, query) => expectSameAsReference(layout, query, engineOnly),
    QUERY_TIMEOUT_MS + 30_000,
  );
});

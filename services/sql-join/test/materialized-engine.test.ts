/**
 * Materialized results with the real SQL engine (its demo sources, its parser threads, its
 * planner and executor) over real NATS JetStream and a cold store in a temporary directory: a
 * cross-source join stored, answered from the store for a differently written statement, equal
 * to running it, and refreshed from its stored (normalized) text.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ColdstoreConnector } from "@entente/connectors";
import { bucketNameOf, EntenteError } from "@entente/protocol";
import { planStatement, type Row, runPlan, type SourceRunner } from "@entente/sql";
import { type NatsService, natsServer } from "@entente/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { execLimits, openSqlEngine, type SqlEngine } from "../src/engine.ts";
import {
  MaterializedResults,
  type MaterializeRun,
  materializeConfigSchema,
  materializeSourceOf,
} from "../src/materialized/index.ts";

let nats: NatsService;
let nc: NatsConnection;
let dir: string;
let engine: SqlEngine;
let cold: ColdstoreConnector;
let results: MaterializedResults;
const deployment = `mate${process.pid}`;
let runs = 0;

function runnerOf(e: SqlEngine): SourceRunner {
  return {
    async query(source, statement, signal) {
      const connector = e.catalog.connectors.get(source);
      if (!connector) throw new EntenteError("NOT_FOUND", `unknown source "${source}"`);
      const result = await connector.query(
        { sql: statement.sql, params: statement.params },
        { signal, batchRows: e.settings.sourceBatchRows },
      );
      return result.batches as AsyncIterable<Row[]>;
    },
  };
}

const run: MaterializeRun = async (sql, params, signal) => {
  runs++;
  const statement = await engine.parser.parse(sql, signal);
  const planned = await engine.catalog.withCatalog((catalog) => ({
    ...planStatement(statement, catalog, params, { pushdown: engine.settings.pushdown }),
    catalog,
  }));
  const { batches } = runPlan(
    planned.plan,
    planned.catalog,
    runnerOf(engine),
    signal,
    execLimits(engine.settings),
  );
  return {
    columns: planned.plan.columns.map((c) => ({
      name: c.name,
      type: c.type === "null" ? "unknown" : c.type,
    })),
    rows: batches,
  };
};

async function all(batches: AsyncIterable<Row[]>): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const batch of batches) rows.push(...batch);
  return rows;
}

beforeAll(async () => {
  nats = await natsServer();
  nc = await connect({ servers: nats.url });
  dir = await mkdtemp(join(tmpdir(), "entente-materialized-engine-"));
  engine = await openSqlEngine({});
  cold = await ColdstoreConnector.open("archive", { kind: "coldstore", path: dir });
  results = await MaterializedResults.open({
    nc,
    deployment,
    settings: materializeConfigSchema.parse({ source: "archive" }),
    source: materializeSourceOf(new Map([["archive", cold]]), "archive"),
    run,
    parse: (sql, signal) => engine.parser.parse(sql, signal),
  });
});

afterAll(async () => {
  await results?.close();
  const kv = await new Kvm(jetstream(nc)).open(bucketNameOf(deployment, "materialized"));
  await kv.destroy().catch(() => {});
  await cold?.close();
  await engine?.close();
  await nc?.drain();
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("stores a join's result and answers the same statement from it", async () => {
  const sql = `-- orders per country
    SELECT u.country, count(*) AS orders, sum(o.total) AS total, max(o.created_at) AS last
      FROM users_db.main.users u JOIN orders_db.main.orders o ON o.user_id = u.id
     WHERE o.id > $1
     GROUP BY u.country
     ORDER BY u.country DESC;`;
  const signal = new AbortController().signal;
  const direct = await run(sql, [100], signal);
  const truth = await all(direct.rows);
  expect(truth.length).toBe(10);

  const info = await results.materialize(sql, [100], 3_600_000);
  expect(info.rows).toBe(10);
  expect(info.sql).toBe(
    "SELECT u.country, count(*) AS orders, sum(o.total) AS total, max(o.created_at) AS last FROM users_db.main.users u JOIN orders_db.main.orders o ON o.user_id = u.id WHERE o.id > $1 GROUP BY u.country ORDER BY u.country DESC",
  );

  const variant = await engine.parser.parse(
    "select u.country, COUNT(*) as orders, SUM(o.total) as total, MAX(o.created_at) as last from users_db.main.users u join orders_db.main.orders o on o.user_id = u.id where o.id > $1 group by u.country order by u.country desc",
    signal,
  );
  const hit = results.lookup(variant, [100]);
  expect(hit?.info).toEqual(info);
  const read = await (hit as NonNullable<typeof hit>).read(signal);
  expect(read.columns).toEqual(direct.columns);
  expect(await all(read.batches)).toEqual(truth);
  expect(results.lookup(variant, [101])).toBeUndefined();

  const before = runs;
  const refreshed = await results.refresh(info.id);
  expect(runs).toBe(before + 1);
  expect(refreshed).toMatchObject({ id: info.id, rows: 10, fresh: true });
  const again = results.lookup(variant, [100]) as NonNullable<typeof hit>;
  expect(await all((await again.read(signal)).batches)).toEqual(truth);
});

/**
 * The `sql-join` service on `entente.sql`: one SQL statement over tables in many databases.
 * Each request is parsed, planned, then explained or run; rows stream back in batches with
 * per-source stats at the end, or as one item when the result is small.
 */
import { leaseWorkerSources, sourcesSectionSchema } from "@entente/connectors";
import {
  catalogRequestSchema,
  dataChangesRequestSchema,
  dataGetRequestSchema,
  dataPutRequestSchema,
  EntenteError,
  type SqlRequest,
  sqlRequestSchema,
  tiersRequestSchema,
  txRequestSchema,
} from "@entente/protocol";
import { configFingerprint, endpoint, type ServiceDefinition } from "@entente/runtime";
import { castValue, membersFor } from "@entente/sql";
import { nuid } from "@nats-io/nats-core";
import { catalogHandler } from "./catalog-api.ts";
import {
  dataChangesConfigSchema,
  dataReplicationConfigSchema,
  sqlJoinConfigSchema,
  tablesSectionSchema,
} from "./config.ts";
import { ChangeStream } from "./data-changes.ts";
import { dataGetHandler, localReader } from "./data-get.ts";
import { dataPutHandler } from "./data-put.ts";
import { DEMO_LOGICAL_TABLES, DEMO_SOURCES, removeDemoColdStore } from "./demo.ts";
import { openSqlEngine, type SqlEngine } from "./engine.ts";
import { logicalTablesSchema } from "./logical-config.ts";
import { type MaterializedResults, materializeConfigSchema } from "./materialized/index.ts";
import { RegionPairCounters } from "./replication/pair-counters.ts";
import { Replicator } from "./replication/replicator.ts";
import { ReplicaStore } from "./replication/store.ts";
import { answerSelect, parse, runnerOf } from "./select.ts";
import { openTiersService, type TiersService, tiersConfigSchema } from "./tiers-service.ts";
import { writesConfigSchema } from "./writes/config.ts";
import { type WriteContext, Writes } from "./writes/writes.ts";

/**
 * Answers one request: a tier lookup, a write or transaction, or a SELECT. A straight line with
 * no states worth naming, so a plain function; the request's deadline and signal (from the
 * runtime) bound every step.
 */
export function sqlHandler(
  engine: SqlEngine,
  writes?: Writes,
  forward = true,
  materialized?: MaterializedResults,
) {
  return async (request: SqlRequest, context: WriteContext) => {
    // A move that committed since the last statement moves the boundary before this one plans.
    await engine.catalog.syncWatermarks();
    if (request.tierFor) return tierFor(engine, request.tierFor);
    const started = performance.now();
    // The statement's time on the engine's own clock too, so loops stop even if a timer is late.
    const budgetMs = context.deadline.remainingMs();
    const { signal } = context;
    if (request.statements) return requireWrites(writes).list(request, context);
    if (request.session !== undefined) {
      return requireWrites(writes).inSession(request, context, forward);
    }
    const statement = await parse(engine, request.sql ?? "", signal);
    if (statement.kind !== "select") {
      return requireWrites(writes).single(statement, request, context);
    }
    if (request.idempotencyKey !== undefined) {
      throw new EntenteError("BAD_REQUEST", "idempotencyKey applies to writes; this is a SELECT");
    }
    return answerSelect(engine, statement, request, signal, { started, budgetMs }, materialized);
  };
}

function requireWrites(writes: Writes | undefined): Writes {
  if (!writes) throw new EntenteError("UNAVAILABLE", "this worker takes no writes");
  return writes;
}

/** Which member of a tiered (or sharded) table holds rows with the given time (or key). */
function tierFor(engine: SqlEngine, ask: { table: string; at: unknown }) {
  const table = engine.catalog.current.logical(ask.table);
  if (!table) {
    const known = [...engine.catalog.current.logicalTables.keys()];
    throw new EntenteError(
      "NOT_FOUND",
      `"${ask.table}" is not a tiered or sharded table${known.length > 0 ? ` (known: ${known.join(", ")})` : ""}`,
    );
  }
  const column = table.members[0]?.constraint.column ?? "";
  const type = table.columns.find((c) => c.name === column)?.type ?? "unknown";
  let at: unknown;
  try {
    at = castValue(ask.at, type);
  } catch (err) {
    throw new EntenteError(
      "BAD_REQUEST",
      `tierFor.at: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const members = membersFor(table, at);
  return {
    table: table.name,
    kind: table.kind,
    column,
    at: ask.at,
    members: members.map((m) => ({
      label: m.label,
      source: m.table.source,
      table: `${m.table.source}.${m.table.schema}.${m.table.name}`,
    })),
  };
}

export const sqlJoinService: ServiceDefinition = {
  name: "sql-join",
  version: "0.1.0",
  description: "One SQL statement over tables in many databases",
  sections: {
    tables: tablesSectionSchema,
    sqlJoin: sqlJoinConfigSchema,
    logicalTables: logicalTablesSchema,
    sources: sourcesSectionSchema,
    dataChanges: dataChangesConfigSchema,
    dataReplication: dataReplicationConfigSchema,
    writes: writesConfigSchema,
    materialize: materializeConfigSchema,
    tiers: tiersConfigSchema,
  },
  async start({ config, logger, subjects, client, nc }) {
    const tables = config.section("tables", tablesSectionSchema);
    const settings = config.section("sqlJoin", sqlJoinConfigSchema);
    const logicalTables = config.section("logicalTables", logicalTablesSchema);
    const materializeSettings = config.section("materialize", materializeConfigSchema);
    const lease = leaseWorkerSources(config);
    // Without a sources: section, the embedded default's demo sources and tables.
    const demo = lease.declared === undefined;
    let engine: SqlEngine;
    try {
      if (demo) {
        for (const [name, source] of Object.entries(DEMO_SOURCES)) lease.pool.define(name, source);
      }
      const names = lease.declared ?? Object.keys(DEMO_SOURCES);
      engine = await openSqlEngine({
        pool: { sources: lease.pool, names, demo },
        tables,
        logicalTables: logicalTables ?? (demo ? DEMO_LOGICAL_TABLES : undefined),
        settings,
        network: { client, region: config.config.region.id, subject: subjects.sql },
      });
    } catch (err) {
      await lease.release();
      if (demo) await removeDemoColdStore();
      throw err;
    }
    const timer = setInterval(() => {
      engine.catalog.refresh().catch((err) => logger.warn({ err }, "catalog refresh failed"));
    }, settings.catalogRefreshMs);
    timer.unref();
    const writesSettings = config.section("writes", writesConfigSchema);
    const declaredSources = config.section("sources", sourcesSectionSchema);
    let writes: Writes;
    try {
      writes = await Writes.open({
        engine,
        runner: runnerOf(engine),
        settings: writesSettings,
        nc,
        deployment: subjects.deployment,
        region: config.config.region.id,
        workerId: nuid.next(),
        client,
        sessionSubject: subjects.sqlSession,
        logger,
        parse: (sql, signal) => parse(engine, sql, signal),
      });
    } catch (err) {
      clearInterval(timer);
      await engine.close();
      await lease.release();
      if (demo) await removeDemoColdStore();
      throw err;
    }
    let tiers: TiersService;
    try {
      tiers = await openTiersService({
        engine,
        logicalTables: logicalTables ?? (demo ? DEMO_LOGICAL_TABLES : {}),
        settings: config.section("tiers", tiersConfigSchema),
        materialize: {
          ...materializeSettings,
          ...(demo && materializeSettings.source === undefined ? { source: "archive" } : {}),
        },
        nc,
        deployment: subjects.deployment,
        worker: writes.worker,
        logger,
        longestStatementMs: config.config.runtime.maxTimeoutMs,
      });
    } catch (err) {
      await writes.stop();
      clearInterval(timer);
      await engine.close();
      await lease.release();
      if (demo) await removeDemoColdStore();
      throw err;
    }
    // After the tiers opened: a cold table the lifecycle has just created is no problem to report.
    for (const e of engine.catalog.errors)
      logger.warn({ source: e.source }, `catalog: ${e.message}`);
    const handler = sqlHandler(engine, writes, true, tiers.materialized);
    const catalogApi = catalogHandler(engine.catalog);
    const writableFingerprint = configFingerprint({
      writable: writesSettings.sources.map((name) => [name, declaredSources?.[name] ?? null]),
    });
    const sessionHandler = sqlHandler(engine, writes, false, tiers.materialized);
    const idTables = Object.fromEntries(
      Object.entries(tables ?? {}).filter(([, entry]) => typeof entry !== "string"),
    );
    const dataGetFingerprint = configFingerprint(
      Object.keys(idTables).length === 0
        ? { idTables }
        : {
            idTables,
            sources: declaredSources ?? "embedded default",
          },
    );
    const region = config.config.region.id;
    const counters = new RegionPairCounters();
    const { changes, replicator } = await openDataFeeds(
      { config, logger, subjects, client, nc },
      counters,
    );
    const dataGet = dataGetHandler(engine, {
      client,
      region,
      subject: subjects.data.get,
      counters,
      ...(replicator ? { replicas: replicator } : {}),
    });
    const dataPut = dataPutHandler(engine, {
      client,
      region,
      subject: subjects.data.put,
      readLocal: localReader(engine.catalog.connectors),
      changes,
      counters,
    });
    replicator?.start();
    return {
      // What decides the answers: the tables and where their sources point.
      fingerprint: configFingerprint({
        tables,
        logicalTables,
        sources: declaredSources ?? "embedded default",
        writable: writesSettings.sources,
      }),
      endpoints: [
        endpoint({
          name: "sql",
          subject: subjects.sql,
          schema: sqlRequestSchema,
          description:
            "Runs one SQL statement across the configured sources, a write, or a transaction",
          handler: (request, context) => handler(request, context),
        }),
        endpoint({
          name: "catalog",
          subject: subjects.catalog,
          schema: catalogRequestSchema,
          description: "Every table the SQL engine knows, and one table's statistics per tier",
          handler: (request, context) => catalogApi(request, context.signal),
        }),
        endpoint({
          name: "tiers",
          subject: subjects.tiers,
          schema: tiersRequestSchema,
          description:
            "Tiered tables' moves from hot to cold, cold-store maintenance, materialized results",
          handler: (request, context) => tiers.handle(request, context.signal),
        }),
        endpoint({
          name: "sql-session",
          subject: subjects.sqlSession(writes.worker),
          // This worker's own: the interactive transactions it holds.
          queue: false,
          schema: sqlRequestSchema,
          description: "Statements of the interactive transactions this worker holds",
          handler: (request, context) => sessionHandler(request, context),
        }),
        endpoint({
          name: "tx",
          subject: subjects.tx,
          schema: txRequestSchema,
          // What it searches: the writable sources, as configured.
          fingerprint: writableFingerprint,
          description: "Lists in-doubt transactions; commits or rolls one back by hand",
          handler: (request) => writes.admin(request),
        }),
        endpoint({
          name: "data-get",
          subject: subjects.data.get,
          schema: dataGetRequestSchema,
          description: "Reads rows by their region-owned ids, asking the owner regions for theirs",
          // Without tables read by id every answer is the same refusal, whatever the sources.
          fingerprint: dataGetFingerprint,
          handler: (request, context) => dataGet(request, context),
        }),
        endpoint({
          name: "data-put",
          subject: subjects.data.put,
          schema: dataPutRequestSchema,
          description: "Writes rows by their region-owned ids, each in the region that owns it",
          fingerprint: dataGetFingerprint,
          maxRequestBytes: config.section("dataChanges", dataChangesConfigSchema).maxPutBytes,
          handler: (request, context) => dataPut(request, context),
        }),
        endpoint({
          name: "data-changes",
          subject: subjects.data.changes,
          schema: dataChangesRequestSchema,
          description: "This region's changes written through data.put, by stream sequence",
          fingerprint: configFingerprint({ changes: "stream" }),
          handler: (request) => {
            if (!changes) {
              throw new EntenteError(
                "UNAVAILABLE",
                `region ${region} has no change feed: it has no writable table, or its NATS server runs without JetStream`,
              );
            }
            return changes.read(request.after, request.limit);
          },
        }),
      ],
      stop: async () => {
        await tiers.stop();
        await writes.stop();
        replicator?.stop();
        clearInterval(timer);
        await engine.close();
        await lease.release();
        if (demo) await removeDemoColdStore();
      },
      stats: () => ({
        tables: engine.catalog.current.tables.length,
        sources: engine.catalog.connectors.size,
        dataRegions: regionPairStats(region, counters, replicator),
        transactions: { ...writes.stats.figures(), open: writes.sessions.size },
      }),
    };
  },
};

/**
 * This region's change stream (written by puts, read by other regions' replicas), when it has a
 * writable table, and, when `dataReplication.enabled`, the replicas it keeps of other regions'
 * rows. Both need JetStream on the region's server; without it the worker still reads, but
 * takes no writes and keeps no replicas, and says so.
 */
async function openDataFeeds(
  env: Parameters<ServiceDefinition["start"]>[0],
  counters: RegionPairCounters,
): Promise<{
  changes: ChangeStream | undefined;
  replicator: Replicator | undefined;
}> {
  const { config, logger, subjects, client, nc } = env;
  const tables = config.section("tables", tablesSectionSchema) ?? {};
  // Only a region that takes writes has changes to publish.
  const writable = Object.values(tables).some((e) => typeof e !== "string" && e.writable);
  let changes: ChangeStream | undefined;
  try {
    if (writable) {
      changes = await ChangeStream.open(nc, {
        deployment: subjects.deployment,
        subject: subjects.data.changed,
        settings: config.section("dataChanges", dataChangesConfigSchema),
      });
    }
  } catch (err) {
    logger.warn({ err }, "no change stream (JetStream?): entente.data.put refuses writes here");
  }
  const settings = config.section("dataReplication", dataReplicationConfigSchema);
  if (!settings.enabled) return { changes, replicator: undefined };
  try {
    const store = await ReplicaStore.open(nc, subjects.deployment, logger);
    const replicator = new Replicator({
      store,
      counters,
      client,
      subjects,
      settings,
      logger,
    });
    return { changes, replicator };
  } catch (err) {
    logger.warn({ err }, "no replica store (JetStream?): every remote read goes to its owner");
    return { changes, replicator: undefined };
  }
}

/** One entry per other region this worker read from or holds replicas of. */
function regionPairStats(
  region: number,
  counters: RegionPairCounters,
  replicator: Replicator | undefined,
) {
  const owners = new Set([...counters.owners(), ...(replicator?.owners() ?? [])]);
  return [...owners]
    .filter((owner) => owner !== region)
    .sort((a, b) => a - b)
    .map((owner) => ({
      from: region,
      to: owner,
      ...counters.figures(owner),
      ...(replicator?.gauges(owner) ?? { replicas: 0, replicaBytes: 0, stalenessMs: null }),
    }));
}

/**
 * What `entente.tiers` needs on a sql-join worker: the tier lifecycle of the configured tables,
 * the materialized results, and one handler routing each op to the one that answers it. Also
 * gives the catalog the lifecycle tables' watermarks.
 */
import { EntenteError, type TiersRequest } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import type { SqlEngine } from "./engine.ts";
import { type LogicalTablesConfig, lifecycleTablesOf } from "./logical-config.ts";
import {
  MaterializedResults,
  type MaterializeSettings,
  materializedOp,
  materializeSourceOf,
} from "./materialized/index.ts";
import { parse, selectRunner } from "./select.ts";
import { LIFECYCLE_OPS, tiersHandler } from "./tiers/handler.ts";
import { TierLifecycle } from "./tiers/lifecycle.ts";

/** The `tiers:` section: how moves are shared among the workers. */
export const tiersConfigSchema = z
  .object({
    /**
     * How long a worker holds a table's move without renewing it; when it dies, another takes
     * the move up this long after its last renewal.
     */
    leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
    /** How often each worker looks for a move due or one a dead worker left. */
    checkEveryMs: z.number().int().min(100).max(3_600_000).default(15_000),
  })
  .strict()
  .prefault({});

export type TiersSettings = z.output<typeof tiersConfigSchema>;

export interface TiersService {
  handle(request: TiersRequest, signal: AbortSignal): Promise<unknown>;
  materialized: MaterializedResults | undefined;
  stop(): Promise<void>;
}

export async function openTiersService(options: {
  engine: SqlEngine;
  logicalTables: LogicalTablesConfig;
  settings: TiersSettings;
  materialize: MaterializeSettings;
  nc: NatsConnection;
  deployment: string;
  worker: string;
  logger: Logger;
  /** The longest a statement may run here (runtime.maxTimeoutMs). */
  longestStatementMs: number;
}): Promise<TiersService> {
  const { engine, nc, deployment, logger } = options;
  const connectors = engine.catalog.connectors;
  // A statement planned before a commit reads the moved rows from hot: the delete must wait it out.
  const longest = Math.max(options.longestStatementMs, options.materialize.runTimeoutMs);
  const tables = lifecycleTablesOf(options.logicalTables);
  for (const table of tables) {
    if (table.graceMs < longest) {
      logger.warn(
        { table: table.table, graceMs: table.graceMs, longestStatementMs: longest },
        "tiers: graceMs is shorter than the longest statement: a statement that runs longer than the grace may miss rows moved meanwhile",
      );
    }
  }
  // A misnamed source fails the start before any move runs.
  const materializeSource =
    options.materialize.source === undefined
      ? undefined
      : materializeSourceOf(connectors, options.materialize.source);
  const lifecycle = new TierLifecycle({
    tables,
    connectors,
    nc,
    deployment,
    worker: options.worker,
    logger,
    leaseMs: options.settings.leaseMs,
    checkEveryMs: options.settings.checkEveryMs,
  });
  let materialized: MaterializedResults | undefined;
  let materializedOff =
    "materialized results are off: set materialize.source to a coldstore source";
  try {
    if (lifecycle.tables.size > 0) {
      // A watermark that cannot be read fails the statement rather than hide the cold rows.
      engine.catalog.readWatermarks = async () => {
        const names = [...lifecycle.tables.keys()];
        const marks = await Promise.all(names.map((table) => lifecycle.watermark(table)));
        return new Map(names.map((table, i) => [table, marks[i] ?? null]));
      };
      const started = await withJetStream(async () => {
        await lifecycle.start();
        return true;
      });
      if (started) {
        // Cold tables the lifecycle has just created join the catalog now, not at the next refresh.
        await engine.catalog.refresh({ keepStats: true });
      } else {
        logger.warn(
          { tables: [...lifecycle.tables.keys()] },
          "tiers: the NATS server runs without JetStream: no move runs here; the tables are read at the watermark their cold stores hold, and one whose cold table does not exist yet is not served",
        );
      }
    }
    if (materializeSource) {
      const opened = await withJetStream(() =>
        MaterializedResults.open({
          nc,
          deployment,
          settings: options.materialize,
          source: materializeSource,
          run: selectRunner(engine),
          parse: (sql, signal) => parse(engine, sql, signal),
          logger,
        }),
      );
      if (opened) materialized = opened;
      else {
        materializedOff =
          "materialized results are off: the NATS server runs without JetStream, where they are recorded";
        logger.warn(materializedOff);
      }
    }
  } catch (err) {
    // Moves the lifecycle has started must not run on against sources the worker closes.
    await lifecycle.stop();
    throw err;
  }
  const lifecycleOps = tiersHandler({ lifecycle, connectors });
  return {
    materialized,
    async handle(request, signal) {
      if (LIFECYCLE_OPS.has(request.op)) return lifecycleOps(request, signal);
      if (
        request.op === "materialize" ||
        request.op === "refreshMaterialized" ||
        request.op === "materialized"
      ) {
        if (!materialized) throw new EntenteError("UNAVAILABLE", materializedOff);
        return materializedOp(materialized, request, signal);
      }
      throw new EntenteError("BAD_REQUEST", `unknown tiers op ${JSON.stringify(request.op)}`);
    },
    async stop() {
      await lifecycle.stop();
      await materialized?.close();
    },
  };
}

/**
 * Runs what needs JetStream (a KV bucket); undefined when the server runs without it, so the
 * worker serves what it can instead of refusing to start (as sql-join does for its change feed).
 */
async function withJetStream<T>(open: () => Promise<T>): Promise<T | undefined> {
  try {
    return await open();
  } catch (err) {
    if (err instanceof Error && err.name === "JetStreamNotEnabled") return undefined;
    throw err;
  }
}

/**
 * `entente.tiers` lifecycle and cold-store operations: status, move, retention, compact,
 * repartition, expireSnapshots. Cold-store maintenance takes a lifecycle table's logical name
 * (its cold member) or a coldstore source's table (`archive.main.events`).
 */
import type { ColdStore, Connector, PartitionField } from "@entente/connectors";
import {
  type ColdMaintenanceReply,
  EntenteError,
  type ExpireSnapshotsReply,
  type RetentionReply,
  type TiersMoveReply,
  type TiersRequest,
  type TiersStatusReply,
} from "@entente/protocol";
import { coldStoreOf, type TierLifecycle } from "./lifecycle.ts";

export type TiersLifecycleReply =
  | TiersStatusReply
  | TiersMoveReply
  | RetentionReply
  | ColdMaintenanceReply
  | ExpireSnapshotsReply;

/** The ops this handler answers; the materialized ones are answered elsewhere. */
export const LIFECYCLE_OPS: ReadonlySet<TiersRequest["op"]> = new Set([
  "status",
  "move",
  "retention",
  "compact",
  "repartition",
  "expireSnapshots",
]);

export function tiersHandler(options: {
  lifecycle: TierLifecycle;
  /** Every source by name, to reach coldstore sources named in a request. */
  connectors: ReadonlyMap<string, Connector>;
}): (request: TiersRequest, signal?: AbortSignal) => Promise<TiersLifecycleReply> {
  const { lifecycle, connectors } = options;

  /** The cold table a request names: a lifecycle table's cold member, or `source.main.table`. */
  const coldTable = (name: string): { store: ColdStore; table: string } => {
    if (lifecycle.tables.has(name)) return lifecycle.cold(name);
    const parts = name.split(".");
    if (parts.length === 3) {
      const [source, schema, table] = parts as [string, string, string];
      const store = coldStoreOf(connectors.get(source));
      if (store && schema === "main") return { store, table };
      if (connectors.has(source) && !store) {
        throw new EntenteError(
          "BAD_REQUEST",
          `${name}: source ${source} is not a coldstore source`,
        );
      }
    }
    throw notFound(name);
  };

  const notFound = (name: string) => {
    const tables = [...lifecycle.tables.keys()];
    const cold = [...connectors.values()]
      .filter((c) => coldStoreOf(c) !== undefined)
      .map((c) => `${c.name}.main.<table>`);
    return new EntenteError(
      "NOT_FOUND",
      `no tiered table ${name}; tiered tables: ${tables.length > 0 ? tables.join(", ") : "(none)"}${cold.length > 0 ? `; cold tables: ${cold.join(", ")}` : ""}`,
    );
  };

  const lifecycleTable = (name: string): string => {
    if (!lifecycle.tables.has(name)) throw notFound(name);
    return name;
  };

  const maintenanceReply = (
    table: string,
    r: { filesBefore: number; filesAfter: number; rows: number; snapshotId?: number },
  ): ColdMaintenanceReply => ({
    table,
    filesBefore: r.filesBefore,
    filesAfter: r.filesAfter,
    rows: r.rows,
    ...(r.snapshotId !== undefined ? { snapshotId: r.snapshotId } : {}),
  });

  return async (request, signal) => {
    switch (request.op) {
      case "status": {
        const table = request.table === undefined ? undefined : lifecycleTable(request.table);
        return { tables: await lifecycle.status(table) };
      }
      case "move": {
        const table = lifecycleTable(request.table);
        return {
          table,
          move: await lifecycle.move(table, {
            wait: request.wait ?? false,
            ...(signal ? { signal } : {}),
          }),
        };
      }
      case "retention": {
        const table = request.table === undefined ? undefined : lifecycleTable(request.table);
        const statuses = await lifecycle.status(table);
        return {
          tables: statuses.map((s) => ({
            table: s.table,
            hotRetention: s.hotRetention,
            coldRetention: s.coldRetention,
            watermark: s.watermark,
          })),
        };
      }
      case "compact": {
        const { store, table } = coldTable(request.table);
        const result = await store.compact(table, {
          ...(request.targetFileBytes !== undefined
            ? { targetFileBytes: request.targetFileBytes }
            : {}),
          ...(signal ? { signal } : {}),
        });
        return maintenanceReply(request.table, result);
      }
      case "repartition": {
        const { store, table } = coldTable(request.table);
        const spec: PartitionField[] = request.partitionBy.map((f) =>
          f.transform === "bucket"
            ? { source: f.column, transform: "bucket", buckets: f.buckets }
            : { source: f.column, transform: f.transform },
        );
        const result = await store.repartition(table, spec, signal ? { signal } : {});
        return maintenanceReply(request.table, result);
      }
      case "expireSnapshots": {
        const { store, table } = coldTable(request.table);
        const result = await store.expireSnapshots(table, {
          ...(request.olderThanMs !== undefined ? { olderThanMs: request.olderThanMs } : {}),
          ...(request.retainLast !== undefined ? { retainLast: request.retainLast } : {}),
        });
        return { table: request.table, ...result };
      }
      default:
        throw new EntenteError(
          "UNSUPPORTED",
          `tiers: op ${request.op} is not answered by the tier lifecycle`,
        );
    }
  };
}

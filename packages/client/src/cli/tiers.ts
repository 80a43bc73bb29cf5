/**
 * `entente tiers …`, `entente tables`, `entente table-stats <table>`, `entente materialize …`:
 * tiered tables and their cold store (sql-join on `entente.tiers` and `entente.catalog`).
 */
import type {
  CatalogTablesReply,
  ColdMaintenanceReply,
  ExpireSnapshotsReply,
  MaterializedInfo,
  MaterializedListReply,
  PartitionFieldSpec,
  RetentionReply,
  TableStatsReply,
  TierMoveProgress,
  TiersMoveReply,
  TiersStatusReply,
} from "@entente/protocol";
import { type Command, InvalidArgumentError } from "commander";
import { formatOption, positiveInteger, print, readJsonArgument, withClient } from "./common.ts";
import { formatTimestamp, renderTable } from "./table.ts";

/** Moves can take minutes; the command waits this long unless --timeout says otherwise. */
const MOVE_TIMEOUT_MS = 30 * 60_000;

interface Formatted {
  format: string;
}

function moveText(m: TierMoveProgress): string {
  const range = `${m.from ?? "(start)"} → ${m.to}`;
  const counts = `${m.copied}/${m.partitions} copied, ${m.verified} verified, ${m.deleted} deleted, ${m.rows} rows`;
  return `${m.id} ${m.state}: ${range}; ${counts}${m.error ? `; error: ${m.error}` : ""}`;
}

/** `day:created_at`, `identity:region`, `bucket:16:user_id`. */
export function partitionField(text: string): PartitionFieldSpec {
  const [transform, a, b] = text.split(":");
  if (transform === "day" && a && b === undefined) return { column: a, transform };
  if (transform === "identity" && a && b === undefined) return { column: a, transform };
  if (transform === "bucket" && a && b) {
    const buckets = Number(a);
    if (Number.isSafeInteger(buckets) && buckets >= 1) return { column: b, transform, buckets };
  }
  throw new InvalidArgumentError(
    `expected day:<column>, identity:<column> or bucket:<n>:<column>, got ${JSON.stringify(text)}`,
  );
}

export function registerTiersCommands(program: Command): void {
  const tiers = program
    .command("tiers")
    .description("tiered tables: moves from hot to cold, cold-store maintenance (sql-join)");
  tiers
    .command("status")
    .description("each tiered table's watermark, retention and moves")
    .argument("[table]", "one logical table")
    .addOption(formatOption())
    .action(async (table: string | undefined, options: Formatted, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = (await entente.tiers({
          op: "status",
          ...(table ? { table } : {}),
        })) as TiersStatusReply;
        print(options.format, reply, () =>
          [
            renderTable(
              ["table", "column", "watermark", "hot", "cold", "retention", "next run"],
              reply.tables.map((t) => [
                t.table,
                t.column,
                t.watermark ?? "(none yet)",
                t.hot,
                t.cold,
                `${t.hotRetention} hot, ${t.coldRetention} cold`,
                t.nextRunAt ?? "on demand",
              ]),
            ),
            ...reply.tables.flatMap((t) => [
              ...(t.error ? [`${t.table} error: ${t.error}`] : []),
              ...(t.running ? [`${t.table} running: ${moveText(t.running)}`] : []),
              ...(t.last ? [`${t.table} last: ${moveText(t.last)}`] : []),
              ...(t.resume
                ? [
                    `${t.table} resumed ${t.resume.resumes} times; next at ${t.resume.nextAt}${t.resume.error ? ` (${t.resume.error})` : ""}`,
                  ]
                : []),
            ]),
          ].join("\n"),
        );
      });
    });
  tiers
    .command("move")
    .description("move the rows past the hot retention to cold now, and wait for it")
    .argument("<table>", "the logical table")
    .option("--no-wait", "start the move and return")
    .option(
      "-t, --timeout <ms>",
      "time budget in milliseconds (at most the worker's runtime.maxTimeoutMs; the move goes on, see tiers status)",
      positiveInteger,
      MOVE_TIMEOUT_MS,
    )
    .addOption(formatOption())
    .action(
      async (
        table: string,
        options: Formatted & { wait: boolean; timeout: number },
        command: Command,
      ) => {
        await withClient(command, async (entente) => {
          const reply = (await entente.tiers(
            { op: "move", table, wait: options.wait },
            { timeoutMs: options.timeout },
          )) as TiersMoveReply;
          print(options.format, reply, () => `${reply.table}: ${moveText(reply.move)}`);
        });
      },
    );
  tiers
    .command("compact")
    .description("merge a cold table's small files into files of the target size")
    .argument("<table>", "a logical table (its cold tier) or source.main.table")
    .option("--target-bytes <n>", "target file size in bytes", positiveInteger)
    .addOption(formatOption())
    .action(
      async (table: string, options: Formatted & { targetBytes?: number }, command: Command) => {
        await withClient(command, async (entente) => {
          const reply = (await entente.tiers({
            op: "compact",
            table,
            ...(options.targetBytes === undefined ? {} : { targetFileBytes: options.targetBytes }),
          })) as ColdMaintenanceReply;
          print(options.format, reply, () => maintenanceText(reply));
        });
      },
    );
  tiers
    .command("repartition")
    .description("rewrite a cold table under new partitions, e.g. day:created_at bucket:8:user_id")
    .argument("<table>", "a logical table (its cold tier) or source.main.table")
    .argument("<fields...>", "day:<column> | identity:<column> | bucket:<n>:<column>")
    .addOption(formatOption())
    .action(async (table: string, fields: string[], options: Formatted, command: Command) => {
      const partitionBy = fields.map(partitionField);
      await withClient(command, async (entente) => {
        const reply = (await entente.tiers({
          op: "repartition",
          table,
          partitionBy,
        })) as ColdMaintenanceReply;
        print(options.format, reply, () => maintenanceText(reply));
      });
    });
  tiers
    .command("expire-snapshots")
    .description("drop old cold snapshots and the files no remaining snapshot uses")
    .argument("<table>", "a logical table (its cold tier) or source.main.table")
    .option("--older-than-ms <ms>", "snapshots older than this", positiveInteger)
    .option("--retain-last <n>", "keep at least this many snapshots", positiveInteger)
    .addOption(formatOption())
    .action(
      async (
        table: string,
        options: Formatted & { olderThanMs?: number; retainLast?: number },
        command: Command,
      ) => {
        await withClient(command, async (entente) => {
          const reply = (await entente.tiers({
            op: "expireSnapshots",
            table,
            ...(options.olderThanMs === undefined ? {} : { olderThanMs: options.olderThanMs }),
            ...(options.retainLast === undefined ? {} : { retainLast: options.retainLast }),
          })) as ExpireSnapshotsReply;
          print(
            options.format,
            reply,
            () =>
              `${reply.table}: ${reply.expiredSnapshots} snapshots expired, ${reply.deletedFiles} files deleted`,
          );
        });
      },
    );
  tiers
    .command("retention")
    .description("hot and cold retention of the tiered tables")
    .argument("[table]", "one logical table")
    .addOption(formatOption())
    .action(async (table: string | undefined, options: Formatted, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = (await entente.tiers({
          op: "retention",
          ...(table ? { table } : {}),
        })) as RetentionReply;
        print(options.format, reply, () =>
          renderTable(
            ["table", "hot", "cold", "watermark"],
            reply.tables.map((t) => [
              t.table,
              t.hotRetention,
              t.coldRetention,
              t.watermark ?? "(none yet)",
            ]),
          ),
        );
      });
    });

  program
    .command("tables")
    .description("every table the SQL engine knows, with its kind")
    .addOption(formatOption())
    .action(async (options: Formatted, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = (await entente.catalog({ op: "tables" })) as CatalogTablesReply;
        print(options.format, reply, () =>
          renderTable(
            ["table", "kind", "rows", "columns"],
            reply.tables.map((t) => [
              t.name,
              t.kind,
              t.rowCount ?? "",
              t.columns.map((c) => `${c.name} ${c.type}`).join(", "),
            ]),
          ),
        );
      });
    });
  program
    .command("table-stats")
    .description("a table's rows and per-column statistics, per tier or shard")
    .argument("<table>", "a logical table or source.schema.table")
    .addOption(formatOption())
    .action(async (table: string, options: Formatted, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = (await entente.catalog({ op: "tableStats", table })) as TableStatsReply;
        print(options.format, reply, () => tableStatsText(reply));
      });
    });

  program
    .command("materialize")
    .description("store a SELECT's result for a time; the same statement is answered from it")
    .argument("[sql]", "the statement (omit with --list or --refresh)")
    .option("--ttl <ms>", "how long the result stays fresh, in ms", positiveInteger)
    .option("--params <json>", "bound parameters as a JSON array (or @file)")
    .option("--refresh <id>", "run a materialized statement again")
    .option("--list", "list the materialized results")
    .addOption(formatOption())
    .action(
      async (
        sql: string | undefined,
        options: Formatted & { ttl?: number; params?: string; refresh?: string; list?: boolean },
        command: Command,
      ) => {
        await withClient(command, async (entente) => {
          if (options.list) {
            const reply = (await entente.tiers({ op: "materialized" })) as MaterializedListReply;
            print(options.format, reply, () => materializedText(reply.materialized));
            return;
          }
          if (options.refresh !== undefined) {
            const reply = (await entente.tiers({
              op: "refreshMaterialized",
              id: options.refresh,
            })) as MaterializedInfo;
            print(options.format, reply, () => materializedText([reply]));
            return;
          }
          if (sql === undefined || options.ttl === undefined) {
            throw new InvalidArgumentError("materialize needs a statement and --ttl <ms>");
          }
          const params = options.params ? readJsonArgument(options.params, "--params") : undefined;
          if (params !== undefined && !Array.isArray(params)) {
            throw new InvalidArgumentError("--params must be a JSON array");
          }
          const reply = (await entente.tiers({
            op: "materialize",
            sql,
            ttlMs: options.ttl,
            ...(params === undefined ? {} : { params }),
          })) as MaterializedInfo;
          print(options.format, reply, () => materializedText([reply]));
        });
      },
    );
}

function maintenanceText(reply: ColdMaintenanceReply): string {
  return `${reply.table}: ${reply.filesBefore} files → ${reply.filesAfter}, ${reply.rows} rows${reply.snapshotId === undefined ? " (nothing to do)" : `, snapshot ${reply.snapshotId}`}`;
}

function materializedText(items: MaterializedInfo[]): string {
  return renderTable(
    ["id", "rows", "fresh", "expires", "statement"],
    items.map((m) => [m.id, m.rows, m.fresh ? "yes" : "no", m.expiresAt, m.sql.slice(0, 80)]),
  );
}

function tableStatsText(reply: TableStatsReply): string {
  const columns = (cols: TableStatsReply["columns"]) =>
    renderTable(
      ["column", "type", "min", "max", "nulls"],
      cols.map((c) => [c.name, c.type, show(c.min, c.type), show(c.max, c.type), c.nulls ?? ""]),
    );
  const files =
    reply.files === undefined
      ? ""
      : `, ${reply.files} files, ${reply.bytes} bytes, snapshot ${reply.snapshotId ?? "none"}`;
  const lines = [
    `${reply.table} (${reply.kind}): ${reply.rowCount ?? "?"} rows${files}`,
    columns(reply.columns),
  ];
  for (const part of reply.parts ?? []) {
    const files =
      part.files === undefined
        ? ""
        : `, ${part.files} files, ${part.bytes} bytes, snapshot ${part.snapshotId ?? "none"}`;
    lines.push(
      "",
      `${part.label}: ${part.table}, ${part.rowCount ?? "?"} rows${files}`,
      columns(part.columns),
    );
  }
  return lines.join("\n");
}

/** A statistic as `entente sql` prints a value of its type: timestamps in RFC 3339. */
function show(v: unknown, type: string): string {
  if (v === undefined || v === null) return "";
  if (
    type === "timestamp" &&
    (typeof v === "bigint" || typeof v === "string" || typeof v === "number")
  ) {
    try {
      return formatTimestamp(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

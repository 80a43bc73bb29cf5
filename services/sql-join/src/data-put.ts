/**
 * `entente.data.put`: rows written by their 64-bit region-owned ids, each to the region that owns
 * it. This region's rows are upserted into its source in the source's dialect, read back and
 * published to this region's change stream; the others are sent to their owner regions through
 * the region routers, one request per region, all at once. A put answers success for a region
 * only once its rows are committed and their changes published.
 *
 * Checking, splitting and statement building are pure functions; the I/O is in the handler.
 */
import type { SqlDialect } from "@entente/connectors";
import {
  type DataGetRegionError,
  type DataPutParsedRequest,
  type DataPutReply,
  EntenteError,
  parseId,
  regionOf,
  toEntenteError,
} from "@entente/protocol";
import type { EntenteClient } from "@entente/runtime";
import { nuid } from "@nats-io/nats-core";
import type { TableEntry } from "./config.ts";
import type { ChangeStream, RowChange } from "./data-changes.ts";
import { sourceTableOf } from "./data-get.ts";
import type { SqlEngine } from "./engine.ts";
import { askRegion, type HandlerContext } from "./owner-request.ts";
import type { RegionPairCounters } from "./replication/pair-counters.ts";

/** A table that may be written by id: its short name, where it is, its id column. */
export interface WritableTable {
  name: string;
  table: string;
  id: string;
}

/** One row to write: its id and the values of the columns it names. */
export interface PutRow {
  id: bigint;
  columns: string[];
  values: unknown[];
}

/** The rows one region owns, in the order the request names them. */
export interface RegionRows {
  region: number;
  from: "local" | "owner";
  rows: PutRow[];
}

/** A table of the `tables:` section that `entente.data.put` may write. */
export function writableTableOf(tables: Record<string, TableEntry>, name: string): WritableTable {
  const entry = Object.hasOwn(tables, name) ? tables[name] : undefined;
  if (entry === undefined) {
    const known = Object.entries(tables)
      .filter(([, e]) => typeof e !== "string" && e.writable === true)
      .map(([n]) => n);
    throw new EntenteError(
      "BAD_REQUEST",
      `unknown table "${name}": entente.data.put writes the tables: section's tables with an id column and writable: true${known.length > 0 ? ` (${known.join(", ")})` : " (none is)"}`,
    );
  }
  if (typeof entry === "string") {
    throw new EntenteError(
      "BAD_REQUEST",
      `table "${name}" declares no id column: write it as tables.${name}: { table: "${entry}", id: <column>, writable: true } to write it by id`,
    );
  }
  if (entry.writable !== true) {
    throw new EntenteError(
      "BAD_REQUEST",
      `table "${name}" is read-only: set tables.${name}.writable: true to write it through entente.data.put`,
    );
  }
  return { name, table: entry.table, id: entry.id };
}

/**
 * The rows checked against the table's columns: each names the id column with an id in range
 * and only columns the table has. A later row with the same id replaces an earlier one.
 */
export function checkRows(
  table: WritableTable,
  known: readonly string[],
  rows: ReadonlyArray<Record<string, unknown>>,
): PutRow[] {
  const columns = new Set(known);
  const byId = new Map<bigint, PutRow>();
  rows.forEach((row, index) => {
    const raw = row[table.id];
    if (raw === undefined || raw === null) {
      throw new EntenteError(
        "BAD_REQUEST",
        `rows[${index}]: the id column "${table.id}" of ${table.name} is missing`,
      );
    }
    let id: bigint;
    try {
      id = parseId(raw as bigint | number | string);
    } catch (err) {
      throw new EntenteError(
        "BAD_REQUEST",
        `rows[${index}].${table.id}: ${(err as Error).message}`,
      );
    }
    const unknown = Object.keys(row).filter((c) => !columns.has(c));
    if (unknown.length > 0) {
      throw new EntenteError(
        "BAD_REQUEST",
        `rows[${index}]: ${unknown.map((c) => `"${c}"`).join(", ")} not in ${table.name} (${known.join(", ")})`,
      );
    }
    const names = Object.keys(row);
    byId.delete(id);
    byId.set(id, {
      id,
      columns: names,
      values: names.map((c) => (c === table.id ? id.toString() : parameterOf(row[c]))),
    });
  });
  return [...byId.values()];
}

/** A value as a statement parameter: objects and arrays as JSON text (for json columns). */
function parameterOf(value: unknown): unknown {
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  }
  return value;
}

/** Splits rows by the region that owns their id: this region's first, then by region id. */
export function splitRowsByRegion(rows: readonly PutRow[], ownRegion: number): RegionRows[] {
  const groups = new Map<number, PutRow[]>();
  for (const row of rows) {
    const region = regionOf(row.id);
    const group = groups.get(region) ?? [];
    group.push(row);
    groups.set(region, group);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === ownRegion ? -1 : b === ownRegion ? 1 : a - b))
    .map(([region, group]) => ({
      region,
      from: region === ownRegion ? "local" : "owner",
      rows: group,
    }));
}

/** Rows grouped by the set of columns they name, so each group is one statement. */
export function byColumnSet(rows: readonly PutRow[]): PutRow[][] {
  const groups = new Map<string, PutRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([...row.columns].sort());
    const group = groups.get(key) ?? [];
    // One column order per statement: the group's first row's.
    const first = group[0];
    group.push(
      first === undefined
        ? row
        : {
            id: row.id,
            columns: first.columns,
            values: first.columns.map((c) => row.values[row.columns.indexOf(c)]),
          },
    );
    groups.set(key, group);
  }
  return [...groups.values()];
}

/**
 * The upsert of `rowCount` rows naming `columns` into `table` (the path within the source):
 * `INSERT … ON CONFLICT (id) DO UPDATE` for PostgreSQL and DuckDB, `ON DUPLICATE KEY UPDATE`
 * for MySQL/MariaDB. Only the named columns change on an existing row.
 */
export function upsertStatement(
  dialect: Pick<SqlDialect, "kind" | "quoteIdentifier" | "placeholder">,
  table: readonly string[],
  idColumn: string,
  columns: readonly string[],
  rowCount: number,
): string {
  const q = dialect.quoteIdentifier;
  let index = 0;
  const tuples = Array.from(
    { length: rowCount },
    () => `(${columns.map(() => dialect.placeholder(++index)).join(", ")})`,
  );
  const into = `INSERT INTO ${table.map(q).join(".")} (${columns.map(q).join(", ")}) VALUES ${tuples.join(", ")}`;
  const updated = columns.filter((c) => c !== idColumn);
  if (dialect.kind === "mysql") {
    // With nothing to update, a no-op assignment keeps an existing row as it is.
    const set = (updated.length > 0 ? updated : [idColumn]).map((c) => `${q(c)} = VALUES(${q(c)})`);
    return `${into} ON DUPLICATE KEY UPDATE ${set.join(", ")}`;
  }
  if (updated.length === 0) return `${into} ON CONFLICT (${q(idColumn)}) DO NOTHING`;
  const set = updated.map((c) => `${q(c)} = EXCLUDED.${q(c)}`);
  return `${into} ON CONFLICT (${q(idColumn)}) DO UPDATE SET ${set.join(", ")}`;
}

/** The reply from each region's outcome, in the request's region order. */
export function mergeWrites(
  outcomes: ReadonlyArray<RegionRows & ({ ids: string[] } | { error: DataGetRegionError })>,
): DataPutReply {
  const errors = outcomes.flatMap((o) => ("error" in o ? [o.error] : []));
  const reply: DataPutReply = {
    written: outcomes.flatMap((o) =>
      "error" in o ? [] : [{ region: o.region, ids: o.ids, from: o.from }],
    ),
    unwritten: outcomes.flatMap((o) => ("error" in o ? o.rows.map((r) => r.id.toString()) : [])),
  };
  if (errors.length > 0) {
    reply.partial = { succeeded: outcomes.length - errors.length, total: outcomes.length, errors };
  }
  return reply;
}

/** Reads rows by id from this region's sources: the id column first, then `columns`. */
export type LocalRead = (
  table: { name: string; table: string; id: string },
  columns: string[],
  ids: bigint[],
  context: { signal: AbortSignal },
) => Promise<Map<string, unknown[]>>;

/** The read-back of committed rows for their change messages gets this long of its own. */
const READ_BACK_TIMEOUT_MS = 5_000;

export function dataPutHandler(
  engine: SqlEngine,
  options: {
    client: EntenteClient;
    region: number;
    subject: string;
    readLocal: LocalRead;
    /** Undefined when this region's server has no JetStream: then nothing is written here. */
    changes: ChangeStream | undefined;
    /** Counts what each owner region was sent and answered. */
    counters?: RegionPairCounters;
  },
) {
  const { client, region, subject, readLocal, changes, counters } = options;

  async function knownColumns(table: WritableTable): Promise<string[]> {
    const known = await engine.catalog.withCatalog((catalog) =>
      catalog.resolve(table.table.split(".")).columns.map((c) => c.name),
    );
    if (!known.includes(table.id)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tables.${table.name}.id: "${table.id}" is not a column of ${table.table} (${known.join(", ")})`,
      );
    }
    return known;
  }

  async function writeLocal(
    table: WritableTable,
    known: string[],
    rows: PutRow[],
    context: HandlerContext,
  ): Promise<string[]> {
    if (!changes) {
      throw new EntenteError(
        "UNAVAILABLE",
        `region ${region} has no change stream (its NATS server runs without JetStream), so it takes no writes: replicas elsewhere could not learn of them`,
      );
    }
    const { connector, path } = sourceTableOf(engine.catalog.connectors, table);
    // Rows that may have changed: a statement that failed (or was cancelled) may still have
    // committed, and telling replicas of a row that did not change costs them one re-read.
    const touched: PutRow[] = [];
    let failure: unknown;
    for (const group of byColumnSet(rows)) {
      const columns = group[0]?.columns ?? [];
      touched.push(...group);
      try {
        await connector.execute(
          {
            sql: upsertStatement(connector.dialect, path, table.id, columns, group.length),
            params: group.flatMap((r) => r.values) as never[],
          },
          { signal: context.signal },
        );
      } catch (err) {
        failure = err;
        break;
      }
    }
    // Published whatever happened after a commit (a later statement's failure, the caller
    // giving up): a replica elsewhere must learn of every row that may have changed.
    await publishChanges(table, known, touched);
    if (failure !== undefined) throw failure;
    return rows.map((r) => r.id.toString());
  }

  /**
   * Publishes committed rows to the change stream: as the database holds them now, every column
   * (read back on a budget of its own, not the caller's), or as written when that read fails.
   */
  async function publishChanges(table: WritableTable, known: string[], rows: PutRow[]) {
    if (rows.length === 0 || !changes) return;
    const ids = rows.map((r) => r.id);
    const written = await readLocal(table, known, ids, {
      signal: AbortSignal.timeout(READ_BACK_TIMEOUT_MS),
    }).catch(() => new Map<string, unknown[]>());
    const at = Date.now();
    const published: RowChange[] = rows.map((r) => {
      const row = written.get(r.id.toString());
      return row === undefined
        ? { table: table.name, id: r.id, columns: r.columns, row: r.values, at }
        : { table: table.name, id: r.id, columns: known, row, at };
    });
    try {
      await changes.publish(published, nuid.next());
    } catch (err) {
      throw new EntenteError(
        "UNAVAILABLE",
        `region ${region} committed the rows but could not publish them to its change stream (${(err as Error).message}): replicas in other regions may keep the old rows until they are put again`,
        { retryable: true },
      );
    }
  }

  async function askOwner(
    table: string,
    group: RegionRows,
    context: HandlerContext,
  ): Promise<string[]> {
    const reply = await askRegion<DataPutReply>(
      { client, subject, counters },
      group.region,
      {
        table,
        rows: group.rows.map((r) =>
          Object.fromEntries(r.columns.map((c, i) => [c, r.values[i]] as const)),
        ),
      },
      context,
    );
    const failed = reply.partial?.errors[0];
    if (failed) throw new EntenteError(failed.code, failed.message);
    return (reply.written ?? []).flatMap((w) => w.ids);
  }

  return async (request: DataPutParsedRequest, context: HandlerContext): Promise<DataPutReply> => {
    const table = writableTableOf(engine.tables, request.table);
    const known = await knownColumns(table);
    const rows = checkRows(table, known, request.rows);
    const outcomes = await Promise.all(
      splitRowsByRegion(rows, region).map(async (group) => {
        try {
          const ids =
            group.from === "local"
              ? await writeLocal(table, known, group.rows, context)
              : await askOwner(request.table, group, context);
          return { ...group, ids };
        } catch (err) {
          const error = toEntenteError(err);
          return {
            ...group,
            error: { region: group.region, code: error.code, message: error.message },
          };
        }
      }),
    );
    return mergeWrites(outcomes);
  };
}

/**
 * `entente.data.get`: rows of a table read by their 64-bit region-owned ids. The ids are split by
 * the region that owns them (`regionOf`); this region's are read from its sources with one
 * statement, the others are asked of their owner regions through the region routers, one request
 * per region and all at once, within the request's deadline. The answers are put back in the
 * caller's order; a region that does not answer leaves its ids unanswered and is named in
 * `partial`. With replication on, remote ids held as replicas fresh enough are answered here
 * (`from: "replica"`), and every read from an owner is counted towards making replicas.
 *
 * The splitting and merging are pure functions; the I/O is `readLocal` and `askOwner`.
 */

import type { Connector, SqlDialect } from "@entente/connectors";
import {
  type DataGetParsedRequest,
  type DataGetRegionError,
  type DataGetReply,
  EntenteError,
  regionOf,
  toEntenteError,
} from "@entente/protocol";
import type { EntenteClient } from "@entente/runtime";
import type { TableEntry } from "./config.ts";
import type { SqlEngine } from "./engine.ts";
import { askRegion, type HandlerContext } from "./owner-request.ts";
import type { RegionPairCounters } from "./replication/pair-counters.ts";
import type { Replicator } from "./replication/replicator.ts";

/** Ids per local statement: each is a parameter, and a statement's syntax nodes are bounded. */
export const LOCAL_IDS_PER_STATEMENT = 1_000;

/** The distinct ids of one region, in the order the request first names them. */
export interface RegionIds {
  region: number;
  from: "local" | "replica" | "owner";
  ids: bigint[];
}

/** What one region said for its ids: rows by id (decimal string), or why it did not answer. */
export type RegionAnswer = RegionIds &
  ({ rows: Map<string, unknown[]> } | { error: DataGetRegionError });

/**
 * Splits ids by the region that owns them, each id once: this region's first (when it owns any),
 * then the others by region id.
 */
export function splitByRegion(ids: readonly bigint[], ownRegion: number): RegionIds[] {
  const groups = new Map<number, { seen: Set<bigint>; ids: bigint[] }>();
  for (const id of ids) {
    const region = regionOf(id);
    let group = groups.get(region);
    if (!group) {
      group = { seen: new Set(), ids: [] };
      groups.set(region, group);
    }
    if (group.seen.has(id)) continue;
    group.seen.add(id);
    group.ids.push(id);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === ownRegion ? -1 : b === ownRegion ? 1 : a - b))
    .map(([region, group]) => ({
      region,
      from: region === ownRegion ? "local" : "owner",
      ids: group.ids,
    }));
}

/**
 * The reply: one row (or null) per requested id in the caller's order, a repeated id answered at
 * each of its positions. An id whose region answered without a row is missing; an id whose
 * region failed is unanswered (neither found nor missing), and the region is named in `partial`.
 */
export function mergeAnswers(
  ids: readonly bigint[],
  columns: string[],
  answers: readonly RegionAnswer[],
): DataGetReply {
  // By id: one region's ids may be answered by two groups (its replicas here, and the owner).
  const byId = new Map<bigint, RegionAnswer>();
  for (const answer of answers) for (const id of answer.ids) byId.set(id, answer);
  const rows: Array<unknown[] | null> = [];
  const missing = new Set<string>();
  const unanswered = new Set<string>();
  for (const id of ids) {
    const key = id.toString();
    const answer = byId.get(id);
    if (!answer || "error" in answer) {
      unanswered.add(key);
      rows.push(null);
      continue;
    }
    const row = answer.rows.get(key);
    if (row === undefined) missing.add(key);
    rows.push(row ?? null);
  }
  const errors = answers.flatMap((a) => ("error" in a ? [a.error] : []));
  const reply: DataGetReply = {
    columns,
    rows,
    missing: [...missing],
    unanswered: [...unanswered],
    served: answers
      .filter((a) => !("error" in a))
      .map((a) => ({ region: a.region, ids: a.ids.length, from: a.from })),
  };
  if (errors.length > 0) {
    reply.partial = { succeeded: answers.length - errors.length, total: answers.length, errors };
  }
  return reply;
}

/** Rows read with the id column first, keyed by the id's decimal form, the id column dropped. */
export function rowsById(rows: Iterable<unknown[]>): Map<string, unknown[]> {
  const byId = new Map<string, unknown[]>();
  for (const row of rows) {
    const id = row[0];
    if (id === null || id === undefined) continue;
    const key = typeof id === "bigint" ? id.toString() : String(id);
    if (!byId.has(key)) byId.set(key, row.slice(1));
  }
  return byId;
}

/**
 * An owner region's reply as rows by id in our column order: its rows come one per id asked,
 * in the order asked. A region whose own read failed counts as failed.
 */
export function ownerAnswer(
  group: RegionIds,
  columns: string[],
  reply: DataGetReply,
): RegionAnswer {
  const failed = reply.partial?.errors[0];
  if (failed) {
    return {
      ...group,
      error: { region: group.region, code: failed.code, message: failed.message },
    };
  }
  const positions = columns.map((c) => reply.columns.indexOf(c));
  if (reply.rows.length !== group.ids.length || positions.some((p) => p < 0)) {
    return {
      ...group,
      error: {
        region: group.region,
        code: "INTERNAL",
        message: `region ${group.region} answered with ${reply.rows.length} rows of columns ${reply.columns.join(", ")} for ${group.ids.length} ids of columns ${columns.join(", ")}`,
      },
    };
  }
  const rows = new Map<string, unknown[]>();
  group.ids.forEach((id, i) => {
    const row = reply.rows[i];
    if (row)
      rows.set(
        id.toString(),
        positions.map((p) => row[p]),
      );
  });
  return { ...group, rows };
}

/** A table of the `tables:` section read by id: where it is and its id column. */
export function idTableOf(
  tables: Record<string, TableEntry>,
  name: string,
): { name: string; table: string; id: string } {
  const entry = Object.hasOwn(tables, name) ? tables[name] : undefined;
  if (entry === undefined) {
    const known = Object.entries(tables)
      .filter(([, e]) => typeof e !== "string")
      .map(([n]) => n);
    throw new EntenteError(
      "BAD_REQUEST",
      `unknown table "${name}": entente.data.get reads the tables: section's tables that declare an id column${known.length > 0 ? ` (${known.join(", ")})` : " (none does)"}`,
    );
  }
  if (typeof entry === "string") {
    throw new EntenteError(
      "BAD_REQUEST",
      `table "${name}" declares no id column: write it as tables.${name}: { table: "${entry}", id: <column> } to read it by id`,
    );
  }
  return { name, table: entry.table, id: entry.id };
}

/** A table of the `tables:` section's source, and its path within that source. */
export function sourceTableOf(
  connectors: ReadonlyMap<string, Connector>,
  table: { name: string; table: string },
): { connector: Connector; path: string[] } {
  const [source, ...path] = table.table.split(".");
  const connector = source === undefined ? undefined : connectors.get(source);
  if (!connector) {
    throw new EntenteError("NOT_FOUND", `tables.${table.name}: unknown source "${source}"`);
  }
  return { connector, path };
}

/**
 * The statement that reads `count` ids from `path` in the source's own dialect:
 * `SELECT id, cols FROM table WHERE id IN ($1, …)`.
 */
export function localStatement(
  dialect: Pick<SqlDialect, "quoteIdentifier" | "placeholder">,
  path: readonly string[],
  id: string,
  columns: readonly string[],
  count: number,
): string {
  const q = (name: string) => dialect.quoteIdentifier(name);
  const select = [id, ...columns].map(q).join(", ");
  const params = Array.from({ length: count }, (_, i) => dialect.placeholder(i + 1)).join(", ");
  return `SELECT ${select} FROM ${path.map(q).join(".")} WHERE ${q(id)} IN (${params})`;
}

/**
 * Reads rows by id from this region's sources, `LOCAL_IDS_PER_STATEMENT` ids a statement. The
 * statement goes straight to the table's source: it is one fixed shape, so the SQL engine's
 * parsing and planning would only add time to the commonest read.
 */
export function localReader(connectors: ReadonlyMap<string, Connector>) {
  return async function readLocal(
    table: { name: string; table: string; id: string },
    columns: string[],
    ids: bigint[],
    context: { signal: AbortSignal },
  ): Promise<Map<string, unknown[]>> {
    const { connector, path } = sourceTableOf(connectors, table);
    const rows: unknown[][] = [];
    for (let at = 0; at < ids.length; at += LOCAL_IDS_PER_STATEMENT) {
      const chunk = ids.slice(at, at + LOCAL_IDS_PER_STATEMENT);
      const result = await connector.query(
        {
          sql: localStatement(connector.dialect, path, table.id, columns, chunk.length),
          params: chunk,
        },
        { signal: context.signal },
      );
      for await (const batch of result.batches) for (const row of batch) rows.push(row);
    }
    return rowsById(rows);
  };
}

/**
 * Splits an owner's ids into those answered from replicas held here and the rest, which stay
 * the owner's to answer.
 */
function fromReplicas(
  replicas: Replicator,
  table: string,
  columns: string[],
  group: RegionIds,
): Array<RegionIds | RegionAnswer> {
  const { rows, rest } = replicas.lookup(table, columns, group.region, group.ids);
  if (rows.size === 0) return [group];
  const held = group.ids.filter((id) => rows.has(id.toString()));
  const out: Array<RegionIds | RegionAnswer> = [
    { region: group.region, from: "replica", ids: held, rows },
  ];
  if (rest.length > 0) out.push({ ...group, ids: rest });
  return out;
}

export function dataGetHandler(
  engine: SqlEngine,
  options: {
    client: EntenteClient;
    region: number;
    subject: string;
    /** Counts what each owner region was asked and answered. */
    counters?: RegionPairCounters;
    /** When replication is on: replicas to answer from, and reads to count. */
    replicas?: Replicator;
  },
) {
  const { client, region, subject, counters, replicas } = options;
  const readLocal = localReader(engine.catalog.connectors);

  /** The table's columns as the catalog knows them: all of them, or those asked, checked. */
  async function columnsOf(table: { name: string; table: string; id: string }, asked?: string[]) {
    const known = await engine.catalog.withCatalog((catalog) =>
      catalog.resolve(table.table.split(".")).columns.map((c) => c.name),
    );
    if (!known.includes(table.id)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tables.${table.name}.id: "${table.id}" is not a column of ${table.table} (${known.join(", ")})`,
      );
    }
    if (asked === undefined) return known;
    const unknown = asked.filter((c) => !known.includes(c));
    if (unknown.length > 0) {
      throw new EntenteError(
        "BAD_REQUEST",
        `columns: ${unknown.map((c) => `"${c}"`).join(", ")} not in ${table.name} (${known.join(", ")})`,
      );
    }
    return asked;
  }

  function askOwner(
    request: { table: string; columns: string[] },
    group: RegionIds,
    context: HandlerContext,
  ): Promise<DataGetReply> {
    return askRegion<DataGetReply>(
      { client, subject, counters },
      group.region,
      { table: request.table, ids: group.ids.map(String), columns: request.columns },
      context,
    );
  }

  return async (request: DataGetParsedRequest, context: HandlerContext): Promise<DataGetReply> => {
    const table = idTableOf(engine.tables, request.table);
    const columns = await columnsOf(table, request.columns);
    const groups = splitByRegion(request.ids, region).flatMap(
      (group): Array<RegionIds | RegionAnswer> =>
        group.from === "owner" && replicas
          ? fromReplicas(replicas, request.table, columns, group)
          : [group],
    );
    const answers = await Promise.all(
      groups.map(async (group): Promise<RegionAnswer> => {
        if ("rows" in group) return group;
        try {
          if (group.from === "local") {
            return { ...group, rows: await readLocal(table, columns, group.ids, context) };
          }
          const reply = await askOwner({ table: request.table, columns }, group, context);
          const answer = ownerAnswer(group, columns, reply);
          if ("rows" in answer) replicas?.noteOwnerRead(request.table, group.region, group.ids);
          return answer;
        } catch (err) {
          const error = toEntenteError(err);
          return {
            ...group,
            error: { region: group.region, code: error.code, message: error.message },
          };
        }
      }),
    );
    return mergeAnswers(request.ids, columns, answers);
  };
}

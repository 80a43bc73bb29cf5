/**
 * `entente.data.get`: rows of a table read by their 64-bit region-owned ids. The ids are split by
 * the region that owns them (`regionOf`); this region's are read from its sources with one
 * statement, the others are asked of their owner regions through the region routers, one request
 * per region and all at once, within the request's deadline. The answers are put back in the
 * caller's order; a region that does not answer leaves its ids unanswered and is named in
 * `partial`.
 *
 * The splitting and merging are pure functions; the I/O is `readLocal` and `askOwner`.
 */
import {
  type DataGetParsedRequest,
  type DataGetRegionError,
  type DataGetReply,
  EntenteError,
  regionOf,
  type SqlResultItem,
  toEntenteError,
} from "@entente/protocol";
import {
  type Deadline,
  type EntenteClient,
  type RequestContext,
  replyBodyOf,
} from "@entente/runtime";
import type { TableEntry } from "./config.ts";
import type { SqlEngine } from "./engine.ts";

/** Ids per local statement: each is a parameter, and a statement's syntax nodes are bounded. */
export const LOCAL_IDS_PER_STATEMENT = 1_000;

/** The distinct ids of one region, in the order the request first names them. */
export interface RegionIds {
  region: number;
  from: "local" | "owner";
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
  const byRegion = new Map(answers.map((a) => [a.region, a]));
  const rows: Array<unknown[] | null> = [];
  const missing = new Set<string>();
  const unanswered = new Set<string>();
  for (const id of ids) {
    const key = id.toString();
    const answer = byRegion.get(regionOf(id));
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

/** A double-quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The statement that reads `count` ids: `SELECT id, cols FROM table WHERE id IN ($1, …)`. */
export function localStatement(
  table: { table: string; id: string },
  columns: string[],
  count: number,
): string {
  const select = [table.id, ...columns].map(quoteIdent).join(", ");
  const from = table.table.split(".").map(quoteIdent).join(".");
  const params = Array.from({ length: count }, (_, i) => `$${i + 1}`).join(", ");
  return `SELECT ${select} FROM ${from} WHERE ${quoteIdent(table.id)} IN (${params})`;
}

type HandlerContext = Pick<RequestContext, "signal" | "deadline"> &
  Partial<Pick<RequestContext, "trace">>;

type SqlRun = (
  request: { sql: string; params: unknown[] },
  context: { signal: AbortSignal; deadline: Deadline },
) => Promise<unknown>;

/** Time kept back from calls to other regions, so their failure is still reported in time. */
function ownerBudgetMs(deadline: Deadline): number | undefined {
  const left = deadline.remainingMs();
  if (!Number.isFinite(left)) return undefined;
  return Math.max(1, Math.floor(left - Math.min(1_000, left * 0.1)));
}

export function dataGetHandler(
  engine: SqlEngine,
  options: { client: EntenteClient; region: number; subject: string; sql: SqlRun },
) {
  const { client, region, subject, sql } = options;

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

  async function readLocal(
    table: { table: string; id: string },
    columns: string[],
    ids: bigint[],
    context: HandlerContext,
  ): Promise<Map<string, unknown[]>> {
    const rows: unknown[][] = [];
    for (let at = 0; at < ids.length; at += LOCAL_IDS_PER_STATEMENT) {
      const chunk = ids.slice(at, at + LOCAL_IDS_PER_STATEMENT);
      const result = await sql(
        { sql: localStatement(table, columns, chunk.length), params: chunk },
        context,
      );
      const body = replyBodyOf(result);
      const items = body.kind === "value" ? [body.value] : body.items;
      for await (const item of items as AsyncIterable<SqlResultItem>) {
        if (item.rows) for (const row of item.rows) rows.push(row);
      }
    }
    return rowsById(rows);
  }

  async function askOwner(
    request: { table: string; columns: string[] },
    group: RegionIds,
    context: HandlerContext,
  ): Promise<DataGetReply> {
    const timeoutMs = ownerBudgetMs(context.deadline);
    return client.request<DataGetReply>(
      subject,
      { table: request.table, ids: group.ids.map(String), columns: request.columns },
      {
        region: group.region,
        parent: {
          deadline: context.deadline,
          signal: context.signal,
          ...(context.trace ? { trace: context.trace } : {}),
        },
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      },
    );
  }

  return async (request: DataGetParsedRequest, context: HandlerContext): Promise<DataGetReply> => {
    const table = idTableOf(engine.tables, request.table);
    const columns = await columnsOf(table, request.columns);
    const groups = splitByRegion(request.ids, region);
    const answers = await Promise.all(
      groups.map(async (group): Promise<RegionAnswer> => {
        try {
          if (group.from === "local") {
            return { ...group, rows: await readLocal(table, columns, group.ids, context) };
          }
          const reply = await askOwner({ table: request.table, columns }, group, context);
          return ownerAnswer(group, columns, reply);
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

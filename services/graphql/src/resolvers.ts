/**
 * The resolvers: each turns its field's arguments into one request on entente.sql,
 * entente.catalog or entente.tiers and shapes the reply; Entente's errors become GraphQL
 * errors carrying Entente's code in `extensions.code`.
 */
import {
  type CatalogTablesReply,
  EntenteError,
  type MaterializedInfo,
  type MaterializedListReply,
  type RetentionReply,
  type SqlColumn,
  type SqlStats,
  type TableStatsReply,
  type TiersStatusReply,
  toEntenteError,
  toJson,
} from "@entente/protocol";
import type { GraphQLError, ValueNode } from "graphql";
import type { CallScope, EntenteCalls } from "./calls.ts";
import type { GraphqlSettings } from "./config.ts";
import { decodeCursor, encodeCursor, HEAP_BYTES_PER_JSON_BYTE, KeptResults } from "./pages.ts";
import { type TierUse, tiersOfPlan } from "./plan-tiers.ts";
import { yoga } from "./yoga.ts";

/** What each resolver gets as its context (the server context yoga merges in). */
export interface GraphqlContext {
  scope: CallScope;
}

export interface ResultMeta {
  columns: SqlColumn[];
  rowCount: number;
  executionTimeMs: number;
  sources: Array<{ source: string; rows: number; bytes: number; ms: number; queries: number }>;
  tiers: (args: unknown, context: GraphqlContext) => Promise<TierUse[]>;
}

export interface ResolverOptions {
  calls: EntenteCalls;
  settings: Pick<GraphqlSettings, "pageRows" | "cursorTtlMs" | "maxKeptBytes">;
  now?: () => number;
  /** Told of each INTERNAL error, whose message the client does not get. */
  onInternal?: (error: EntenteError) => void;
}

/** What a client is told of an INTERNAL error: its message may name files, hosts or code. */
export const INTERNAL_MESSAGE = "internal error; the graphql worker's log has the details";

/** A literal written in the document, as the JSON value it spells. */
function literalValue(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case "IntValue":
    case "FloatValue":
      return Number(node.value);
    case "StringValue":
    case "EnumValue":
      return node.value;
    case "BooleanValue":
      return node.value;
    case "NullValue":
      return null;
    case "ListValue":
      return node.values.map((v) => literalValue(v, variables));
    case "ObjectValue":
      return Object.fromEntries(
        node.fields.map((f) => [f.name.value, literalValue(f.value, variables)]),
      );
    case "Variable":
      return variables?.[node.name.value];
  }
}

/**
 * The JSON scalar, as a resolver map rather than a GraphQLScalarType: the schema is built by
 * yoga's own copy of graphql, so nothing here constructs graphql's classes.
 */
export const JSONScalar = {
  serialize: (value: unknown) => (typeof value === "bigint" ? value.toString() : value),
  parseValue: (value: unknown) => value,
  parseLiteral: (node: ValueNode, variables?: Record<string, unknown> | null) =>
    literalValue(node, variables),
};

/**
 * An Entente error as a GraphQL error: its message, its code and whether a retry may help. An
 * INTERNAL error (a bug, or a failure nobody named) is told as {@link INTERNAL_MESSAGE}, without
 * its details, and handed to `onInternal` to be logged.
 */
export function graphqlErrorOf(
  err: unknown,
  onInternal?: (error: EntenteError) => void,
): GraphQLError {
  if (err instanceof Error && err.name === "GraphQLError") return err as GraphQLError;
  const error = toEntenteError(err);
  if (error.code === "INTERNAL") {
    onInternal?.(error);
    return yoga.createGraphQLError(INTERNAL_MESSAGE, {
      extensions: { code: error.code, retryable: error.retryable },
    });
  }
  return yoga.createGraphQLError(error.message, {
    extensions: {
      code: error.code,
      retryable: error.retryable,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: resolver arguments are checked by the schema.
type Resolver = (parent: unknown, args: any, context: GraphqlContext) => unknown;

/** Statements that change data or state: `query` only reads. */
const WRITES =
  /^(insert|update|delete|merge|upsert|replace|begin|start|commit|rollback|savepoint|release|prepare|create|drop|alter|truncate|copy|set|grant|revoke|call|do|lock|vacuum|analyze)\b/i;

function refuseWrites(sql: string): void {
  const text = sql.replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\()+/, "");
  if (WRITES.test(text)) {
    throw new EntenteError(
      "BAD_REQUEST",
      "sql: query runs SELECT statements only; send writes to entente.sql",
    );
  }
}

function positive(name: string, value: number | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value <= 0) throw new EntenteError("BAD_REQUEST", `${name} must be positive, got ${value}`);
  return value;
}

function sourcesOf(stats: SqlStats | undefined): ResultMeta["sources"] {
  return Object.entries(stats?.sources ?? {})
    .map(([source, s]) => ({ source, ...s }))
    .sort((a, b) => a.source.localeCompare(b.source));
}

function materializedOf(reply: unknown): MaterializedInfo {
  if (typeof reply === "object" && reply !== null && "materialized" in reply) {
    const inner = (reply as { materialized: unknown }).materialized;
    if (typeof inner === "object" && inner !== null && !Array.isArray(inner)) {
      return inner as MaterializedInfo;
    }
  }
  return reply as MaterializedInfo;
}

const TRANSFORMS = { DAY: "day", IDENTITY: "identity", BUCKET: "bucket" } as const;

export function createResolvers(options: ResolverOptions) {
  const { calls, settings, onInternal } = options;
  const now = options.now ?? Date.now;
  // One budget for the results being read and those kept for their later pages.
  const kept = new KeptResults<ResultMeta>({
    ttlMs: settings.cursorTtlMs,
    maxBytes: settings.maxKeptBytes,
  });
  const budget = kept.budget(now);

  function guarded(resolver: Resolver): Resolver {
    return async (parent, args, context) => {
      try {
        return await resolver(parent, args, context);
      } catch (err) {
        throw graphqlErrorOf(err, onInternal);
      }
    };
  }

  function page(meta: ResultMeta, rows: unknown[][], offset: number, first: number, id?: string) {
    const end = Math.min(rows.length, offset + first);
    const hasNextPage = end < rows.length;
    return {
      columns: meta.columns,
      rows: rows.slice(offset, end),
      rowCount: meta.rowCount,
      pageInfo: {
        hasNextPage,
        endCursor: hasNextPage && id !== undefined ? encodeCursor({ id, offset: end }) : null,
      },
      executionTimeMs: meta.executionTimeMs,
      sources: meta.sources,
      tiers: meta.tiers,
    };
  }

  /**
   * The plan's tiers, asked once per result (an EXPLAIN of the same statement) and only when a
   * page's selection has the field; graphql calls it with the context of the request reading it.
   */
  function tiersOnce(sql: string, params: unknown[]): ResultMeta["tiers"] {
    let asked: Promise<TierUse[]> | undefined;
    return (_args, { scope }) => {
      asked ??= calls.sql(scope, { sql, params, explain: true }).then(
        (r) => tiersOfPlan(r.plan ?? r.rows.map((row) => String(row[0])).join("\n")),
        (err: unknown) => {
          asked = undefined;
          throw graphqlErrorOf(err, onInternal);
        },
      );
      return asked;
    };
  }

  const Query = {
    query: guarded(async (_parent, args, { scope }) => {
      const sql: string = args.sql;
      const params: unknown[] = args.params ?? [];
      const first: number = args.first ?? settings.pageRows;
      if (first < 0 || first > settings.pageRows) {
        throw new EntenteError(
          "BAD_REQUEST",
          `first must be between 0 and ${settings.pageRows} (graphql.pageRows), got ${first}`,
        );
      }
      const key = toJson([sql, params]);
      if (args.after !== null && args.after !== undefined) {
        const cursor = decodeCursor(args.after);
        const entry = kept.read(cursor, key, now());
        return page(entry.meta, entry.rows, cursor.offset, first, entry.id);
      }
      refuseWrites(sql);
      const timeoutMs = positive("timeoutMs", args.timeoutMs);
      const started = performance.now();
      const result = await calls.sql(scope, { sql, params }, { timeoutMs, budget });
      // What follows runs at once: the rows are kept below (taking their bytes anew) or dropped.
      budget.release(result.reserved ?? 0);
      const { rows } = result;
      const bytes = result.bytes * HEAP_BYTES_PER_JSON_BYTE;
      const meta: ResultMeta = {
        columns: result.columns,
        rowCount: rows.length,
        executionTimeMs: result.stats?.ms ?? Math.round((performance.now() - started) * 10) / 10,
        sources: sourcesOf(result.stats),
        tiers: tiersOnce(sql, params),
      };
      if (rows.length <= first) return page(meta, rows, 0, first);
      const id = crypto.randomUUID().replaceAll("-", "");
      if (!kept.keep({ id, key, rows, bytes, meta }, now())) {
        throw new EntenteError(
          "TOO_LARGE",
          `the result is ${result.bytes} bytes as JSON, more than graphql.maxKeptBytes (${settings.maxKeptBytes}, counting ${HEAP_BYTES_PER_JSON_BYTE} bytes of memory per byte of JSON) keeps for paging with the results being read; narrow it or add a LIMIT`,
        );
      }
      return page(meta, rows, 0, first, id);
    }),

    tables: guarded(async (_parent, _args, { scope }) => {
      const reply = await calls.catalog<CatalogTablesReply>(scope, { op: "tables" });
      return reply.tables;
    }),

    tableStats: guarded(async (_parent, args, { scope }) => {
      const reply = await calls.catalog<TableStatsReply>(scope, {
        op: "tableStats",
        table: args.table,
      });
      return { ...reply, parts: reply.parts ?? [] };
    }),

    recommendedSource: guarded(async (_parent, args, { scope }) => {
      const date: string = args.date;
      const names: string[] =
        args.table !== null && args.table !== undefined
          ? [args.table]
          : (await calls.catalog<CatalogTablesReply>(scope, { op: "tables" })).tables
              .filter((t) => t.kind === "tiered")
              .map((t) => t.name);
      const replies = await Promise.all(names.map((name) => calls.tierFor(scope, name, date)));
      return replies.flatMap((reply) =>
        reply.members.map((m) => ({
          table: reply.table,
          kind: reply.kind,
          column: reply.column,
          at: date,
          tier: m.label,
          source: m.source,
          member: m.table,
        })),
      );
    }),

    retention: guarded(async (_parent, args, { scope }) => {
      const reply = await calls.tiers<RetentionReply>(scope, {
        op: "retention",
        ...(args.table ? { table: args.table } : {}),
      });
      return reply.tables;
    }),

    tierStatus: guarded(async (_parent, args, { scope }) => {
      const reply = await calls.tiers<TiersStatusReply>(scope, {
        op: "status",
        ...(args.table ? { table: args.table } : {}),
      });
      return reply.tables;
    }),

    materialized: guarded(async (_parent, _args, { scope }) => {
      const reply = await calls.tiers<MaterializedListReply>(scope, { op: "materialized" });
      return reply.materialized;
    }),
  };

  const Mutation = {
    materialize: guarded(async (_parent, args, { scope }) => {
      const timeoutMs = positive("timeoutMs", args.timeoutMs);
      const reply = await calls.tiers(
        scope,
        {
          op: "materialize",
          sql: args.sql,
          ttlMs: args.ttlMs,
          ...(args.params && args.params.length > 0 ? { params: args.params } : {}),
        },
        timeoutMs,
      );
      return materializedOf(reply);
    }),

    refreshMaterialized: guarded(async (_parent, args, { scope }) => {
      const timeoutMs = positive("timeoutMs", args.timeoutMs);
      const reply = await calls.tiers(scope, { op: "refreshMaterialized", id: args.id }, timeoutMs);
      return materializedOf(reply);
    }),

    moveTiers: guarded((_parent, args, { scope }) =>
      calls.tiers(
        scope,
        {
          op: "move",
          table: args.table,
          ...(args.wait === null || args.wait === undefined ? {} : { wait: args.wait }),
        },
        positive("timeoutMs", args.timeoutMs),
      ),
    ),

    compact: guarded((_parent, args, { scope }) =>
      calls.tiers(
        scope,
        {
          op: "compact",
          table: args.table,
          ...(args.targetFileBytes === null || args.targetFileBytes === undefined
            ? {}
            : { targetFileBytes: args.targetFileBytes }),
        },
        positive("timeoutMs", args.timeoutMs),
      ),
    ),

    repartition: guarded((_parent, args, { scope }) =>
      calls.tiers(
        scope,
        {
          op: "repartition",
          table: args.table,
          // The transform arrives as its internal value (see PartitionTransform below).
          partitionBy: (
            args.partitionBy as Array<{
              column: string;
              transform: "day" | "identity" | "bucket";
              buckets?: number | null;
            }>
          ).map((f) =>
            f.buckets === null || f.buckets === undefined
              ? { column: f.column, transform: f.transform }
              : { column: f.column, transform: f.transform, buckets: f.buckets },
          ) as never,
        },
        positive("timeoutMs", args.timeoutMs),
      ),
    ),

    expireSnapshots: guarded((_parent, args, { scope }) =>
      calls.tiers(
        scope,
        {
          op: "expireSnapshots",
          table: args.table,
          ...(args.olderThanMs === null || args.olderThanMs === undefined
            ? {}
            : { olderThanMs: args.olderThanMs }),
          ...(args.retainLast === null || args.retainLast === undefined
            ? {}
            : { retainLast: args.retainLast }),
        },
        positive("timeoutMs", args.timeoutMs),
      ),
    ),
  };

  return {
    resolvers: { JSON: JSONScalar, PartitionTransform: TRANSFORMS, Query, Mutation },
    kept,
  };
}

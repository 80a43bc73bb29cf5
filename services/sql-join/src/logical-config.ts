/**
 * `logicalTables:` — sharded and tiered tables over the physical ones, resolved against the
 * catalog each time it is read (so a relative tier boundary like "30 days" moves with the clock).
 */
import { type PartitionFieldSpec, partitionFieldSchema } from "@entente/protocol";
import {
  type CatalogTable,
  castValue,
  type LogicalMember,
  type LogicalTable,
  type StaticCatalog,
} from "@entente/sql";
import { z } from "zod";
import { tableRefSchema as tableRef } from "./config.ts";

const bound = z.union([z.string(), z.number(), z.null()]).optional();

const shardsSchema = z
  .object({
    key: z.string().min(1),
    by: z.enum(["range", "hash", "region"]),
    members: z
      .array(
        z
          .object({
            table: tableRef,
            /** range: from (inclusive) and to (exclusive), either open. */
            from: bound,
            to: bound,
            /** region: the regions whose ids this member holds. */
            regions: z.array(z.number().int().min(1).max(65535)).optional(),
            /**
             * The region whose table this is, named as that region's catalog names it: read
             * through that region's sql-join worker, or here when it is this worker's region.
             */
            region: z.number().int().min(1).max(65535).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

const DAYS = /^(\d{1,5})\s*days?$/i;
const EVERY = /^(\d{1,6})\s*(minute|minutes|hour|hours|day|days)$/i;

const daysSchema = z
  .string()
  .regex(DAYS, 'a retention is a number of days, such as "30 days"')
  .transform((text) => Number((DAYS.exec(text) as RegExpExecArray)[1]))
  .refine((days) => days >= 1, "a retention is at least 1 day");

/** How a tiered table's rows move from hot to cold, and when they leave cold for good. */
const lifecycleSchema = z
  .object({
    /** Rows younger than this stay hot (whole days, counted back from midnight UTC). */
    hotRetention: daysSchema.default(30),
    /** Rows older than this are expired from the cold store. */
    coldRetention: daysSchema.default(730),
    /** How often a move runs: "15 minutes", "1 hour", "1 day", or "off" (on demand only). */
    every: z
      .string()
      .refine((text) => text === "off" || EVERY.test(text), {
        error: 'every is "off" or a period such as "1 hour" or "15 minutes"',
      })
      .default("1 hour"),
    /**
     * Time between a move's commit to cold and its delete from hot, longer than the longest
     * statement: a statement planned before the commit still finds the rows in hot.
     */
    graceMs: z.number().int().min(0).max(86_400_000).default(300_000),
    /** The cold table's partitioning; by default the day of the tier column. */
    partitionBy: z.array(partitionFieldSchema).min(1).max(4).optional(),
  })
  .strict()
  .refine((l) => l.coldRetention > l.hotRetention, {
    error: "coldRetention must be longer than hotRetention",
  });

const tiersSchema = z
  .object({
    column: z.string().min(1),
    /**
     * A date/timestamp, or a relative age like "30 days" (from midnight UTC today). A table with
     * a lifecycle has none: its boundary is the watermark its moves commit to the cold store.
     */
    boundary: z.string().min(1).optional(),
    hot: tableRef,
    cold: tableRef,
    lifecycle: lifecycleSchema.optional(),
  })
  .strict()
  .refine((t) => (t.boundary === undefined) !== (t.lifecycle === undefined), {
    error: "a tiered table has either a boundary or a lifecycle (which moves the boundary itself)",
  });

export const logicalTablesSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "logical table names are plain identifiers"),
    z.union([
      z.object({ shards: shardsSchema }).strict(),
      z.object({ tiers: tiersSchema }).strict(),
    ]),
  )
  .optional();

export type LogicalTablesConfig = NonNullable<z.output<typeof logicalTablesSchema>>;

/** The cold-store property holding a lifecycle table's boundary (ISO text). */
export const WATERMARK_PROPERTY = "entente.tier.watermark";

/** One tiered table whose rows move from hot to cold on their own. */
export interface TierLifecycleConfig {
  /** The logical table's name. */
  table: string;
  column: string;
  /** `source.schema.table` of each tier; the cold one is in a coldstore source. */
  hot: string;
  cold: string;
  hotRetentionDays: number;
  coldRetentionDays: number;
  /** Undefined: on demand only. */
  everyMs: number | undefined;
  graceMs: number;
  /** Undefined: the day of `column`. */
  partitionBy: PartitionFieldSpec[] | undefined;
}

export function lifecycleTablesOf(config: LogicalTablesConfig): TierLifecycleConfig[] {
  const out: TierLifecycleConfig[] = [];
  for (const [table, def] of Object.entries(config)) {
    if (!("tiers" in def) || def.tiers.lifecycle === undefined) continue;
    const { column, hot, cold, lifecycle } = def.tiers;
    out.push({
      table,
      column,
      hot,
      cold,
      hotRetentionDays: lifecycle.hotRetention,
      coldRetentionDays: lifecycle.coldRetention,
      everyMs: periodMs(lifecycle.every),
      graceMs: lifecycle.graceMs,
      partitionBy: lifecycle.partitionBy,
    });
  }
  return out;
}

function periodMs(every: string): number | undefined {
  const m = EVERY.exec(every);
  if (!m) return undefined;
  const unit = (m[2] as string).toLowerCase();
  const ms = unit.startsWith("minute") ? 60_000 : unit.startsWith("hour") ? 3_600_000 : 86_400_000;
  return Number(m[1]) * ms;
}

const RELATIVE = /^(\d+)\s*(day|days|hour|hours)$/i;

/** The tier boundary as a value of the column's type. */
export function boundaryValue(
  boundary: string,
  type: CatalogTable["columns"][number]["type"],
  now = Date.now(),
): unknown {
  const m = RELATIVE.exec(boundary.trim());
  let text = boundary;
  if (m) {
    const n = Number(m[1]);
    const unitMs = (m[2] as string).toLowerCase().startsWith("hour") ? 3_600_000 : 86_400_000;
    const midnight = Math.floor(now / 86_400_000) * 86_400_000;
    const base = unitMs === 86_400_000 ? midnight : Math.floor(now / 3_600_000) * 3_600_000;
    text = new Date(base - n * unitMs).toISOString();
  }
  return castValue(text, type === "date" ? "date" : type === "timestamp" ? "timestamp" : type);
}

/** Another region's table a logical table names: the region and its name there. */
export interface RegionTableRef {
  region: number;
  table: string;
}

/** How members that name a region are read. */
export interface RegionMembers {
  /** This worker's region: its members are read here, as local tables. */
  ownRegion: number;
  /** Tables of other regions as their workers described them, by `regionTableKey`. */
  described: ReadonlyMap<string, CatalogTable>;
  /** The source that reads a region's tables. */
  sourceOf(region: number): string;
}

export function regionTableKey(ref: RegionTableRef): string {
  return `${ref.region}|${ref.table}`;
}

/** The other regions' tables the configuration names, each once. */
export function remoteTablesOf(
  config: LogicalTablesConfig,
  ownRegion: number | undefined,
): RegionTableRef[] {
  const refs = new Map<string, RegionTableRef>();
  for (const def of Object.values(config)) {
    if (!("shards" in def)) continue;
    for (const m of def.shards.members) {
      if (m.region === undefined || m.region === ownRegion) continue;
      const ref = { region: m.region, table: m.table };
      refs.set(regionTableKey(ref), ref);
    }
  }
  return [...refs.values()];
}

/** A shard member's label in EXPLAIN and errors: the region it reads, or its table. */
function memberLabel(m: { table: string; region?: number | undefined }, ownRegion?: number) {
  if (m.region === undefined) return m.table;
  return m.region === ownRegion ? `region ${m.region} (here)` : `region ${m.region}`;
}

/**
 * Builds the logical tables; a definition that does not fit the catalog is reported, not fatal.
 * Another region's member has the columns its worker described; until it has answered, it is
 * taken to have the columns of the table's other members (a region's share of a table is the
 * same table), and a wrong guess fails that region's reads with its own error.
 */
export function buildLogicalTables(
  config: LogicalTablesConfig,
  catalog: StaticCatalog,
  options: {
    now?: number;
    regions?: RegionMembers;
    /** Lifecycle tables' watermarks by logical name; null before a first move. */
    watermarks?: ReadonlyMap<string, string | null>;
  } = {},
): { tables: LogicalTable[]; problems: string[] } {
  const now = options.now ?? Date.now();
  const regions = options.regions;
  const tables: LogicalTable[] = [];
  const problems: string[] = [];
  for (const [name, def] of Object.entries(config)) {
    try {
      const resolve = (ref: string) => catalog.resolve(ref.split("."));
      if ("tiers" in def) {
        const hot = resolve(def.tiers.hot);
        const cold = resolve(def.tiers.cold);
        const columns = checkColumns(name, [hot, cold]);
        const col = columns.find((c) => c.name === def.tiers.column);
        if (!col)
          throw new Error(`tier column "${def.tiers.column}" is not a column of ${def.tiers.hot}`);
        const hotMember = (from: unknown): LogicalMember => ({
          label: "hot",
          table: hot,
          // No move takes a row whose time is NULL: it stays hot, and is read there.
          constraint: { kind: "range", column: col.name, from, enforce: true, nulls: true },
        });
        const coldMember = (to: unknown): LogicalMember => ({
          label: "cold",
          table: cold,
          constraint: { kind: "range", column: col.name, to, enforce: true },
        });
        let members: LogicalMember[];
        if (def.tiers.boundary !== undefined) {
          const b = boundaryValue(def.tiers.boundary, col.type, now);
          members = [hotMember(b), coldMember(b)];
        } else {
          // Managed: the watermark the last move committed; before any, every row is hot.
          const watermark = options.watermarks?.get(name) ?? null;
          const b = watermark === null ? undefined : castValue(watermark, col.type);
          members = b === undefined ? [hotMember(undefined)] : [hotMember(b), coldMember(b)];
        }
        tables.push({ name, kind: "tiered", columns, members });
      } else {
        const s = def.shards;
        const members = resolveMembers(s.members, resolve, regions);
        const columns = checkColumns(
          name,
          members.map((m) => m.resolved),
        );
        const col = columns.find((c) => c.name === s.key);
        if (!col) throw new Error(`shard key "${s.key}" is not a column of ${s.members[0]?.table}`);
        const value = (v: unknown) =>
          v === undefined || v === null ? undefined : castValue(v, col.type);
        tables.push({
          name,
          kind: "sharded",
          columns,
          members: members.map((m, i) => ({
            label: memberLabel(m, regions?.ownRegion),
            table: m.resolved,
            constraint:
              s.by === "range"
                ? {
                    kind: "range" as const,
                    column: col.name,
                    from: value(m.from),
                    to: value(m.to),
                    enforce: false,
                  }
                : s.by === "hash"
                  ? { kind: "hash" as const, column: col.name, buckets: members.length, bucket: i }
                  : {
                      kind: "region" as const,
                      column: col.name,
                      regions: m.regions ?? (m.region === undefined ? [] : [m.region]),
                    },
          })),
        });
      }
    } catch (err) {
      problems.push(`logicalTables.${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { tables, problems };
}

type MemberConfig = Extract<
  LogicalTablesConfig[string],
  { shards: unknown }
>["shards"]["members"][number];

/**
 * Each member's table: this worker's own (a member of no region, or of this region), or another
 * region's as described, else shaped like the others. Another region's member is estimated as
 * large as this worker's own share, since its worker keeps its statistics.
 */
function resolveMembers(
  members: MemberConfig[],
  resolve: (ref: string) => CatalogTable,
  regions: RegionMembers | undefined,
): (MemberConfig & { resolved: CatalogTable })[] {
  const isRemote = (m: MemberConfig) => m.region !== undefined && m.region !== regions?.ownRegion;
  const local = new Map<MemberConfig, CatalogTable>();
  for (const m of members) if (!isRemote(m)) local.set(m, resolve(m.table));
  const own = [...local.values()][0];
  const remote = new Map<MemberConfig, CatalogTable | undefined>();
  for (const m of members) {
    if (!isRemote(m)) continue;
    if (!regions) {
      throw new Error(
        `member ${memberLabel(m)} (${m.table}) names a region, and this engine was opened without its own region and client, so it cannot tell or reach it`,
      );
    }
    remote.set(
      m,
      regions.described.get(regionTableKey({ region: m.region as number, table: m.table })),
    );
  }
  const shape = own ?? [...remote.values()].find((t) => t !== undefined);
  if (!shape) {
    throw new Error(
      `no member's columns are known yet: no member is in this region and no other region has described its table`,
    );
  }
  return members.map((m) => {
    const table = local.get(m);
    if (table) return { ...m, resolved: table };
    const path = m.table.split(".");
    const described = remote.get(m);
    return {
      ...m,
      resolved: {
        source: (regions as RegionMembers).sourceOf(m.region as number),
        schema: path.slice(0, -1).join("."),
        name: path[path.length - 1] ?? m.table,
        path,
        // Shaped like a local member: its names and types only. How that member's source
        // compares a column (char(n), a collation) is not how the other region's engine does.
        columns: described?.columns ?? shape.columns.map(({ name, type }) => ({ name, type })),
        ...(own?.rowCount === undefined ? {} : { rowCount: own.rowCount }),
        ...(own?.distinct === undefined ? {} : { distinct: own.distinct }),
      },
    };
  });
}

function checkColumns(name: string, members: CatalogTable[]) {
  const first = members[0] as CatalogTable;
  const a = first.columns.map((c) => c.name.toLowerCase()).join(",");
  for (const m of members) {
    const b = m.columns.map((c) => c.name.toLowerCase()).join(",");
    if (a !== b) {
      throw new Error(
        `members of ${name} must have the same columns in the same order: ${first.source}.${first.name} (${a}) and ${m.source}.${m.name} (${b})`,
      );
    }
  }
  return first.columns.map((c, i) => {
    const types = new Set(members.map((m) => m.columns[i]?.type));
    const type =
      types.size === 1
        ? c.type
        : [...types].every((t) => t === "integer" || t === "bigint")
          ? "bigint"
          : c.type;
    return { name: c.name, type };
  });
}

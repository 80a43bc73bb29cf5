/**
 * `logicalTables:` — sharded and tiered tables over the physical ones, resolved against the
 * catalog each time it is read (so a relative tier boundary like "30 days" moves with the clock).
 */
import { type CatalogTable, castValue, type LogicalTable, type StaticCatalog } from "@entente/sql";
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

const tiersSchema = z
  .object({
    column: z.string().min(1),
    /** A date/timestamp, or a relative age like "30 days" (from midnight UTC today). */
    boundary: z.string().min(1),
    hot: tableRef,
    cold: tableRef,
  })
  .strict();

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
  options: { now?: number; regions?: RegionMembers } = {},
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
        const b = boundaryValue(def.tiers.boundary, col.type, now);
        tables.push({
          name,
          kind: "tiered",
          columns,
          members: [
            {
              label: "hot",
              table: hot,
              constraint: { kind: "range", column: col.name, from: b, enforce: true },
            },
            {
              label: "cold",
              table: cold,
              constraint: { kind: "range", column: col.name, to: b, enforce: true },
            },
          ],
        });
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
        columns: (described ?? shape).columns,
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

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

/** Builds the logical tables; a definition that does not fit the catalog is reported, not fatal. */
export function buildLogicalTables(
  config: LogicalTablesConfig,
  catalog: StaticCatalog,
  now = Date.now(),
): { tables: LogicalTable[]; problems: string[] } {
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
        const members = s.members.map((m) => ({ ...m, resolved: resolve(m.table) }));
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
            label: `${m.table}`,
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
                  : { kind: "region" as const, column: col.name, regions: m.regions ?? [] },
          })),
        });
      }
    } catch (err) {
      problems.push(`logicalTables.${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { tables, problems };
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

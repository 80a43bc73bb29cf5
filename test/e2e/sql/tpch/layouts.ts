/**
 * Two placements of the eight TPC-H tables over PostgreSQL, MariaDB and DuckDB, and the one
 * worker configuration that serves both: each layout's sources under its own names, and its
 * tables as `<layout>_<table>` aliases, so a statement picks a layout by the names it uses.
 */
import { TPCH_TABLE_NAMES, type TpchTable, type TpchTableName } from "./generate.ts";

export type SourceKind = "postgres" | "mysql" | "duckdb";

export const SOURCE_KINDS: readonly SourceKind[] = ["postgres", "mysql", "duckdb"];

export interface TpchLayout {
  /** Also the prefix of the layout's table and source names. */
  name: string;
  description: string;
  placement: Record<TpchTableName, SourceKind>;
}

/** The facts in PostgreSQL, the part catalogue in MariaDB, customers and geography in DuckDB. */
const LAYOUT_A: TpchLayout = {
  name: "a",
  description:
    "lineitem+orders in PostgreSQL, part+partsupp+supplier in MariaDB, the rest in DuckDB",
  placement: {
    lineitem: "postgres",
    orders: "postgres",
    part: "mysql",
    partsupp: "mysql",
    supplier: "mysql",
    customer: "duckdb",
    nation: "duckdb",
    region: "duckdb",
  },
};

/** Each join of lineitem with orders, customer or part crosses sources. */
const LAYOUT_B: TpchLayout = {
  name: "b",
  description: "lineitem in DuckDB, orders+customer in MariaDB, the rest in PostgreSQL",
  placement: {
    lineitem: "duckdb",
    orders: "mysql",
    customer: "mysql",
    part: "postgres",
    partsupp: "postgres",
    supplier: "postgres",
    nation: "postgres",
    region: "postgres",
  },
};

export const TPCH_LAYOUTS: readonly TpchLayout[] = [LAYOUT_A, LAYOUT_B];

/** The name a statement uses for `table` in `layout`. */
export function layoutTableName(layout: TpchLayout, table: TpchTableName): string {
  return `${layout.name}_${table}`;
}

/** The tables `layout` places in a source of `kind`. */
export function tablesIn(
  layout: TpchLayout,
  kind: SourceKind,
  tables: readonly TpchTable[],
): TpchTable[] {
  return tables.filter((table) => layout.placement[table.name] === kind);
}

const SOURCE_SUFFIX: Record<SourceKind, string> = { postgres: "pg", mysql: "my", duckdb: "duck" };

const sourceName = (layout: TpchLayout, kind: SourceKind) =>
  `${layout.name}_${SOURCE_SUFFIX[kind]}`;

/** A PostgreSQL or MariaDB URL, or a DuckDB file, per source kind. */
export type SourceLocations = Record<SourceKind, string>;

function sourceYaml(name: string, kind: SourceKind, location: string): string {
  const where =
    kind === "duckdb" ? `path: ${JSON.stringify(location)}` : `url: ${JSON.stringify(location)}`;
  return `  ${name}: { kind: ${kind}, ${where} }`;
}

function tableYaml(layout: TpchLayout, table: TpchTableName): string {
  const kind = layout.placement[table];
  const source = sourceName(layout, kind);
  const path = kind === "postgres" ? `${source}.public.${table}` : `${source}.${table}`;
  return `  ${layoutTableName(layout, table)}: ${path}`;
}

/** The worker configuration serving every layout, given where each layout's sources are. */
export function tpchWorkerConfigYaml(
  natsUrl: string,
  locations: ReadonlyMap<TpchLayout, SourceLocations>,
): string {
  const layouts = [...locations.keys()];
  return [
    `nats: { servers: ${JSON.stringify(natsUrl)} }`,
    "log: { level: warn }",
    "sources:",
    ...layouts.flatMap((layout) =>
      SOURCE_KINDS.map((kind) =>
        sourceYaml(sourceName(layout, kind), kind, locations.get(layout)![kind]),
      ),
    ),
    "tables:",
    ...layouts.flatMap((layout) => TPCH_TABLE_NAMES.map((table) => tableYaml(layout, table))),
    "",
  ].join("\n");
}

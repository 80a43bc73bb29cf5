/**
 * Where the differential tables live for the SQL join service, and the one worker configuration
 * that serves every layout: the spread layout's tables under their own names, and each
 * whole-source layout's as `<source>_<table>` aliases in `tables:`.
 */
import { type SourceKind, TABLE_SCHEMAS } from "./fixtures.ts";

export interface Layout {
  name: string;
  /** The name a statement uses for `table` in this layout. */
  tableName(table: string): string;
  /** `false`: the sources only scan, every other operator runs in the engine. */
  pushdown: boolean;
  /** Every table is in one source, so a statement over several can go there whole. */
  whole: boolean;
}

const KINDS: SourceKind[] = ["postgres", "mysql", "duckdb"];

/** The worker's source names: the spread layout's, and those holding every table. */
const SPREAD_SOURCE: Record<SourceKind, string> = { postgres: "pg", mysql: "my", duckdb: "duck" };
const WHOLE_SOURCE: Record<SourceKind, string> = {
  postgres: "pgall",
  mysql: "myall",
  duckdb: "duckall",
};

const spreadLayout = (name: string, pushdown: boolean): Layout => ({
  name,
  tableName: (table) => table,
  pushdown,
  whole: false,
});

const wholeLayout = (name: string, kind: SourceKind): Layout => ({
  name,
  tableName: (table) => `${WHOLE_SOURCE[kind]}_${table}`,
  pushdown: true,
  whole: true,
});

/** Tables over PostgreSQL, MariaDB and DuckDB, as placed in `TABLE_SCHEMAS`. */
export const SPREAD = spreadLayout("spread", true);

export const LAYOUTS: readonly Layout[] = [
  SPREAD,
  spreadLayout("spread, pushdown off", false),
  wholeLayout("all in PostgreSQL", "postgres"),
  wholeLayout("all in MariaDB", "mysql"),
  wholeLayout("all in DuckDB", "duckdb"),
];

/** A PostgreSQL or MariaDB URL, or a DuckDB file, per source. */
export interface SourceLocations {
  spread: Record<SourceKind, string>;
  whole: Record<SourceKind, string>;
}

function sourceYaml(name: string, kind: SourceKind, location: string): string {
  const where =
    kind === "duckdb" ? `path: ${JSON.stringify(location)}` : `url: ${JSON.stringify(location)}`;
  return `  ${name}: { kind: ${kind}, ${where} }`;
}

function tablePath(kind: SourceKind, source: string, table: string): string {
  return kind === "postgres" ? `${source}.public.${table}` : `${source}.${table}`;
}

/** The worker configuration serving every layout's tables. */
export function workerConfigYaml(natsUrl: string, locations: SourceLocations): string {
  const spreadTable = (table: string, kind: SourceKind) =>
    `  ${table}: ${tablePath(kind, SPREAD_SOURCE[kind], table)}`;
  const wholeTable = (table: string, kind: SourceKind) =>
    `  ${WHOLE_SOURCE[kind]}_${table}: ${tablePath(kind, WHOLE_SOURCE[kind], table)}`;
  return [
    `nats: { servers: ${JSON.stringify(natsUrl)} }`,
    "log: { level: warn }",
    "sources:",
    ...KINDS.map((kind) => sourceYaml(SPREAD_SOURCE[kind], kind, locations.spread[kind])),
    ...KINDS.map((kind) => sourceYaml(WHOLE_SOURCE[kind], kind, locations.whole[kind])),
    "tables:",
    ...TABLE_SCHEMAS.map((t) => spreadTable(t.name, t.placement)),
    ...KINDS.flatMap((kind) => TABLE_SCHEMAS.map((t) => wholeTable(t.name, kind))),
    "",
  ].join("\n");
}

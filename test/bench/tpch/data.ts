/**
 * The benchmark's data: the reference PostgreSQL database with all eight tables, and layout A's
 * three sources (PostgreSQL, MariaDB, DuckDB), keyed and indexed as the tests' are
 * (test/e2e/sql/tpch/load.ts).
 */
import type { TpchTable } from "../../e2e/sql/tpch/generate.ts";
import { type SourceLocations, type TpchLayout, tablesIn } from "../../e2e/sql/tpch/layouts.ts";
import { loadDuckDb, loadMysql, loadPostgres } from "../../e2e/sql/tpch/load.ts";

/** Loads the reference database and the layout's three sources, all at once. */
export async function loadReferenceAndLayout(
  referenceUrl: string,
  layout: TpchLayout,
  at: SourceLocations,
  tables: readonly TpchTable[],
): Promise<void> {
  await Promise.all([
    loadPostgres(referenceUrl, tables),
    loadPostgres(at.postgres, tablesIn(layout, "postgres", tables)),
    loadMysql(at.mysql, tablesIn(layout, "mysql", tables)),
    loadDuckDb(at.duckdb, tablesIn(layout, "duckdb", tables)),
  ]);
}

/**
 * The benchmark's data: the reference PostgreSQL database with all eight tables, and layout A's
 * three sources (PostgreSQL, MariaDB, DuckDB), each indexed as the tests' are
 * (test/e2e/sql/tpch/indexed.ts).
 */
import type { TpchTable } from "../../e2e/sql/tpch/generate.ts";
import {
  loadDuckDbIndexed,
  loadMysqlIndexed,
  loadPostgresIndexed,
} from "../../e2e/sql/tpch/indexed.ts";
import { type SourceLocations, type TpchLayout, tablesIn } from "../../e2e/sql/tpch/layouts.ts";

/** Loads the reference database and the layout's three sources, all at once. */
export async function loadReferenceAndLayout(
  referenceUrl: string,
  layout: TpchLayout,
  at: SourceLocations,
  tables: readonly TpchTable[],
): Promise<void> {
  await Promise.all([
    loadPostgresIndexed(referenceUrl, tables),
    loadPostgresIndexed(at.postgres, tablesIn(layout, "postgres", tables)),
    loadMysqlIndexed(at.mysql, tablesIn(layout, "mysql", tables)),
    loadDuckDbIndexed(at.duckdb, tablesIn(layout, "duckdb", tables)),
  ]);
}

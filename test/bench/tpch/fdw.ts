/**
 * The foreign-data-wrapper baseline: one PostgreSQL database, the coordinator, that reaches the
 * layout's PostgreSQL tables through postgres_fdw and its MariaDB tables through mysql_fdw, and
 * holds its DuckDB tables itself — PostgreSQL has no wrapper for a DuckDB file, so those tables
 * are loaded into the coordinator for the run (with the same keys, indexes and statistics).
 *
 * mysql_fdw is installed with scripts/bench-sql-setup.sh when the server lacks it.
 */
import type pg from "pg";
import { columnSql, type TpchTable } from "../../e2e/sql/tpch/generate.ts";
import { type SourceLocations, type TpchLayout, tablesIn } from "../../e2e/sql/tpch/layouts.ts";
import { loadPostgres } from "../../e2e/sql/tpch/load.ts";
import { withPg } from "../pg.ts";
import { installMysqlFdw } from "../sql-join/fdw.ts";

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
const databaseOf = (url: URL) => decodeURIComponent(url.pathname.slice(1));

function foreignTableSql(table: TpchTable, server: string, options: string): string {
  const columns = table.columns.map((c) => `${c.name} ${columnSql(c, "postgres")} NOT NULL`);
  return `CREATE FOREIGN TABLE ${table.name} (${columns.join(", ")}) SERVER ${server} OPTIONS (${options}, table_name ${literal(table.name)})`;
}

/**
 * The two foreign servers. postgres_fdw asks the remote server for its cost estimates
 * (use_remote_estimate), as its documentation recommends for joins, and both wrappers fetch
 * 10,000 rows per round trip instead of their default 100.
 */
async function createServers(client: pg.Client, at: SourceLocations): Promise<void> {
  const pgAt = new URL(at.postgres);
  const myAt = new URL(at.mysql);
  await client.query("CREATE EXTENSION IF NOT EXISTS postgres_fdw");
  await client.query("CREATE EXTENSION IF NOT EXISTS mysql_fdw");
  await client.query(
    `CREATE SERVER tpch_pg FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host ${literal(pgAt.hostname)}, port ${literal(pgAt.port || "5432")}, dbname ${literal(databaseOf(pgAt))}, use_remote_estimate 'true', fetch_size '10000')`,
  );
  const pgUser = decodeURIComponent(pgAt.username) || "postgres";
  const pgPassword = pgAt.password
    ? `, password ${literal(decodeURIComponent(pgAt.password))}`
    : "";
  await client.query(
    `CREATE USER MAPPING FOR CURRENT_USER SERVER tpch_pg OPTIONS (user ${literal(pgUser)}${pgPassword})`,
  );
  await client.query(
    `CREATE SERVER tpch_my FOREIGN DATA WRAPPER mysql_fdw OPTIONS (host ${literal(myAt.hostname)}, port ${literal(myAt.port || "3306")}, fetch_size '10000')`,
  );
  await client.query(
    `CREATE USER MAPPING FOR CURRENT_USER SERVER tpch_my OPTIONS (username ${literal(decodeURIComponent(myAt.username) || "root")}, password ${literal(decodeURIComponent(myAt.password))})`,
  );
}

/**
 * Makes the database at `coordinatorUrl` see all eight tables under their plain names: foreign
 * tables over the layout's PostgreSQL and MariaDB sources, local copies of its DuckDB tables.
 */
export async function setUpCoordinator(
  coordinatorUrl: string,
  layout: TpchLayout,
  at: SourceLocations,
  tables: readonly TpchTable[],
  log: (line: string) => void,
): Promise<void> {
  await loadPostgres(coordinatorUrl, tablesIn(layout, "duckdb", tables));
  await withPg(coordinatorUrl, async (client) => {
    const missing = await installMysqlFdw(client, coordinatorUrl, log);
    if (missing) throw new Error(missing);
    await createServers(client, at);
    for (const table of tablesIn(layout, "postgres", tables)) {
      await client.query(foreignTableSql(table, "tpch_pg", "schema_name 'public'"));
    }
    const myDatabase = databaseOf(new URL(at.mysql));
    for (const table of tablesIn(layout, "mysql", tables)) {
      await client.query(foreignTableSql(table, "tpch_my", `dbname ${literal(myDatabase)}`));
    }
    // Statistics for the planner: postgres_fdw samples the remote tables; a wrapper that cannot
    // (mysql_fdw) is skipped with a warning and estimates from the remote server instead.
    await client.query("ANALYZE");
    // A round trip to each wrapped table now, so a connection problem shows here, not as a time.
    for (const table of tables) await client.query(`SELECT 1 FROM ${table.name} LIMIT 1`);
  });
}

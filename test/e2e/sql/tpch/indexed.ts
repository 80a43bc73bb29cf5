/**
 * TPC-H tables loaded as a database administrator would set them up: each table with its primary
 * key (from its CREATE TABLE) and an index on each foreign-key column the key does not already
 * lead with, so every join of the 22 queries can use an index wherever the database has one; then
 * each database's statistics are gathered. Without them PostgreSQL takes minutes over Q17's
 * correlated subquery at SF 0.1, and MariaDB over Q13's join of customer and orders.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import pg from "pg";
import type { TpchTable, TpchTableName } from "./generate.ts";
import { loadDuckDb, loadMysql, loadPostgres } from "./load.ts";

/** TPC-H's foreign keys, less those a primary key already leads with (l_orderkey, ps_partkey). */
const FOREIGN_KEY_INDEXES: Partial<Record<TpchTableName, string[][]>> = {
  nation: [["n_regionkey"]],
  supplier: [["s_nationkey"]],
  partsupp: [["ps_suppkey"]],
  customer: [["c_nationkey"]],
  orders: [["o_custkey"]],
  // (l_partkey, l_suppkey) references partsupp and serves l_partkey alone.
  lineitem: [["l_partkey", "l_suppkey"], ["l_suppkey"]],
};

/** CREATE INDEX statements for `tables`, in syntax PostgreSQL, MariaDB and DuckDB all take. */
export function indexStatements(tables: readonly TpchTable[]): string[] {
  return tables.flatMap((table) =>
    (FOREIGN_KEY_INDEXES[table.name] ?? []).map(
      (columns) =>
        `CREATE INDEX ${table.name}_${columns.join("_")} ON ${table.name} (${columns.join(", ")})`,
    ),
  );
}

/** Loads `tables` into a PostgreSQL database, indexes them and runs ANALYZE. */
export async function loadPostgresIndexed(url: string, tables: readonly TpchTable[]) {
  await loadPostgres(url, tables);
  const client = new pg.Client({ connectionString: url });
  // A dropped connection fails the statement running on it, not the process.
  client.on("error", () => {});
  await client.connect();
  try {
    for (const statement of indexStatements(tables)) await client.query(statement);
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

/** Loads `tables` into a MariaDB database, indexes them and runs ANALYZE TABLE on each. */
export async function loadMysqlIndexed(url: string, tables: readonly TpchTable[]) {
  await loadMysql(url, tables);
  const connection = await mysql.createConnection({ uri: url });
  try {
    for (const statement of indexStatements(tables)) await connection.query(statement);
    for (const table of tables) await connection.query(`ANALYZE TABLE ${table.name}`);
  } finally {
    await connection.end();
  }
}

/** Writes `tables` to a DuckDB file with their indexes, and closes it for the worker to open. */
export async function loadDuckDbIndexed(path: string, tables: readonly TpchTable[]) {
  await loadDuckDb(path, tables);
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    for (const statement of indexStatements(tables)) await connection.run(statement);
    await connection.run("CHECKPOINT");
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

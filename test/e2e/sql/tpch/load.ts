/**
 * Writes TPC-H tables into a PostgreSQL database, a MariaDB database or a DuckDB file. Rows are
 * streamed from the generator in chunks (a JSON array per statement for PostgreSQL, multi-row
 * INSERTs for MariaDB) or through an appender (DuckDB), so a large scale factor never sits in
 * memory whole.
 *
 * Each table is set up as a database administrator would: its primary key (from its CREATE
 * TABLE) and an index on each foreign-key column the key does not already lead with, so every
 * join of the 22 queries can use an index wherever the database has one; then its statistics.
 * Without them PostgreSQL takes minutes over Q17's correlated subquery at SF 0.1, and MariaDB
 * over Q13's join of customer and orders.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import pg from "pg";
import { type Cell, createTableSql, type TpchTable, type TpchTableName } from "./generate.ts";

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

/** `table`'s CREATE INDEX statements, in syntax PostgreSQL, MariaDB and DuckDB all take. */
function indexStatements(table: TpchTable): string[] {
  return (FOREIGN_KEY_INDEXES[table.name] ?? []).map(
    (columns) =>
      `CREATE INDEX ${table.name}_${columns.join("_")} ON ${table.name} (${columns.join(", ")})`,
  );
}

/** Values per statement: a few megabytes, well under MariaDB's packet limit. */
const VALUES_PER_STATEMENT = 60_000;

/** The rows of `table` in chunks of at most `VALUES_PER_STATEMENT` values. */
function* chunks(table: TpchTable): Iterable<Cell[][]> {
  const size = Math.max(1, Math.floor(VALUES_PER_STATEMENT / table.columns.length));
  let chunk: Cell[][] = [];
  for (const row of table.rows()) {
    chunk.push(row);
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** A multi-row INSERT of `rows` rows with `?` placeholders. */
function insertSql(table: TpchTable, rows: number): string {
  const tuple = `(${table.columns.map(() => "?").join(", ")})`;
  const columns = table.columns.map((c) => c.name).join(", ");
  return `INSERT INTO ${table.name} (${columns}) VALUES ${Array(rows).fill(tuple).join(", ")}`;
}

/** Rows as one JSON array of objects, which PostgreSQL turns into rows of the table's type. */
function jsonRecords(table: TpchTable, rows: Cell[][]): string {
  const names = table.columns.map((c) => c.name);
  return JSON.stringify(rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]]))));
}

/**
 * Each chunk is one parameter, a JSON array read by json_populate_recordset: far cheaper to send
 * and parse than tens of thousands of placeholders.
 */
export async function loadPostgres(url: string, tables: readonly TpchTable[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  // A dropped connection fails the statement running on it, not the process.
  client.on("error", () => {});
  await client.connect();
  try {
    for (const table of tables) {
      await client.query(createTableSql(table, "postgres"));
      const insert = `INSERT INTO ${table.name} SELECT * FROM json_populate_recordset(NULL::${table.name}, $1)`;
      for (const rows of chunks(table)) await client.query(insert, [jsonRecords(table, rows)]);
      for (const statement of indexStatements(table)) await client.query(statement);
      await client.query(`ANALYZE ${table.name}`);
    }
  } finally {
    await client.end();
  }
}

export async function loadMysql(url: string, tables: readonly TpchTable[]): Promise<void> {
  const connection = await mysql.createConnection({ uri: url });
  try {
    for (const table of tables) {
      await connection.query(createTableSql(table, "mysql"));
      for (const rows of chunks(table)) {
        await connection.query(insertSql(table, rows.length), rows.flat());
      }
      for (const statement of indexStatements(table)) await connection.query(statement);
      await connection.query(`ANALYZE TABLE ${table.name}`);
    }
  } finally {
    await connection.end();
  }
}

/**
 * Appends `table`'s rows as text to an all-VARCHAR staging table, then casts them into the table:
 * one append call for every value whatever its type, and DuckDB's own exact cast from text.
 */
async function appendDuckDb(
  connection: Awaited<ReturnType<DuckDBInstance["connect"]>>,
  table: TpchTable,
): Promise<void> {
  const stage = `stage_${table.name}`;
  await connection.run(
    `CREATE TABLE ${stage} (${table.columns.map((c) => `${c.name} VARCHAR`).join(", ")})`,
  );
  const appender = await connection.createAppender(stage);
  for (const row of table.rows()) {
    for (const value of row) appender.appendVarchar(String(value));
    appender.endRow();
  }
  appender.closeSync();
  await connection.run(createTableSql(table, "duckdb"));
  const casts = table.columns.map((c) =>
    c.type === "decimal"
      ? `CAST(${c.name} AS DECIMAL(15,2))`
      : c.type === "date"
        ? `CAST(${c.name} AS DATE)`
        : c.type === "integer"
          ? `CAST(${c.name} AS INTEGER)`
          : c.name,
  );
  await connection.run(`INSERT INTO ${table.name} SELECT ${casts.join(", ")} FROM ${stage}`);
  await connection.run(`DROP TABLE ${stage}`);
}

/** Writes a DuckDB file and closes it, so the worker can open it afterwards. */
export async function loadDuckDb(path: string, tables: readonly TpchTable[]): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    for (const table of tables) {
      await appendDuckDb(connection, table);
      for (const statement of indexStatements(table)) await connection.run(statement);
    }
    await connection.run("CHECKPOINT");
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

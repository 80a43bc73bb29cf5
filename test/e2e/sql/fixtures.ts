/**
 * The differential suite's tables: a few hundred rows with NULLs, duplicate and dangling join
 * keys, text that differs only in case (which a case-insensitive MariaDB collation would wrongly
 * match if a text predicate were pushed down), a quote in a name, and one empty table. The same
 * rows are written to the federated layout (PostgreSQL, MariaDB, DuckDB) and to one PostgreSQL
 * database.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import pg from "pg";
import { type Random, seededRandom } from "./random.ts";

export type ColumnType = "int" | "text" | "decimal" | "date" | "timestamp";
export type Placement = "postgres" | "mysql" | "duckdb";

export interface ColumnDef {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

export interface TableDef {
  name: string;
  /** Where the table lives in the federated layout. */
  placement: Placement;
  columns: ColumnDef[];
  primaryKey?: string;
  rows: (string | number | null)[][];
}

const col = (name: string, type: ColumnType, nullable = true): ColumnDef => ({
  name,
  type,
  nullable,
});

const NAMES = [
  "alice",
  "Alice",
  "bob",
  "BOB",
  "carol",
  "o'brien",
  "dave",
  "eve",
  "Mallory",
  "trent",
];
export const COUNTRIES = ["US", "us", "DE", "FR", "JP", "BR"];
export const STATUSES = ["paid", "PAID", "shipped", "cancelled"];
export const CATEGORIES = ["books", "Books", "games", "tools"];

const pad = (n: number) => String(n).padStart(2, "0");
const dateOf = (random: Random) => `2024-${pad(random.int(1, 12))}-${pad(random.int(1, 28))}`;
const timestampOf = (random: Random) =>
  `${dateOf(random)} ${pad(random.int(0, 23))}:${pad(random.int(0, 59))}:${pad(random.int(0, 59))}`;
const cents = (random: Random, max: number) => random.int(0, max * 100) / 100;
const orNull = <T>(random: Random, p: number, value: () => T): T | null =>
  random.chance(p) ? null : value();

export const USER_COUNT = 300;
export const ORDER_COUNT = 600;
export const PRODUCT_COUNT = 80;

/** The tables, generated from `seed`; the same seed gives the same rows. */
export function differentialTables(seed = 20261120): TableDef[] {
  const random = seededRandom(seed);
  const users = Array.from({ length: USER_COUNT }, (_, i) => [
    i + 1,
    random.pick(NAMES),
    orNull(random, 0.1, () => random.pick(COUNTRIES)),
    orNull(random, 0.15, () => random.int(18, 80)),
    dateOf(random),
  ]);
  // Some users have many orders, many have none; some orders point at no user or a missing one.
  const orders = Array.from({ length: ORDER_COUNT }, (_, i) => [
    i + 1,
    random.chance(0.05)
      ? null
      : random.chance(0.05)
        ? USER_COUNT + random.int(1, 10)
        : random.chance(0.4)
          ? random.int(1, 20)
          : random.int(1, USER_COUNT),
    orNull(random, 0.08, () => random.int(1, PRODUCT_COUNT + 5)),
    random.int(1, 5),
    orNull(random, 0.1, () => cents(random, 500)),
    random.pick(STATUSES),
    timestampOf(random),
  ]);
  const products = Array.from({ length: PRODUCT_COUNT }, (_, i) => [
    i + 1,
    `${random.pick(["red", "blue", "Green"])} ${random.pick(["pen", "book", "lamp", "chair"])}`,
    orNull(random, 0.1, () => random.pick(CATEGORIES)),
    cents(random, 200),
  ]);
  // Duplicate codes on purpose: a join on code multiplies rows.
  const countries = [
    ["US", "Americas"],
    ["US", "North America"],
    ["us", "lower-case US"],
    ["DE", "Europe"],
    ["FR", "Europe"],
    ["JP", "Asia"],
    ["XX", "Nowhere"],
    [null, "unknown"],
  ];
  return [
    {
      name: "users",
      placement: "postgres",
      columns: [
        col("id", "int", false),
        col("name", "text", false),
        col("country", "text"),
        col("age", "int"),
        col("signup", "date", false),
      ],
      primaryKey: "id",
      rows: users,
    },
    {
      name: "orders",
      placement: "mysql",
      columns: [
        col("id", "int", false),
        col("user_id", "int"),
        col("product_id", "int"),
        col("qty", "int", false),
        col("total", "decimal"),
        col("status", "text", false),
        col("created_at", "timestamp", false),
      ],
      primaryKey: "id",
      rows: orders,
    },
    {
      name: "products",
      placement: "duckdb",
      columns: [
        col("id", "int", false),
        col("name", "text", false),
        col("category", "text"),
        col("price", "decimal", false),
      ],
      primaryKey: "id",
      rows: products,
    },
    {
      name: "countries",
      placement: "duckdb",
      columns: [col("code", "text"), col("region", "text", false)],
      rows: countries,
    },
    {
      name: "refunds",
      placement: "mysql",
      columns: [
        col("id", "int", false),
        col("order_id", "int"),
        col("amount", "decimal"),
        col("reason", "text"),
      ],
      primaryKey: "id",
      rows: [],
    },
  ];
}

const NATIVE: Record<Placement, Record<ColumnType, string>> = {
  postgres: {
    int: "integer",
    text: "varchar(40)",
    decimal: "decimal(10,2)",
    date: "date",
    timestamp: "timestamp",
  },
  mysql: {
    int: "INT",
    text: "VARCHAR(40)",
    decimal: "DECIMAL(10,2)",
    date: "DATE",
    timestamp: "DATETIME",
  },
  duckdb: {
    int: "INTEGER",
    text: "VARCHAR",
    decimal: "DECIMAL(10,2)",
    date: "DATE",
    timestamp: "TIMESTAMP",
  },
};

function createTableSql(table: TableDef, dialect: Placement): string {
  const columns = table.columns.map(
    (c) => `${c.name} ${NATIVE[dialect][c.type]}${c.nullable ? "" : " NOT NULL"}`,
  );
  if (table.primaryKey) columns.push(`PRIMARY KEY (${table.primaryKey})`);
  return `CREATE TABLE ${table.name} (${columns.join(", ")})`;
}

/** Multi-row inserts of at most `perStatement` rows, with placeholders written by `mark`. */
function insertStatements(
  table: TableDef,
  mark: (index: number) => string,
  perStatement = 100,
): { sql: string; params: (string | number | null)[] }[] {
  const out: { sql: string; params: (string | number | null)[] }[] = [];
  for (let start = 0; start < table.rows.length; start += perStatement) {
    const chunk = table.rows.slice(start, start + perStatement);
    let n = 0;
    const tuples = chunk.map((row) => `(${row.map(() => mark(++n)).join(", ")})`);
    out.push({
      sql: `INSERT INTO ${table.name} (${table.columns.map((c) => c.name).join(", ")}) VALUES ${tuples.join(", ")}`,
      params: chunk.flat(),
    });
  }
  return out;
}

export async function loadPostgres(url: string, tables: TableDef[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const table of tables) {
      await client.query(createTableSql(table, "postgres"));
      for (const s of insertStatements(table, (i) => `$${i}`)) await client.query(s.sql, s.params);
      await client.query(`ANALYZE ${table.name}`);
    }
  } finally {
    await client.end();
  }
}

export async function loadMysql(url: string, tables: TableDef[]): Promise<void> {
  const connection = await mysql.createConnection({ uri: url });
  try {
    for (const table of tables) {
      await connection.query(createTableSql(table, "mysql"));
      for (const s of insertStatements(table, () => "?")) await connection.query(s.sql, s.params);
      await connection.query(`ANALYZE TABLE ${table.name}`);
    }
  } finally {
    await connection.end();
  }
}

/** Writes a DuckDB file and closes it, so the worker can open it afterwards. */
export async function loadDuckDb(path: string, tables: TableDef[]): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  try {
    for (const table of tables) {
      await connection.run(createTableSql(table, "duckdb"));
      for (const s of insertStatements(table, (i) => `$${i}`))
        await connection.run(s.sql, s.params);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

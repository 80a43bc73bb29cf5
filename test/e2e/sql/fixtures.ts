/**
 * The differential suite's tables: a few hundred rows with NULLs, duplicate and dangling join
 * keys, text that differs only in case or in trailing blanks (which a case-insensitive, PAD SPACE
 * MariaDB collation would wrongly match if a text predicate were pushed down), `char(n)` columns
 * next to `varchar(n)` and `text` ones, a quote in a name, and one empty table. The same rows are
 * written to every layout (PostgreSQL, MariaDB, DuckDB) and to one PostgreSQL reference database.
 */
import { DuckDBInstance } from "@duckdb/node-api";
import mysql from "mysql2/promise";
import pg from "pg";
import { type Random, seededRandom } from "./random.ts";

export type ColumnType = "int" | "char" | "varchar" | "text" | "decimal" | "date" | "timestamp";
export type SourceKind = "postgres" | "mysql" | "duckdb";
type Cell = string | number | null;

export interface ColumnDef {
  name: string;
  type: ColumnType;
  nullable: boolean;
  /** The `n` of `char(n)` and `varchar(n)`. */
  length?: number;
}

export interface TableSchema {
  name: string;
  /** Where the table lives in the spread layout. */
  placement: SourceKind;
  columns: ColumnDef[];
  primaryKey?: string;
}

export interface TableDef extends TableSchema {
  rows: Cell[][];
}

const col = (name: string, type: ColumnType, nullable = true, length?: number): ColumnDef => ({
  name,
  type,
  nullable,
  ...(length === undefined ? {} : { length }),
});
const int = (name: string, nullable = true) => col(name, "int", nullable);
const varchar = (name: string, length: number, nullable = true) =>
  col(name, "varchar", nullable, length);
const char = (name: string, length: number, nullable = true) => col(name, "char", nullable, length);

/** Every table, without rows: the generator reads column types from here. */
export const TABLE_SCHEMAS: readonly TableSchema[] = [
  {
    name: "users",
    placement: "postgres",
    columns: [
      int("id", false),
      varchar("name", 40, false),
      varchar("country", 40),
      int("age"),
      col("signup", "date", false),
      char("tag", 8),
    ],
    primaryKey: "id",
  },
  {
    name: "orders",
    placement: "mysql",
    columns: [
      int("id", false),
      int("user_id"),
      int("product_id"),
      int("qty", false),
      col("total", "decimal"),
      varchar("status", 40, false),
      col("created_at", "timestamp", false),
      col("note", "text"),
    ],
    primaryKey: "id",
  },
  {
    name: "products",
    placement: "duckdb",
    columns: [
      int("id", false),
      varchar("name", 40, false),
      varchar("category", 40),
      col("price", "decimal", false),
      char("code", 4),
      varchar("label", 12),
    ],
    primaryKey: "id",
  },
  {
    name: "countries",
    placement: "duckdb",
    columns: [varchar("code", 40), varchar("region", 40, false), varchar("nation", 25)],
  },
  {
    name: "refunds",
    placement: "mysql",
    columns: [int("id", false), int("order_id"), col("amount", "decimal"), col("reason", "text")],
    primaryKey: "id",
  },
  {
    name: "nation",
    placement: "postgres",
    columns: [int("n_nationkey", false), char("n_name", 25), int("n_regionkey")],
    primaryKey: "n_nationkey",
  },
  // Small tables for the positional-parameter reproductions; both sides of each pair in MariaDB.
  { name: "t3", placement: "mysql", columns: [int("a3"), int("e3")] },
  { name: "t7", placement: "mysql", columns: [int("a7"), int("e7")] },
  { name: "t9", placement: "mysql", columns: [int("a9"), int("e9")] },
  { name: "t5", placement: "mysql", columns: [int("a5"), int("c5")] },
];

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
/**
 * Values of the text-like columns. Trailing blanks are insignificant in a `char(n)` column and
 * significant in `varchar(n)` and `text`; case and leading blanks are significant everywhere.
 */
export const CHAR_VALUES = ["a", "a  ", "A", "b", "b ", "ab", "a b", " a", "", "FRANCE"];
export const CODE_VALUES = ["a", "a ", "ab", "b", " a", "B", "", "abcd"];
export const NOTE_VALUES = ["a", "a ", "a  ", "A", "b", "b ", "ab", " a", "", "FRANCE "];
export const LABEL_VALUES = ["a", "a ", "A", "b ", "ab", "ab ", " a", "", "books "];

/** TPC-H's nations, and a few more whose names differ from one only in case or blanks. */
const NATIONS: [string | null, number | null][] = [
  ["ALGERIA", 0],
  ["ARGENTINA", 1],
  ["BRAZIL", 1],
  ["CANADA", 1],
  ["EGYPT", 4],
  ["ETHIOPIA", 0],
  ["FRANCE", 3],
  ["GERMANY", 3],
  ["INDIA", 2],
  ["INDONESIA", 2],
  ["IRAN", 4],
  ["IRAQ", 4],
  ["JAPAN   ", 2],
  ["JORDAN", 4],
  ["KENYA", 0],
  ["MOROCCO", 0],
  ["MOZAMBIQUE", 0],
  ["PERU", 1],
  ["CHINA", 2],
  ["ROMANIA", 3],
  ["SAUDI ARABIA", 4],
  ["VIETNAM", 2],
  ["RUSSIA", 3],
  ["UNITED KINGDOM", 3],
  ["UNITED STATES ", 1],
  ["france", 3],
  [" FRANCE", null],
  [null, 3],
];

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

function userRows(random: Random): Cell[][] {
  return Array.from({ length: USER_COUNT }, (_, i) => [
    i + 1,
    random.pick(NAMES),
    orNull(random, 0.1, () => random.pick(COUNTRIES)),
    orNull(random, 0.15, () => random.int(18, 80)),
    dateOf(random),
    orNull(random, 0.15, () => random.pick(CHAR_VALUES)),
  ]);
}

/** Some users have many orders, many have none; some orders point at no user or a missing one. */
function orderRows(random: Random): Cell[][] {
  return Array.from({ length: ORDER_COUNT }, (_, i) => [
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
    orNull(random, 0.2, () => random.pick(NOTE_VALUES)),
  ]);
}

function productRows(random: Random): Cell[][] {
  return Array.from({ length: PRODUCT_COUNT }, (_, i) => [
    i + 1,
    `${random.pick(["red", "blue", "Green"])} ${random.pick(["pen", "book", "lamp", "chair"])}`,
    orNull(random, 0.1, () => random.pick(CATEGORIES)),
    cents(random, 200),
    orNull(random, 0.1, () => random.pick(CODE_VALUES)),
    orNull(random, 0.1, () => random.pick(LABEL_VALUES)),
  ]);
}

/** Duplicate codes on purpose (a join on code multiplies rows); (region, code) is unique. */
const COUNTRY_ROWS: Cell[][] = [
  ["US", "Americas", "UNITED STATES"],
  ["US", "North America", "UNITED STATES "],
  ["us", "lower-case US", "united states"],
  ["DE", "Europe", "GERMANY"],
  ["FR", "Europe", "FRANCE "],
  ["FR", "France", "FRANCE"],
  ["JP", "Asia", "JAPAN"],
  ["BR", "Americas", " BRAZIL"],
  ["XX", "Nowhere", null],
  [null, "unknown", "france"],
];

/**
 * Rows for the positional-parameter reproductions: `a3 IN (637,591,710,644) AND e7 = 280` keeps
 * 2 × 2 rows, `e9 IN (19, 845, 278) AND c5 = 585` 3 × 2; parameters bound in the wrong order
 * (e.g. 491 for a3, 637 for e7) match other rows.
 */
const REPRODUCTION_ROWS: Record<string, Cell[][]> = {
  t3: [
    [637, 10],
    [591, 20],
    [1, 30],
    [280, 40],
    [491, 50],
    [null, 60],
  ],
  t7: [
    [1, 280],
    [2, 280],
    [3, 491],
    [4, 637],
    [5, null],
  ],
  t9: [
    [1, 19],
    [2, 845],
    [3, 278],
    [4, 37],
    [5, 585],
    [6, null],
  ],
  t5: [
    [1, 585],
    [2, 585],
    [3, 37],
    [4, 19],
    [5, null],
  ],
};

/** The tables with their rows, generated from `seed`; the same seed gives the same rows. */
export function differentialTables(seed = 20261120): TableDef[] {
  const random = seededRandom(seed);
  const rows: Record<string, Cell[][]> = {
    users: userRows(random),
    orders: orderRows(random),
    products: productRows(random),
    countries: COUNTRY_ROWS,
    refunds: [],
    nation: NATIONS.map(([name, region], key) => [key, name, region]),
    ...REPRODUCTION_ROWS,
  };
  return TABLE_SCHEMAS.map((schema) => ({ ...schema, rows: rows[schema.name] ?? [] }));
}

const NATIVE: Record<SourceKind, Record<ColumnType, (length?: number) => string>> = {
  postgres: {
    int: () => "integer",
    char: (n) => `char(${n})`,
    varchar: (n) => `varchar(${n})`,
    text: () => "text",
    decimal: () => "decimal(10,2)",
    date: () => "date",
    timestamp: () => "timestamp",
  },
  mysql: {
    int: () => "INT",
    char: (n) => `CHAR(${n})`,
    varchar: (n) => `VARCHAR(${n})`,
    text: () => "TEXT",
    decimal: () => "DECIMAL(10,2)",
    date: () => "DATE",
    timestamp: () => "DATETIME",
  },
  // DuckDB has no fixed-length type: CHAR(n) is another name for VARCHAR.
  duckdb: {
    int: () => "INTEGER",
    char: () => "VARCHAR",
    varchar: () => "VARCHAR",
    text: () => "VARCHAR",
    decimal: () => "DECIMAL(10,2)",
    date: () => "DATE",
    timestamp: () => "TIMESTAMP",
  },
};

function createTableSql(table: TableDef, kind: SourceKind): string {
  const columns = table.columns.map(
    (c) => `${c.name} ${NATIVE[kind][c.type](c.length)}${c.nullable ? "" : " NOT NULL"}`,
  );
  if (table.primaryKey) columns.push(`PRIMARY KEY (${table.primaryKey})`);
  return `CREATE TABLE ${table.name} (${columns.join(", ")})`;
}

const hasChar = (table: TableSchema) => table.columns.some((c) => c.type === "char");

/** The name of the reference view that holds `table` with its `char(n)` columns unpadded. */
export const withoutCharName = (table: string) => `${table}_without_char`;

/**
 * The reference name for `table`. The engine reads a `char(n)` value as text without its padding
 * and compares it as such (docs/sql-join.md), wherever the table lives and whatever it is
 * compared with; PostgreSQL's own `char(n)` rules differ (a `varchar` compared with it loses its
 * trailing blanks, LIKE sees the padding). So the reference reads such tables through a view
 * where those columns are `varchar`s holding the unpadded values — which is also how DuckDB,
 * having no `char(n)`, holds them.
 */
export function referenceTableName(table: string): string {
  const schema = TABLE_SCHEMAS.find((t) => t.name === table);
  return schema && hasChar(schema) ? withoutCharName(table) : table;
}

/** Rows as DuckDB stores a `char(n)` value: without the blanks PostgreSQL would pad it with. */
function duckDbRows(table: TableDef): Cell[][] {
  const charAt = table.columns.flatMap((c, i) => (c.type === "char" ? [i] : []));
  return table.rows.map((row) =>
    row.map((value, i) =>
      charAt.includes(i) && typeof value === "string" ? value.trimEnd() : value,
    ),
  );
}

function withoutCharViewSql(table: TableSchema): string {
  const columns = table.columns.map((c) =>
    c.type === "char" ? `CAST(rtrim(${c.name}) AS varchar(${c.length})) AS ${c.name}` : c.name,
  );
  return `CREATE VIEW ${withoutCharName(table.name)} AS SELECT ${columns.join(", ")} FROM ${table.name}`;
}

/** Multi-row inserts of at most `perStatement` rows, with placeholders written by `mark`. */
function insertStatements(
  table: TableDef,
  mark: (index: number) => string,
  perStatement = 100,
): { sql: string; params: Cell[] }[] {
  const out: { sql: string; params: Cell[] }[] = [];
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

/**
 * Writes `tables` to a PostgreSQL database; with `referenceViews`, also the views through which
 * the reference reads the tables that a DuckDB source holds without `char(n)`.
 */
export async function loadPostgres(
  url: string,
  tables: TableDef[],
  options: { referenceViews?: boolean } = {},
): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const table of tables) {
      await client.query(createTableSql(table, "postgres"));
      for (const s of insertStatements(table, (i) => `$${i}`)) await client.query(s.sql, s.params);
      await client.query(`ANALYZE ${table.name}`);
      if (options.referenceViews && hasChar(table)) await client.query(withoutCharViewSql(table));
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
      const stored = { ...table, rows: duckDbRows(table) };
      for (const s of insertStatements(stored, (i) => `$${i}`))
        await connection.run(s.sql, s.params);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

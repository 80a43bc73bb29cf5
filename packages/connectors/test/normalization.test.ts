import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, createConnector, type Row, type SourceKind } from "../src/index.ts";
import { openSources, placeholders, readAll, type Sources } from "./support.ts";

/** The same table in each database's own types: one column per engine ValueType. */
const DDL: Record<SourceKind, string> = {
  postgres: `CREATE TABLE all_types (id integer PRIMARY KEY, b boolean, i integer, big bigint,
    d double precision, n numeric(12,3), t varchar(40), dt date, ts timestamp(6), j jsonb,
    bl bytea)`,
  mysql: `CREATE TABLE all_types (id int PRIMARY KEY, b boolean, i int, big bigint, d double,
    n decimal(12,3), t varchar(40), dt date, ts datetime(6), j json, bl varbinary(16))`,
  duckdb: `CREATE TABLE all_types (id integer PRIMARY KEY, b boolean, i integer, big bigint,
    d double, n decimal(12,3), t varchar, dt date, ts timestamp, j json, bl blob)`,
};

const COLUMNS = ["id", "b", "i", "big", "d", "n", "t", "dt", "ts", "j", "bl"];

/** What goes in (timestamps as text, JSON as text: what every driver binds the same way). */
const INPUT: unknown[][] = [
  [
    1,
    true,
    -2147483648,
    9007199254740993n,
    1.5,
    1234.567,
    `Ünïcode 'quoted' "x" \\ ;--`,
    "1999-12-31",
    "2024-02-29 23:59:59.123456",
    JSON.stringify({ a: [1, 2], b: "x" }),
    new Uint8Array([0, 1, 255]),
  ],
  [2, null, null, null, null, null, null, null, null, null, null],
  [
    3,
    false,
    0,
    -9223372036854775808n,
    -0.25,
    -0.001,
    "",
    "1970-01-01",
    "1969-12-31 23:59:59.999999",
    "[]",
    new Uint8Array([]),
  ],
];

/** What comes out, from every source alike. */
const EXPECTED: Row[] = [
  [
    1,
    true,
    -2147483648,
    9007199254740993n,
    1.5,
    "1234.567",
    `Ünïcode 'quoted' "x" \\ ;--`,
    "1999-12-31",
    1709251199123456000n,
    { a: [1, 2], b: "x" },
    new Uint8Array([0, 1, 255]),
  ],
  [2, null, null, null, null, null, null, null, null, null, null],
  [
    3,
    false,
    0,
    -9223372036854775808n,
    -0.25,
    "-0.001",
    "",
    "1970-01-01",
    -1000n,
    [],
    new Uint8Array([]),
  ],
];

const TYPES = [
  "integer",
  "boolean",
  "integer",
  "bigint",
  "double",
  "decimal",
  "text",
  "date",
  "timestamp",
  "json",
  "blob",
];

async function loadAllTypes(connector: Connector): Promise<void> {
  await connector.execute({ sql: DDL[connector.dialect.kind], params: [] });
  for (const row of INPUT) {
    const sql = `INSERT INTO all_types (${COLUMNS.join(", ")}) VALUES (${placeholders(connector, row.length)})`;
    expect(await connector.execute({ sql, params: row })).toBe(1);
  }
}

describe("value normalization across PostgreSQL, MariaDB and DuckDB", () => {
  let sources: Sources;
  beforeAll(async () => {
    sources = await openSources();
    for (const connector of sources.all) await loadAllTypes(connector);
  });
  afterAll(async () => {
    await sources?.stop();
  });

  it.each(["postgres", "mysql", "duckdb"] as const)(
    "%s reads every type back in normal form",
    async (kind) => {
      const { rows, columns } = await readAll(
        sources.byKind[kind],
        `SELECT ${COLUMNS.join(", ")} FROM all_types ORDER BY id`,
      );
      expect(columns.map((c) => c.name)).toEqual(COLUMNS);
      expect(columns.map((c) => c.type)).toEqual(TYPES);
      expect(rows).toEqual(EXPECTED);
      // Blobs are plain Uint8Arrays everywhere, not driver Buffers.
      expect(Object.getPrototypeOf(rows[0]?.[10])).toBe(Uint8Array.prototype);
    },
  );

  it("gives identical rows from all three sources", async () => {
    const sql = `SELECT ${COLUMNS.join(", ")} FROM all_types ORDER BY id`;
    const [pg, my, duck] = await Promise.all(sources.all.map((c) => readAll(c, sql)));
    expect(my?.rows).toEqual(pg?.rows);
    expect(duck?.rows).toEqual(pg?.rows);
  });

  it("lists the table with the same engine types and key in every source", async () => {
    for (const connector of sources.all) {
      const tables = await connector.listTables();
      const table = tables.find((t) => t.name === "all_types");
      expect(table, connector.kind).toBeDefined();
      expect(table?.columns.map((c) => c.name)).toEqual(COLUMNS);
      expect(
        table?.columns.map((c) => c.type),
        connector.kind,
      ).toEqual(TYPES);
      expect(table?.primaryKey).toEqual(["id"]);
      expect(table?.columns[0]?.nullable).toBe(false);
      expect(table?.columns[1]?.nullable).toBe(true);
    }
  });

  it.each(["postgres", "mysql", "duckdb"] as const)(
    "%s reads char(n) without its padding and keeps a varchar's trailing blanks",
    async (kind) => {
      const connector = sources.byKind[kind];
      await connector.execute({
        sql: "CREATE TABLE padded (id integer PRIMARY KEY, c char(8), v varchar(8))",
        params: [],
      });
      const rows = [
        [1, "FRANCE", "x  "],
        [2, null, null],
        [3, "", "  "],
      ];
      for (const row of rows) {
        const sql = `INSERT INTO padded (id, c, v) VALUES (${placeholders(connector, 3)})`;
        await connector.execute({ sql, params: row });
      }
      const read = await readAll(connector, "SELECT id, c, v FROM padded ORDER BY id");
      expect(read.rows).toEqual(rows);
      const table = (await connector.listTables()).find((t) => t.name === "padded");
      // Only PostgreSQL keeps the padding in storage and compares char(n) by its own rules.
      expect(table?.columns.map((c) => c.blankPadded === true)).toEqual([
        false,
        kind === "postgres",
        false,
      ]);
    },
  );

  it("reads the table back from Parquet and CSV files written by DuckDB", async () => {
    const duck = sources.byKind.duckdb;
    const parquet = join(sources.tempDir, "all_types.parquet");
    const csv = join(sources.tempDir, "all_types.csv");
    await duck.execute({ sql: `COPY all_types TO '${parquet}' (FORMAT parquet)`, params: [] });
    await duck.execute({
      sql: `COPY (SELECT id, i, big, d, t, dt, ts FROM all_types ORDER BY id) TO '${csv}' (HEADER)`,
      params: [],
    });
    const files = await createConnector("files", {
      kind: "duckdb",
      files: { points_pq: parquet, points_csv: csv },
    });
    try {
      const fromParquet = await readAll(files, "SELECT * FROM points_pq ORDER BY id");
      expect(fromParquet.columns.map((c) => c.type)).toEqual(TYPES);
      expect(fromParquet.rows).toEqual(EXPECTED);
      // CSV carries no types: DuckDB infers BIGINT for whole numbers, so cast to compare.
      const fromCsv = await readAll(
        files,
        "SELECT id::INTEGER, i::INTEGER, big, d, t, dt, ts FROM points_csv ORDER BY id",
      );
      expect(fromCsv.columns.map((c) => c.type)).toEqual([
        "integer",
        "integer",
        "bigint",
        "double",
        "text",
        "date",
        "timestamp",
      ]);
      expect(fromCsv.rows).toHaveLength(3);
      expect(fromCsv.rows[0]).toEqual([0, 2, 3, 4, 6, 7, 8].map((i) => EXPECTED[0]?.[i]));
      const tables = await files.listTables();
      expect(tables.map((t) => t.name).sort()).toEqual(["points_csv", "points_pq"]);
    } finally {
      await files.close();
    }
  });

  it.each(["postgres", "mysql", "duckdb"] as const)(
    "%s bulk-loads normal-form rows with appendRows",
    async (kind) => {
      const connector = sources.byKind[kind];
      await connector.execute({ sql: DDL[kind].replace("all_types", "appended"), params: [] });
      expect(await connector.appendRows("appended", COLUMNS, EXPECTED)).toBe(EXPECTED.length);
      // A subset of columns, in another order: the rest take their defaults (NULL).
      const more = EXPECTED.map((row) => [Number(row[0]) + 10, row[8], row[6]]);
      await connector.appendRows("appended", ["id", "ts", "t"], more);
      const { rows } = await readAll(
        connector,
        `SELECT ${COLUMNS.join(", ")} FROM appended ORDER BY id`,
      );
      expect(rows.slice(0, 3)).toEqual(EXPECTED);
      expect(rows.slice(3).map((row) => [row[0], row[8], row[6], row[2]])).toEqual(
        more.map((row) => [...row, null]),
      );
      const error = await connector.appendRows("appended", ["nope"], [[1]]).catch((e) => e);
      expect(error.code).toBe("NOT_FOUND");
    },
  );

  it("binds bigints, doubles and timestamps text as parameters that compare exactly", async () => {
    for (const connector of sources.all) {
      const p = (i: number) => connector.dialect.placeholder(i);
      const { rows } = await readAll(
        connector,
        `SELECT id FROM all_types WHERE big = ${p(1)} OR d = ${p(2)} ORDER BY id`,
        [9007199254740993n, -0.25],
      );
      expect(rows, connector.kind).toEqual([[1], [3]]);
    }
  });

  it("compares timestamp columns with timestamps bound as text", async () => {
    for (const connector of sources.all) {
      const p = (i: number) => connector.dialect.placeholder(i);
      const { rows } = await readAll(
        connector,
        `SELECT id FROM all_types WHERE ts >= ${p(1)} AND ts < ${p(2)} ORDER BY id`,
        ["2024-02-29 23:59:59.123456", "2024-03-01 00:00:00"],
      );
      expect(rows, connector.kind).toEqual([[1]]);
    }
  });

  it("reads zoned timestamps as the same UTC instant", async () => {
    const ddl: Record<SourceKind, string> = {
      postgres: "CREATE TABLE zoned (ts timestamptz)",
      mysql: "CREATE TABLE zoned (ts timestamp(6) NULL)",
      duckdb: "CREATE TABLE zoned (ts TIMESTAMPTZ)",
    };
    const literal: Record<SourceKind, string> = {
      postgres: "'2024-01-01 05:30:00.25+05:30'",
      mysql: "'2024-01-01 00:00:00.25'",
      duckdb: "'2024-01-01 05:30:00.25+05:30'",
    };
    for (const connector of sources.all) {
      await connector.execute({ sql: ddl[connector.dialect.kind], params: [] });
      await connector.execute({
        sql: `INSERT INTO zoned VALUES (${literal[connector.dialect.kind]})`,
        params: [],
      });
      const { rows, columns } = await readAll(connector, "SELECT ts FROM zoned");
      expect(columns[0]?.type).toBe("timestamp");
      expect(rows, connector.kind).toEqual([[1704067200250000000n]]);
    }
  });
});

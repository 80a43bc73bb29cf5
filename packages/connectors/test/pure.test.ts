import { describe, expect, it } from "vitest";
import { collatedColumns } from "../src/duckdb-collations.ts";
import { shortestFloat32 } from "../src/duckdb-values.ts";
import {
  dateFromDays,
  duckdbDialect,
  mysqlDialect,
  parseDatabaseUrl,
  parseTimestampNs,
  postgresDialect,
  redact,
  sourceConfigSchema,
} from "../src/index.ts";
import { insertStatements, timestampText } from "../src/insert.ts";

describe("timestamp text to nanoseconds", () => {
  it("reads PostgreSQL and MySQL output forms exactly, offsets included", () => {
    expect(parseTimestampNs("1970-01-01 00:00:00")).toBe(0n);
    expect(parseTimestampNs("2024-02-29 23:59:59.123456")).toBe(1709251199123456000n);
    expect(parseTimestampNs("2024-02-29T23:59:59.123456789Z")).toBe(1709251199123456789n);
    expect(parseTimestampNs("2024-01-01 05:30:00+05:30")).toBe(1704067200000000000n);
    expect(parseTimestampNs("2023-12-31 19:00:00-05")).toBe(1704067200000000000n);
    expect(parseTimestampNs("1969-12-31 23:59:59.999999")).toBe(-1000n);
    expect(parseTimestampNs("0050-03-01 00:00:00")).toBe(-60_584_198_400_000_000_000n);
    expect(parseTimestampNs("0001-01-01 00:00:00 BC")).toBe(-62_167_219_200_000_000_000n);
    expect(parseTimestampNs("infinity")).toBeUndefined();
  });

  it("writes timestamps back as UTC text at microsecond precision", () => {
    expect(timestampText(0n)).toBe("1970-01-01 00:00:00.000000");
    expect(timestampText(1709251199123456789n)).toBe("2024-02-29 23:59:59.123456");
    expect(timestampText(-1000n)).toBe("1969-12-31 23:59:59.999999");
    expect(timestampText(-1n)).toBe("1969-12-31 23:59:59.999999");
    for (const ns of [1709251199123456000n, -86_400_000_000_000n, 1_000n]) {
      expect(parseTimestampNs(timestampText(ns))).toBe(ns);
    }
  });

  it("formats DuckDB day numbers as dates", () => {
    expect(dateFromDays(0)).toBe("1970-01-01");
    expect(dateFromDays(-1)).toBe("1969-12-31");
    expect(dateFromDays(19_782)).toBe("2024-02-29");
  });
});

describe("DuckDB column collations from a table's CREATE text", () => {
  it("finds the columns declared with a collation other than by code point", () => {
    const sql = `CREATE TABLE "odd table"(a VARCHAR COLLATE NOCASE, b VARCHAR DEFAULT('COLLATE NOCASE'),
      "c, ""d""" VARCHAR COLLATE nocase.noaccent NOT NULL, e VARCHAR COLLATE "C", f VARCHAR COLLATE de_de,
      g DECIMAL(10,2), h STRUCT(x VARCHAR COLLATE NOCASE), i VARCHAR COLLATE C NOT NULL,
      j VARCHAR COLLATE POSIX DEFAULT('x'), k VARCHAR GENERATED ALWAYS AS(a) VIRTUAL,
      CHECK((b <> 'x COLLATE y')), PRIMARY KEY(a));`;
    expect([...collatedColumns(sql)]).toEqual(["a", 'c, "d"', "f", "k"]);
    expect([...collatedColumns("CREATE TABLE t(a VARCHAR, b INTEGER);")]).toEqual([]);
  });
});

describe("32-bit floats", () => {
  it("read as the shortest decimal PostgreSQL and MySQL would print", () => {
    expect(shortestFloat32(Math.fround(1.1))).toBe(1.1);
    expect(shortestFloat32(Math.fround(-0.3))).toBe(-0.3);
    expect(shortestFloat32(Math.fround(16777217))).toBe(16777216);
    expect(shortestFloat32(Math.fround(3.4028234663852886e38))).toBe(3.4028235e38);
    expect(shortestFloat32(Number.NaN)).toBeNaN();
  });

  it("as PostgreSQL prints them at a power of two, midway between two decimals, or on a bound", () => {
    // A lopsided interval: a decimal past the nearest one reads back.
    expect(shortestFloat32(2 ** -96)).toBe(1.2621775e-29);
    expect(shortestFloat32(-(2 ** 87))).toBe(-1.5474251e26);
    // Midway: the even last digit.
    expect(shortestFloat32(2 ** -12)).toBe(0.00024414062);
    expect(shortestFloat32(2113783.25)).toBe(2113783.2);
    // 50736670 lies on the bound between this float and the next: not taken.
    expect(shortestFloat32(50736672)).toBe(50736672);
  });
});

describe("dialects", () => {
  it("quote identifiers, doubling embedded quote characters", () => {
    expect(postgresDialect.quoteIdentifier('a"b')).toBe('"a""b"');
    expect(duckdbDialect.quoteIdentifier("Mixed Case")).toBe('"Mixed Case"');
    expect(mysqlDialect.quoteIdentifier("a`b")).toBe("`a``b`");
    expect(mysqlDialect.quoteIdentifier('a"b')).toBe('`a"b`');
  });

  it("number placeholders the way each driver binds them", () => {
    expect(postgresDialect.placeholder(3)).toBe("$3");
    expect(duckdbDialect.placeholder(1)).toBe("$1");
    expect(mysqlDialect.placeholder(7)).toBe("?");
  });
});

describe("multi-row inserts", () => {
  it("split rows to stay under the parameter limit and convert normal-form values", () => {
    const rows = Array.from({ length: 5 }, (_, i) => [i, BigInt(i) * 1_000_000_000n, { n: i }]);
    const statements = insertStatements(
      postgresDialect,
      '"t"',
      ["id", "ts", "doc"],
      ["integer", "timestamp", "json"],
      rows,
      7,
    );
    expect(statements.map((s) => s.params.length)).toEqual([6, 6, 3]);
    expect(statements[0]?.sql).toBe(
      'INSERT INTO "t" ("id", "ts", "doc") VALUES ($1, $2, $3), ($4, $5, $6)',
    );
    expect(statements[0]?.params).toEqual([
      0,
      "1970-01-01 00:00:00.000000",
      '{"n":0}',
      1,
      "1970-01-01 00:00:01.000000",
      '{"n":1}',
    ]);
  });
});

describe("source config", () => {
  it("accepts each kind and names what is wrong otherwise", () => {
    expect(
      sourceConfigSchema.parse({ kind: "postgres", url: "postgres://u@h:5433/db", poolSize: 4 }),
    ).toEqual({ kind: "postgres", url: "postgres://u@h:5433/db", poolSize: 4 });
    expect(sourceConfigSchema.parse({ kind: "duckdb", files: { points: "/d/*.parquet" } })).toEqual(
      { kind: "duckdb", files: { points: "/d/*.parquet" } },
    );
    const wrongScheme = sourceConfigSchema.safeParse({ kind: "mysql", url: "postgres://h/db" });
    expect(wrongScheme.error?.issues[0]?.message).toBe(
      "url must look like mysql://user@host:3306/database",
    );
    const badPool = sourceConfigSchema.safeParse({
      kind: "postgres",
      url: "postgres://h/d",
      poolSize: 0,
    });
    expect(badPool.error?.issues[0]?.message).toBe("poolSize must be at least 1");
    const badView = sourceConfigSchema.safeParse({ kind: "duckdb", files: { "a-b": "x.csv" } });
    expect(badView.error?.issues[0]?.message).toBe("file view names must be plain identifiers");
  });

  it("parses database URLs with credentials, IPv6 hosts and default ports", () => {
    expect(parseDatabaseUrl("s", "mysql://root@127.0.0.1:3306/db", ["mysql"], 3306)).toEqual({
      host: "127.0.0.1",
      port: 3306,
      user: "root",
      password: undefined,
      database: "db",
      params: {},
    });
    expect(
      parseDatabaseUrl("s", "mysql://us%40er:p%2Fw@[::1]/my%20db?ssl=true", ["mysql"], 3306),
    ).toEqual({
      host: "::1",
      port: 3306,
      user: "us@er",
      password: "p/w",
      database: "my db",
      params: { ssl: "true" },
    });
    expect(() => parseDatabaseUrl("orders", "not a url", ["mysql"], 3306)).toThrow(
      /source "orders": "not a url" is not a URL/,
    );
    expect(redact("postgres://u:secret@h/db")).toBe("postgres://u:***@h/db");
  });
});

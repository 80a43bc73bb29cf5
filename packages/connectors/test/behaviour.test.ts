import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EntenteError } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connector, createConnector, type SourceKind } from "../src/index.ts";
import { openSources, readAll, type Sources } from "./support.ts";

const KINDS = ["postgres", "mysql", "duckdb"] as const;

/** 1..n as `g` (integer) and its text `s`, in each dialect. */
function series(kind: SourceKind, n: number): string {
  switch (kind) {
    case "postgres":
      return `SELECT g, g::text AS s FROM generate_series(1, ${n}) AS g ORDER BY g`;
    case "mysql":
      // MariaDB's Sequence engine (seq_1_to_N) yields BIGINT UNSIGNED.
      return `SELECT CAST(seq AS INTEGER) AS g, CAST(seq AS CHAR) AS s FROM seq_1_to_${n} ORDER BY g`;
    case "duckdb":
      return `SELECT range::INTEGER AS g, range::VARCHAR AS s FROM range(1, ${n + 1}) ORDER BY g`;
  }
}

/** A statement that runs far longer than any test waits. */
function slow(kind: SourceKind): string {
  switch (kind) {
    case "postgres":
      return "SELECT pg_sleep(60)";
    case "mysql":
      return "SELECT SLEEP(60)";
    case "duckdb":
      return "SELECT count(*) FROM range(100000000) a, range(100000) b WHERE a.range + b.range = -1";
  }
}

async function failureOf(promise: Promise<unknown>): Promise<EntenteError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    return err as EntenteError;
  }
  throw new Error("expected a failure");
}

describe.each(KINDS)("%s connector", (kind) => {
  let sources: Sources;
  let connector: Connector;
  beforeAll(async () => {
    sources = await openSources();
    connector = sources.byKind[kind];
    await connector.execute({
      sql: "CREATE TABLE people (id integer PRIMARY KEY, name varchar(100) NOT NULL, team integer)",
      params: [],
    });
    for (let id = 1; id <= 20; id++) {
      const p = (i: number) => connector.dialect.placeholder(i);
      await connector.execute({
        sql: `INSERT INTO people (id, name, team) VALUES (${p(1)}, ${p(2)}, ${p(3)})`,
        params: [id, `person ${id}`, id % 4],
      });
    }
  });
  afterAll(async () => {
    await sources?.stop();
  });

  it("matches injection-looking parameters literally", async () => {
    const p = connector.dialect.placeholder(1);
    const hostile = [
      "x' OR '1'='1",
      "x'; DROP TABLE people; --",
      'x" OR "1"="1',
      "x\\' OR 1=1 #",
      "x` OR 1=1",
    ];
    for (const value of hostile) {
      const { rows } = await readAll(connector, `SELECT count(*) FROM people WHERE name = ${p}`, [
        value,
      ]);
      expect(Number(rows[0]?.[0]), value).toBe(0);
      const echoed = await readAll(connector, `SELECT ${p} AS v`, [value]);
      expect(echoed.rows).toEqual([[value]]);
    }
    const { rows } = await readAll(connector, "SELECT count(*) FROM people", []);
    expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("quotes identifiers with embedded quote characters", async () => {
    const q = connector.dialect.quoteIdentifier;
    const odd = kind === "mysql" ? "we`ird" : 'we"ird';
    await connector.execute({ sql: `CREATE TABLE ${q(odd)} (${q("a b")} integer)`, params: [] });
    await connector.execute({ sql: `INSERT INTO ${q(odd)} VALUES (7)`, params: [] });
    const { rows, columns } = await readAll(connector, `SELECT ${q("a b")} FROM ${q(odd)}`);
    expect(columns[0]?.name).toBe("a b");
    expect(rows).toEqual([[7]]);
  });

  it("streams 50,000 rows in batches of the requested size", async () => {
    const { rows, batchSizes, columns } = await readAll(connector, series(kind, 50_000), [], {
      batchRows: 7_000,
    });
    expect(columns.map((c) => c.name)).toEqual(["g", "s"]);
    expect(rows).toHaveLength(50_000);
    expect(batchSizes).toEqual([7_000, 7_000, 7_000, 7_000, 7_000, 7_000, 7_000, 1_000]);
    expect(rows.map((row) => Number(row[0]))).toEqual(
      Array.from({ length: 50_000 }, (_, i) => i + 1),
    );
    expect(rows[49_999]?.[1]).toBe("50000");
  });

  it("answers empty, small and failing statements without keeping a connection", async () => {
    const none = await readAll(connector, "SELECT id FROM people WHERE id < 0");
    expect(none.rows).toEqual([]);
    expect(none.columns.map((c) => c.name)).toEqual(["id"]);
    for (const n of [1, 6, 7, 50]) {
      const { rows, columns, batchSizes } = await readAll(connector, series(kind, n), [], {
        batchRows: 6,
      });
      expect(columns.map((c) => c.name)).toEqual(["g", "s"]);
      expect(rows.map((row) => Number(row[0]))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(batchSizes.every((size) => size <= 6)).toBe(true);
    }
    // More than pooled connections, each kind of answer: a leak would hang here.
    for (let i = 0; i < 10; i++) {
      await readAll(connector, series(kind, i % 2 === 0 ? 3 : 30), [], { batchRows: 6 });
      await failureOf(readAll(connector, "SELECT * FROM no_such_table"));
    }
    const { rows } = await readAll(connector, "SELECT count(*) FROM people");
    expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("releases the connection when the reader stops early", async () => {
    // More early stops than pooled connections: a leak would hang here. Some stop after the
    // whole result has arrived and waits unread.
    for (let i = 0; i < 10; i++) {
      const result = await connector.query(
        { sql: series(kind, 500), params: [] },
        { batchRows: 50 },
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
      for await (const batch of result.batches) {
        expect(batch).toHaveLength(50);
        break;
      }
    }
    for (let i = 0; i < 10; i++) {
      const result = await connector.query(
        { sql: series(kind, 50_000), params: [] },
        { batchRows: 100 },
      );
      for await (const batch of result.batches) {
        expect(batch).toHaveLength(100);
        break;
      }
    }
    const { rows } = await readAll(connector, "SELECT count(*) FROM people");
    expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("cancels a long statement on abort and stays usable", async () => {
    const controller = new AbortController();
    const running = readAll(connector, slow(kind), [], { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const error = await failureOf(running);
    expect(error.code).toBe("CANCELLED");
    expect(error.message).toContain(connector.name);
    // Every pooled connection still works afterwards.
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => readAll(connector, "SELECT count(*) FROM people")),
    );
    for (const { rows } of answers) expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("cancels a statement aborted around the moment it starts", async () => {
    for (const delayMs of [0, 2, 10, 40]) {
      const controller = new AbortController();
      const running = readAll(connector, slow(kind), [], { signal: controller.signal });
      setTimeout(() => controller.abort(), delayMs);
      expect((await failureOf(running)).code, `abort after ${delayMs} ms`).toBe("CANCELLED");
    }
    const { rows } = await readAll(connector, "SELECT count(*) FROM people");
    expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("cancels a statement aborted while its rows are being read", async () => {
    const controller = new AbortController();
    const result = await connector.query(
      { sql: series(kind, 50_000), params: [] },
      { batchRows: 1_000, signal: controller.signal },
    );
    const reading = (async () => {
      let batches = 0;
      for await (const _ of result.batches) {
        batches++;
        if (batches === 2) controller.abort();
      }
    })();
    expect((await failureOf(reading)).code).toBe("CANCELLED");
    const { rows } = await readAll(connector, "SELECT count(*) FROM people");
    expect(Number(rows[0]?.[0])).toBe(20);
  });

  it("rejects an already aborted signal without running anything", async () => {
    const error = await failureOf(
      connector.query({ sql: "SELECT 1", params: [] }, { signal: AbortSignal.abort() }),
    );
    expect(error.code).toBe("CANCELLED");
  });

  it("names the source in syntax and unknown-table errors", async () => {
    const syntax = await failureOf(readAll(connector, "SELEC nonsense FROM"));
    expect(syntax.code).toBe("BAD_REQUEST");
    expect(syntax.retryable).toBe(false);
    expect(syntax.message).toContain(`source "${connector.name}" (${kind})`);
    const missing = await failureOf(readAll(connector, "SELECT * FROM no_such_table"));
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.retryable).toBe(false);
    expect(missing.message).toContain(`source "${connector.name}"`);
    const stats = await failureOf(connector.tableStats("nowhere", "no_such_table"));
    expect(stats.code).toBe("NOT_FOUND");
    // The connector still answers after failures.
    await connector.ping();
  });

  it("lists tables with columns and keys, and gives their statistics", async () => {
    const tables = await connector.listTables();
    const people = tables.find((t) => t.name === "people");
    expect(people?.columns.map((c) => [c.name, c.type, c.nullable])).toEqual([
      ["id", "integer", false],
      ["name", "text", false],
      ["team", "integer", true],
    ]);
    expect(people?.primaryKey).toEqual(["id"]);
    const schema = people?.schema ?? "";
    if (kind === "postgres") {
      await connector.execute({ sql: "ANALYZE people", params: [] });
    }
    if (kind === "mysql") await connector.execute({ sql: "ANALYZE TABLE people", params: [] });
    const stats = await connector.tableStats(schema, "people");
    expect(stats.rowCount).toBe(20);
    expect(stats.source).not.toBe("");
    if (kind === "postgres") expect(stats.distinct).toMatchObject({ id: 20, team: 4 });
    if (kind === "mysql") expect(stats.distinct.id).toBe(20);
    // DuckDB's column statistics estimate (HyperLogLog): near, not exact.
    if (kind === "duckdb") {
      expect(stats.distinct.id).toBeGreaterThan(15);
      expect(stats.distinct.team).toBeLessThan(8);
    }
  });

  it("declares text comparison from the database's collation", async () => {
    const expected: Record<SourceKind, string> = {
      postgres: "",
      mysql: "case-insensitive",
      duckdb: "binary",
    };
    if (kind === "postgres") {
      const { rows } = await readAll(
        connector,
        "SELECT datcollate FROM pg_database WHERE datname = current_database()",
      );
      expected.postgres = /^(C|POSIX)/.test(String(rows[0]?.[0]))
        ? "binary"
        : "case-sensitive-locale";
    }
    expect(connector.capabilities.textComparison).toBe(expected[kind]);
    expect(connector.capabilities.orderByNullsOrdering).toBe(kind !== "mysql");
  });

  it("reports affected rows from execute", async () => {
    const p = connector.dialect.placeholder(1);
    const n = await connector.execute({
      sql: `UPDATE people SET team = team WHERE id <= ${p}`,
      params: [5],
    });
    // Matched rows everywhere (mysql2 asks MariaDB for found rows, not changed rows).
    expect(n).toBe(5);
  });
});

describe("connector catalogs", () => {
  let sources: Sources;
  beforeAll(async () => {
    sources = await openSources();
  });
  afterAll(async () => {
    await sources?.stop();
  });

  it("refuses several statements in one text, with or without parameters", async () => {
    const connector = sources.byKind.postgres;
    for (const params of [[], [1]]) {
      const error = await failureOf(
        readAll(connector, "SELECT 1 AS a; SELECT 'x' AS b, 'y' AS c", params),
      );
      expect(error.message).toMatch(/multiple commands/);
    }
    const { rows } = await readAll(connector, "SELECT 1 AS a");
    expect(rows).toEqual([[1]]);
  });

  it("lists no key for a table with inheritance children, and how text columns compare", async () => {
    const connector = sources.byKind.postgres;
    for (const sql of [
      "CREATE TABLE parent_rows (id integer PRIMARY KEY, note text)",
      "CREATE TABLE child_rows (extra integer) INHERITS (parent_rows)",
      "CREATE TYPE shade AS ENUM ('dark', 'light')",
      `CREATE TABLE compared (s shade, m money, icu text COLLATE "und-x-icu", c text COLLATE "C", plain text, u uuid)`,
    ]) {
      await connector.execute({ sql, params: [] });
    }
    const tables = await connector.listTables();
    // A SELECT of the parent reads its children's rows too, whose ids its key does not cover.
    expect(tables.find((t) => t.name === "parent_rows")?.primaryKey).toEqual([]);
    expect(tables.find((t) => t.name === "compared")?.columns.map((c) => c.textCompare)).toEqual([
      "cast",
      "cast",
      "collate",
      undefined,
      undefined,
      "uuid",
    ]);
  });

  it("tells how DuckDB's text columns compare: enums, uuids and collations of their own", async () => {
    const connector = sources.byKind.duckdb;
    for (const sql of [
      "CREATE TYPE shade AS ENUM ('dark', 'light')",
      `CREATE TABLE compared (s shade, e ENUM('b', 'a'), u UUID, nocase VARCHAR COLLATE NOCASE,
         "Odd, ""name""" VARCHAR COLLATE nocase.noaccent DEFAULT 'x COLLATE NOCASE', c VARCHAR COLLATE C,
         plain VARCHAR DEFAULT 'COLLATE', CHECK (plain <> 'a, b COLLATE NOCASE'))`,
    ]) {
      await connector.execute({ sql, params: [] });
    }
    const tables = await connector.listTables();
    const columns = tables.find((t) => t.name === "compared")?.columns;
    expect(columns?.map((c) => [c.name, c.textCompare])).toEqual([
      ["s", "cast"],
      ["e", "cast"],
      ["u", "uuid"],
      ["nocase", "collate"],
      ['Odd, "name"', "collate"],
      ["c", undefined],
      ["plain", undefined],
    ]);
  });

  it("finds the collations of a DuckDB view's columns, which its catalog does not say", async () => {
    const connector = sources.byKind.duckdb;
    for (const sql of [
      `CREATE TABLE folded (nocase VARCHAR COLLATE NOCASE, accents VARCHAR COLLATE NOACCENT,
         nfc VARCHAR COLLATE NFC, c VARCHAR COLLATE C, plain VARCHAR, n INTEGER)`,
      `CREATE VIEW "folded view" AS SELECT nocase, upper(nocase) AS shouted,
         nocase::VARCHAR AS recast, nocase COLLATE "C" AS in_c, accents, nfc, c, plain, plain COLLATE NOCASE AS "as asked", n
         FROM folded`,
      // Reads a table since dropped: no longer binds.
      "CREATE TABLE gone (t VARCHAR)",
      "CREATE VIEW stale AS SELECT t FROM gone",
      "DROP TABLE gone",
    ]) {
      await connector.execute({ sql, params: [] });
    }
    // Reads a file since removed.
    const dir = await mkdtemp(join(tmpdir(), "entente-view-"));
    const file = join(dir, "t.parquet");
    await connector.execute({ sql: `COPY (SELECT 'a' AS t) TO '${file}'`, params: [] });
    await connector.execute({
      sql: `CREATE VIEW unread AS SELECT t FROM read_parquet('${file}')`,
      params: [],
    });
    await rm(dir, { recursive: true });
    const tables = await connector.listTables();
    const compare = (name: string) =>
      tables.find((t) => t.name === name)?.columns.map((c) => [c.name, c.textCompare]);
    expect(compare("folded view")).toEqual([
      ["nocase", "collate"],
      ["shouted", "collate"],
      ["recast", "collate"],
      ["in_c", undefined],
      ["accents", "collate"],
      ["nfc", "collate"],
      ["c", undefined],
      ["plain", undefined],
      ["as asked", "collate"],
      ["n", undefined],
    ]);
    expect(compare("stale")).toEqual([["t", "collate"]]);
    expect(compare("unread")).toEqual([["t", "collate"]]);
  });

  it("probes a view with hundreds of text columns in parts", async () => {
    const connector = sources.byKind.duckdb;
    // Every third column NOCASE.
    const names = Array.from({ length: 250 }, (_, i) => `t${i}`);
    const columns = names.map((n, i) => `${n} VARCHAR${i % 3 === 0 ? " COLLATE NOCASE" : ""}`);
    await connector.execute({ sql: `CREATE TABLE wide (${columns.join(", ")})`, params: [] });
    await connector.execute({ sql: "CREATE VIEW wide_view AS SELECT * FROM wide", params: [] });
    const view = (await connector.listTables()).find((t) => t.name === "wide_view");
    expect(view?.columns.map((c) => c.textCompare)).toEqual(
      names.map((_, i) => (i % 3 === 0 ? "collate" : undefined)),
    );
  });

  it("marks 32-bit float columns in every kind", async () => {
    const floats: Record<SourceKind, string> = {
      postgres: "CREATE TABLE floats (f real, d double precision)",
      mysql: "CREATE TABLE floats (f FLOAT, d DOUBLE)",
      duckdb: "CREATE TABLE floats (f FLOAT, d DOUBLE)",
    };
    for (const kind of KINDS) {
      const connector = sources.byKind[kind];
      await connector.execute({ sql: floats[kind], params: [] });
      const table = (await connector.listTables()).find((t) => t.name === "floats");
      expect(
        table?.columns.map((c) => [c.type, c.singlePrecision]),
        kind,
      ).toEqual([
        ["double", true],
        ["double", undefined],
      ]);
    }
  });
});

describe("connection failures", () => {
  it("gives a retryable UNAVAILABLE naming the source for a dead URL", async () => {
    for (const [kind, url] of [
      ["postgres", "postgres://postgres@127.0.0.1:1/nothing"],
      ["mysql", "mysql://root@127.0.0.1:1/nothing"],
    ] as const) {
      const error = await failureOf(createConnector("gone_db", { kind, url }));
      expect(error.code, kind).toBe("UNAVAILABLE");
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(`source "gone_db" (${kind})`);
    }
  });

  it("rejects a bad config with a message naming the source and the field", async () => {
    const error = await failureOf(
      createConnector("bad", { kind: "postgres", url: "http://nope" } as never),
    );
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toMatch(/source "bad": url: /);
    const kindError = await failureOf(createConnector("bad", { kind: "oracle" } as never));
    expect(kindError.message).toContain('kind must be one of "postgres", "mysql", "duckdb"');
  });

  it("survives the server ending pooled connections", async () => {
    const sources = await openSources();
    try {
      const pg = sources.byKind.postgres;
      const my = sources.byKind.mysql;
      // Several idle connections in each pool, then the server ends all of them.
      await Promise.all([1, 2, 3].map(() => readAll(pg, "SELECT 1")));
      await Promise.all([1, 2, 3].map(() => readAll(my, "SELECT 1")));
      const killer = await createConnector("killer", {
        kind: "postgres",
        url: sources.postgresUrl,
      });
      await readAll(
        killer,
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      await killer.close();
      const myKiller = await createConnector("killer", { kind: "mysql", url: sources.mysqlUrl });
      const { rows } = await readAll(
        myKiller,
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
      );
      for (const [id] of rows)
        await myKiller.execute({ sql: `KILL CONNECTION ${Number(id)}`, params: [] });
      await myKiller.close();
      // Queries succeed again once the pools replace what they lost (a first one may fail).
      for (const connector of [pg, my]) {
        let answered = false;
        for (let attempt = 0; attempt < 5 && !answered; attempt++) {
          try {
            const { rows: one } = await readAll(connector, "SELECT 1");
            answered = Number(one[0]?.[0]) === 1;
          } catch (err) {
            expect(err).toBeInstanceOf(EntenteError);
            expect((err as EntenteError).message).toContain(connector.name);
          }
        }
        expect(answered, connector.kind).toBe(true);
      }
    } finally {
      await sources.stop();
    }
  });
});

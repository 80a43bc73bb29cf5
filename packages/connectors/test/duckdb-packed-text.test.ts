/**
 * DuckDB results with several text columns are read as one packed string per row: the rows must
 * be those read column by column, whatever the texts hold.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packedTextSql, unpackText } from "../src/duckdb-packed-text.ts";
import { type Connector, createConnector } from "../src/index.ts";
import { readAll } from "./support.ts";

/** Texts that a packed string's header or an ASCII reading could get wrong. */
const TEXTS = [
  "",
  "N",
  "a,b;c",
  "12,N;",
  "twelve bytes",
  "thirteen byte",
  "é",
  "naïve café, ünïcödé; longer than twelve bytes",
  "中文字符",
  "emoji 😀 and 𝄞 outside the basic plane",
  "x".repeat(5_000),
  " trailing blank ",
  "line\nbreak\ttab",
];

let duck: Connector;

beforeAll(async () => {
  duck = await createConnector("packed", { kind: "duckdb" });
  await duck.execute({
    sql: `CREATE TABLE texts (id INTEGER, a VARCHAR, n INTEGER, b VARCHAR, j JSON, c VARCHAR,
            e ENUM('x', 'y'))`,
    params: [],
  });
  // Every pairing of texts, NULLs among them, in three text columns around other types.
  const values: string[] = [];
  const params: unknown[] = [];
  let id = 0;
  for (const [i, a] of TEXTS.entries()) {
    for (const [k, b] of [...TEXTS, null].entries()) {
      id++;
      const c = id % 4 === 0 ? null : TEXTS[(i + k) % TEXTS.length];
      const at = params.push(id % 7 === 0 ? null : a, b, c);
      values.push(
        `(${id}, $${at - 2}, ${id * 3}, $${at - 1}, '{"k": ${id}}', $${at}, '${id % 2 ? "x" : "y"}')`,
      );
    }
  }
  await duck.execute({ sql: `INSERT INTO texts VALUES ${values.join(", ")}`, params });
});

afterAll(async () => {
  await duck?.close();
});

describe("DuckDB text columns read packed", () => {
  it("gives the rows read column by column, in the statement's order", async () => {
    const sql = "SELECT a, id, b, j, c, n, e FROM texts ORDER BY id DESC";
    const packed = await readAll(duck, sql, [], { batchRows: 500 });
    // Few rows expected: read as they are.
    const plain = await readAll(duck, sql, [], { fewRows: true });
    expect(packed.rows.length).toBe(TEXTS.length * (TEXTS.length + 1));
    expect(packed.rows).toEqual(plain.rows);
    expect(packed.columns).toEqual(plain.columns);
    expect(packed.columns.map((c) => c.name)).toEqual(["a", "id", "b", "j", "c", "n", "e"]);
    expect(packed.rows.at(-1)).toEqual([TEXTS[0], 1, TEXTS[0], { k: 1 }, TEXTS[0], 3, "x"]);
    expect(packed.rows.some((r) => r[0] === null && r[2] === null && r[4] === null)).toBe(true);
  });

  it("reads a statement whose columns share a name, with parameters", async () => {
    const sql = "SELECT a AS t, b AS t, c AS t FROM texts WHERE id > $1 ORDER BY id";
    const packed = await readAll(duck, sql, [100]);
    const plain = await readAll(duck, sql, [100], { fewRows: true });
    expect(packed.rows).toEqual(plain.rows);
    expect(packed.rows.length).toBe(TEXTS.length * (TEXTS.length + 1) - 100);
  });

  it("reads a statement as it is where a column's type waits for its parameter", async () => {
    const bare = await readAll(duck, "SELECT $1 AS p, $2 AS q", ["x, y", "é;"]);
    expect(bare.rows).toEqual([["x, y", "é;"]]);
    const mixed = await readAll(duck, "SELECT a, b, $1 AS p FROM texts WHERE id = 1", ["z"]);
    expect(mixed.rows).toEqual([["", "", "z"]]);
  });

  it("unpacks lengths in UTF-8 bytes, NULLs, and texts that look like the header", () => {
    const row: unknown[] = [];
    // 'é' is 2 bytes, '😀' 4 bytes in two string positions.
    unpackText("2,N,0,4,3;é😀a;b", [3, 0, 1, 2, 4], row);
    expect(row).toEqual([null, "", "😀", "é", "a;b"]);
    expect(packedTextSql("SELECT 1, 'a', 'b'", { width: 3, plain: [0], text: [1, 2] })).toBe(
      `SELECT "c0", concat(coalesce(CAST(strlen("c1") AS VARCHAR), 'N'), ',', ` +
        `coalesce(CAST(strlen("c2") AS VARCHAR), 'N'), ';', "c1", "c2") ` +
        `FROM (SELECT 1, 'a', 'b') AS entente_packed ("c0", "c1", "c2")`,
    );
  });
});

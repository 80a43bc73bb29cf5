/** The pure parts of `entente.data.put`: the table, the rows, the split by owner, the statements. */
import { EntenteError, encodeId } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  byColumnSet,
  checkRows,
  mergeWrites,
  splitRowsByRegion,
  upsertStatement,
  writableTableOf,
} from "../src/data-put.ts";

const table = { name: "people", table: "db.public.people", id: "id" };
const known = ["id", "name", "score"];

function refusal(fn: () => unknown): EntenteError {
  try {
    fn();
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("writableTableOf", () => {
  const tables = {
    people: { table: "db.public.people", id: "id", writable: true },
    readonly: { table: "db.public.people", id: "id" },
    plain: "db.public.people",
  };

  it("finds a writable table", () => {
    expect(writableTableOf(tables, "people")).toEqual(table);
  });

  it("refuses unknown, id-less and read-only tables by name", () => {
    expect(refusal(() => writableTableOf(tables, "x")).message).toMatch(
      /unknown table "x".*people/,
    );
    expect(refusal(() => writableTableOf(tables, "plain")).message).toMatch(/no id column/);
    expect(refusal(() => writableTableOf(tables, "readonly")).message).toMatch(
      /tables\.readonly\.writable: true/,
    );
  });
});

describe("checkRows", () => {
  it("reads ids in any lossless form; a later row with the same id wins", () => {
    const id = encodeId(2, 7);
    const rows = checkRows(table, known, [
      { id: String(id), name: "a" },
      { id: Number(encodeId(1, 1)), score: 3 },
      { id: String(id), name: "b", score: { nested: [1] } },
    ]);
    expect(rows).toEqual([
      { id: encodeId(1, 1), columns: ["id", "score"], values: [String(encodeId(1, 1)), 3] },
      { id, columns: ["id", "name", "score"], values: [String(id), "b", '{"nested":[1]}'] },
    ]);
  });

  it("names the row and what is wrong with it", () => {
    expect(refusal(() => checkRows(table, known, [{ name: "x" }])).message).toMatch(
      /rows\[0\].*"id".*missing/,
    );
    expect(
      refusal(() => checkRows(table, known, [{ id: String(encodeId(1, 1)) }, { id: "-4" }]))
        .message,
    ).toMatch(/rows\[1\]\.id: id -4 is out of range/);
    expect(
      refusal(() => checkRows(table, known, [{ id: String(encodeId(1, 1)), age: 3 }])).message,
    ).toMatch(/rows\[0\]: "age" not in people/);
  });
});

describe("splitting and grouping", () => {
  const rows = checkRows(table, known, [
    { id: String(encodeId(3, 1)), name: "c" },
    { id: String(encodeId(2, 1)), name: "b" },
    { id: String(encodeId(3, 2)), score: 1, name: "d" },
    { id: String(encodeId(3, 3)), name: "e", score: 2 },
  ]);

  it("puts this region's rows first, then the others by region", () => {
    expect(splitRowsByRegion(rows, 2).map((g) => [g.region, g.from, g.rows.length])).toEqual([
      [2, "local", 1],
      [3, "owner", 3],
    ]);
  });

  it("groups rows naming the same columns, in one column order", () => {
    const groups = byColumnSet(rows.filter((r) => r.id >> 48n === 3n));
    expect(groups.map((g) => g.map((r) => r.columns))).toEqual([
      [["id", "name"]],
      [
        ["id", "score", "name"],
        ["id", "score", "name"],
      ],
    ]);
    expect(groups[1]?.[1]?.values).toEqual([String(encodeId(3, 3)), 2, "e"]);
  });
});

describe("upsertStatement", () => {
  const pg = {
    kind: "postgres" as const,
    quoteIdentifier: (n: string) => `"${n}"`,
    placeholder: (i: number) => `$${i}`,
  };
  const my = {
    kind: "mysql" as const,
    quoteIdentifier: (n: string) => `\`${n}\``,
    placeholder: () => "?",
  };

  it("writes PostgreSQL and DuckDB with ON CONFLICT on the id", () => {
    expect(upsertStatement(pg, ["public", "people"], "id", ["id", "name"], 2)).toBe(
      `INSERT INTO "public"."people" ("id", "name") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name"`,
    );
    expect(upsertStatement(pg, ["people"], "id", ["id"], 1)).toBe(
      `INSERT INTO "people" ("id") VALUES ($1) ON CONFLICT ("id") DO NOTHING`,
    );
  });

  it("writes MySQL and MariaDB with ON DUPLICATE KEY UPDATE", () => {
    expect(upsertStatement(my, ["app", "people"], "id", ["id", "name"], 1)).toBe(
      "INSERT INTO `app`.`people` (`id`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)",
    );
    expect(upsertStatement(my, ["people"], "id", ["id"], 1)).toBe(
      "INSERT INTO `people` (`id`) VALUES (?) ON DUPLICATE KEY UPDATE `id` = VALUES(`id`)",
    );
  });
});

describe("mergeWrites", () => {
  it("names the ids written per region and those of the regions that failed", () => {
    const [a, b] = [encodeId(1, 1), encodeId(2, 1)];
    const reply = mergeWrites([
      { region: 1, from: "local", rows: [], ids: [String(a)] },
      {
        region: 2,
        from: "owner",
        rows: [{ id: b, columns: ["id"], values: [String(b)] }],
        error: { region: 2, code: "UNAVAILABLE", message: "down" },
      },
    ]);
    expect(reply).toEqual({
      written: [{ region: 1, from: "local", ids: [String(a)] }],
      unwritten: [String(b)],
      partial: {
        succeeded: 1,
        total: 2,
        errors: [{ region: 2, code: "UNAVAILABLE", message: "down" }],
      },
    });
  });
});

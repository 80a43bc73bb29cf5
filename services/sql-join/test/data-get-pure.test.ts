/** The pure parts of `entente.data.get`: splitting ids by region and merging the answers. */
import { mysqlDialect, postgresDialect } from "@entente/connectors";
import { type DataGetReply, dataGetRequestSchema, EntenteError, encodeId } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  idTableOf,
  localStatement,
  mergeAnswers,
  ownerAnswer,
  type RegionAnswer,
  rowsById,
  splitByRegion,
} from "../src/data-get.ts";

const a1 = encodeId(1, 1);
const a2 = encodeId(1, 2);
const b1 = encodeId(2, 1);
const b2 = encodeId(2, 2);
const c1 = encodeId(3, 1);

describe("splitByRegion", () => {
  it("groups distinct ids by owner, this region first, in first-seen order", () => {
    expect(splitByRegion([c1, b2, a1, b1, b2, a2, a1], 2)).toEqual([
      { region: 2, from: "local", ids: [b2, b1] },
      { region: 1, from: "owner", ids: [a1, a2] },
      { region: 3, from: "owner", ids: [c1] },
    ]);
  });

  it("has no local group when this region owns none of the ids", () => {
    expect(splitByRegion([c1, a1], 2).map((g) => [g.region, g.from])).toEqual([
      [1, "owner"],
      [3, "owner"],
    ]);
    expect(splitByRegion([], 2)).toEqual([]);
  });
});

describe("mergeAnswers", () => {
  const local: RegionAnswer = {
    region: 1,
    from: "local",
    ids: [a1, a2],
    rows: new Map([[a1.toString(), ["x"]]]),
  };
  const owner: RegionAnswer = {
    region: 2,
    from: "owner",
    ids: [b1],
    rows: new Map([[b1.toString(), ["y"]]]),
  };
  const failed: RegionAnswer = {
    region: 3,
    from: "owner",
    ids: [c1],
    error: { region: 3, code: "DEADLINE_EXCEEDED", message: "no answer in time" },
  };

  it("answers each position in the caller's order, repeated ids at each of theirs", () => {
    const reply = mergeAnswers([b1, a1, a2, b1, a1], ["name"], [local, owner]);
    expect(reply).toEqual({
      columns: ["name"],
      rows: [["y"], ["x"], null, ["y"], ["x"]],
      missing: [a2.toString()],
      unanswered: [],
      served: [
        { region: 1, ids: 2, from: "local" },
        { region: 2, ids: 1, from: "owner" },
      ],
    });
    expect(reply.partial).toBeUndefined();
  });

  it("tells missing ids from unanswered ones and names the failed region", () => {
    const reply = mergeAnswers([c1, a2, c1, b1], ["name"], [local, owner, failed]);
    expect(reply.rows).toEqual([null, null, null, ["y"]]);
    expect(reply.missing).toEqual([a2.toString()]);
    expect(reply.unanswered).toEqual([c1.toString()]);
    expect(reply.served.map((s) => s.region)).toEqual([1, 2]);
    expect(reply.partial).toEqual({
      succeeded: 2,
      total: 3,
      errors: [{ region: 3, code: "DEADLINE_EXCEEDED", message: "no answer in time" }],
    });
  });

  it("answers one region's ids from its replicas and from the owner, each id from its own group", () => {
    const replica: RegionAnswer = {
      region: 2,
      from: "replica",
      ids: [b1],
      rows: new Map([[b1.toString(), ["held"]]]),
    };
    const rest: RegionAnswer = {
      region: 2,
      from: "owner",
      ids: [b2],
      rows: new Map([[b2.toString(), ["asked"]]]),
    };
    const reply = mergeAnswers([b2, b1, b2], ["name"], [replica, rest]);
    expect(reply.rows).toEqual([["asked"], ["held"], ["asked"]]);
    expect(reply.served).toEqual([
      { region: 2, ids: 1, from: "replica" },
      { region: 2, ids: 1, from: "owner" },
    ]);
    expect(reply.partial).toBeUndefined();
  });
});

describe("rows of a region", () => {
  it("keys local rows by the id read first, in decimal", () => {
    const rows = rowsById([
      [a1, "x", 1],
      [a2.toString(), "y", 2],
    ]);
    expect([...rows]).toEqual([
      [a1.toString(), ["x", 1]],
      [a2.toString(), ["y", 2]],
    ]);
  });

  it("puts an owner's reply in our column order, nulls as absent", () => {
    const reply: DataGetReply = {
      columns: ["b", "a"],
      rows: [[2, 1], null],
      missing: [b2.toString()],
      unanswered: [],
      served: [{ region: 2, ids: 2, from: "local" }],
    };
    const answer = ownerAnswer({ region: 2, from: "owner", ids: [b1, b2] }, ["a", "b"], reply);
    expect("rows" in answer && [...answer.rows]).toEqual([[b1.toString(), [1, 2]]]);
  });

  it("counts an owner whose own read failed, or whose reply does not fit, as failed", () => {
    const group = { region: 2, from: "owner" as const, ids: [b1] };
    const partial: DataGetReply = {
      columns: ["a"],
      rows: [null],
      missing: [],
      unanswered: [b1.toString()],
      served: [],
      partial: {
        succeeded: 0,
        total: 1,
        errors: [{ region: 2, code: "UNAVAILABLE", message: "source down" }],
      },
    };
    expect(ownerAnswer(group, ["a"], partial)).toMatchObject({
      error: { region: 2, code: "UNAVAILABLE" },
    });
    const short: DataGetReply = {
      columns: ["a"],
      rows: [],
      missing: [],
      unanswered: [],
      served: [],
    };
    expect(ownerAnswer(group, ["a"], short)).toMatchObject({ error: { code: "INTERNAL" } });
  });
});

describe("tables and statements", () => {
  const tables = {
    people: { table: "pg.public.people", id: "id" },
    plain: "pg.public.plain",
  };

  it("serves only tables that declare an id column", () => {
    expect(idTableOf(tables, "people")).toEqual({
      name: "people",
      table: "pg.public.people",
      id: "id",
    });
    const unknown = (() => {
      try {
        idTableOf(tables, "nope");
      } catch (err) {
        return err as EntenteError;
      }
    })();
    expect(unknown).toBeInstanceOf(EntenteError);
    expect(unknown?.code).toBe("BAD_REQUEST");
    expect(unknown?.message).toMatch(/unknown table "nope".*people/);
    expect(() => idTableOf(tables, "plain")).toThrow(/declares no id column.*tables\.plain/);
    expect(() => idTableOf(tables, "toString")).toThrow(/unknown table/);
  });

  it("reads with bound parameters in the source's dialect, identifiers quoted", () => {
    expect(localStatement(postgresDialect, ["public", "people"], "id", ["name", 'we"ird'], 3)).toBe(
      'SELECT "id", "name", "we""ird" FROM "public"."people" WHERE "id" IN ($1, $2, $3)',
    );
    expect(localStatement(mysqlDialect, ["shop", "people"], "id", ["na`me"], 2)).toBe(
      "SELECT `id`, `na``me` FROM `shop`.`people` WHERE `id` IN (?, ?)",
    );
  });

  it("refuses ids out of range by their index", () => {
    const parsed = dataGetRequestSchema.safeParse({ table: "people", ids: [String(a1), "5"] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(["ids", 1]);
    expect(parsed.error?.issues[0]?.message).toMatch(/out of range/);
    const ok = dataGetRequestSchema.parse({ table: "people", ids: [String(a1), Number(b1)] });
    expect(ok.ids).toEqual([a1, b1]);
    expect(
      dataGetRequestSchema.safeParse({ table: "t", ids: Array(10_001).fill(String(a1)) }).success,
    ).toBe(false);
  });
});

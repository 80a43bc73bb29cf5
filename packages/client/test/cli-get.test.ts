/** `entente get`'s output: rows found as a table, what was missing or unanswered as notes. Pure. */
import type { DataGetReply } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { columnsArgument, renderDataGet } from "../src/cli/get.ts";

describe("entente get output", () => {
  it("prints the rows found and notes the missing, the unanswered and the failed regions", () => {
    const reply: DataGetReply = {
      columns: ["id", "name"],
      rows: [["281474976710657", "Ada"], null, null],
      missing: ["281474976710658"],
      unanswered: ["844424930131969"],
      served: [{ region: 1, ids: 2, from: "local" }],
      partial: {
        succeeded: 1,
        total: 2,
        errors: [{ region: 3, code: "UNAVAILABLE", message: "region 3 is unreachable" }],
      },
    };
    const { table, notes } = renderDataGet(reply);
    expect(table).toContain("Ada");
    expect(table).toMatch(/\(1 row\)$/);
    expect(notes).toEqual([
      "missing: 281474976710658",
      "unanswered: 844424930131969",
      "partial: 1 of 2 regions answered",
      "  region 3: UNAVAILABLE region 3 is unreachable",
    ]);
  });

  it("has no notes when every id was found", () => {
    const reply: DataGetReply = {
      columns: ["id"],
      rows: [["1"], ["2"]],
      missing: [],
      unanswered: [],
      served: [{ region: 1, ids: 2, from: "local" }],
    };
    expect(renderDataGet(reply).notes).toEqual([]);
    expect(renderDataGet(reply).table).toMatch(/\(2 rows\)$/);
  });

  it("reads --columns, refusing an empty list", () => {
    expect(columnsArgument(" id, name ,")).toEqual(["id", "name"]);
    expect(() => columnsArgument(" , ")).toThrow(/at least one column/);
  });
});

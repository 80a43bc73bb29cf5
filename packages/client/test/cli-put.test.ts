/** `entente put`'s row arguments and output. Pure. */
import type { DataPutReply } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { renderDataPut, rowArgument } from "../src/cli/put.ts";

describe("entente put", () => {
  it("reads each row as a JSON object, naming the one that is not", () => {
    expect(rowArgument('{"id": "281474976710657", "name": "Ada"}', 0)).toEqual({
      id: "281474976710657",
      name: "Ada",
    });
    expect(() => rowArgument("{id: 1}", 1)).toThrow(/row 2 is not JSON/);
    expect(() => rowArgument("[1, 2]", 0)).toThrow(/row 1 is not a JSON object/);
    expect(() => rowArgument("null", 2)).toThrow(/row 3 is not a JSON object/);
  });

  it("prints what each region wrote and notes the regions that failed", () => {
    const reply: DataPutReply = {
      written: [
        { region: 1, from: "local", ids: ["281474976710657"] },
        { region: 2, from: "owner", ids: ["562949953421313", "562949953421314"] },
      ],
      unwritten: ["844424930131969"],
      partial: {
        succeeded: 2,
        total: 3,
        errors: [{ region: 3, code: "UNAVAILABLE", message: "region 3 is unreachable" }],
      },
    };
    expect(renderDataPut(reply)).toEqual({
      lines: ["region 1 (local): wrote 1 row", "region 2 (owner): wrote 2 rows"],
      notes: [
        "unwritten: 844424930131969",
        "partial: 2 of 3 regions wrote their rows",
        "  region 3: UNAVAILABLE region 3 is unreachable",
      ],
    });
  });
});

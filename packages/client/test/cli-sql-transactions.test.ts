/** `entente sql`'s output for transactions: BEGIN, a statements list, an idempotent repeat. Pure. */
import type { SqlResult } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { isTransactionReply, transactionText } from "../src/cli/sql.ts";

const empty: SqlResult = { columns: [], rows: [] };

describe("entente sql with transactions", () => {
  it("prints what each statement did and how the transaction ended", () => {
    const result: SqlResult = {
      ...empty,
      results: [{ affectedRows: 1 }, { affectedRows: 2 }, { columns: [], rows: [[1]] }],
      transaction: {
        id: "ent.1.abc.lz.0",
        outcome: "committed",
        participants: ["bank", "shop"],
        twoPhase: true,
      },
    };
    expect(isTransactionReply(result)).toBe(true);
    expect(transactionText(result, "table")).toBe(
      [
        "1: 1 row affected",
        "2: 2 rows affected",
        "3: 1 row",
        "committed: transaction ent.1.abc.lz.0 (two-phase commit across bank, shop)",
      ].join("\n"),
    );
  });

  it("tells how to continue an open transaction, and when nothing changed", () => {
    const begun: SqlResult = { ...empty, session: { id: "s.abc.x", idleTimeoutMs: 30_000 } };
    expect(transactionText(begun, "table")).toContain("--session s.abc.x");
    const repeat: SqlResult = { ...empty, affectedRows: 0, alreadyApplied: true };
    expect(isTransactionReply(repeat)).toBe(true);
    expect(transactionText(repeat, "table")).toContain("already applied");
    expect(isTransactionReply({ ...empty, affectedRows: 3 })).toBe(false);
  });
});

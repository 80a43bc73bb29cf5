import { describe, expect, it } from "vitest";
import { durationText } from "../src/cli/main.ts";
import { formatTimestamp, numberText, renderTable } from "../src/cli/table.ts";

describe("what the command line prints for a person", () => {
  it("prints doubles to 15 significant digits and integers whole", () => {
    expect(numberText(36.190999999999995)).toBe("36.191");
    expect(numberText(0.1 + 0.2)).toBe("0.3");
    expect(numberText(1e-7)).toBe("1e-7");
    expect(numberText(2 ** 53 + 2)).toBe("9007199254740994");
    expect(renderTable(["n", "b"], [[36.190999999999995, 12345678901234567890n]])).toContain(
      "36.191  12345678901234567890",
    );
  });

  it("prints nanoseconds as RFC 3339", () => {
    expect(formatTimestamp(1_767_229_200_000_000_000n)).toBe("2026-01-01T01:00:00Z");
    expect(formatTimestamp("1767229200000000123")).toBe("2026-01-01T01:00:00.000000123Z");
    expect(formatTimestamp(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
  });

  it("prints an uptime in its two largest units", () => {
    expect(durationText(850)).toBe("850ms");
    expect(durationText(192_000)).toBe("3m12s");
    expect(durationText(3_600_000)).toBe("1h");
    expect(durationText(90_061_000)).toBe("1d1h");
  });
});

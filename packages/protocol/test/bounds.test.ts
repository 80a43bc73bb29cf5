import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  EntenteError,
  echoRequestSchema,
  jsonCodec,
  MAX_LISTED_PROBLEMS,
  MAX_NESTING_DEPTH,
  msgpackCodec,
  msgpackValueEnd,
  NestingTooDeepError,
  parseMessage,
  truncateText,
} from "../src/index.ts";

/** The error a call throws; fails the test if it throws anything else or nothing. */
function errorOf(call: () => unknown): EntenteError {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    return err as EntenteError;
  }
  throw new Error("expected an EntenteError");
}

/** `[[[…]]]` nested `depth` deep, as MessagePack bytes (fixarray of one element, then nil). */
function deepMsgpack(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x91);
  bytes[depth] = 0xc0;
  return bytes;
}

const deepJson = (depth: number) =>
  new TextEncoder().encode(`${"[".repeat(depth)}${"]".repeat(depth)}`);

describe("nesting limits", () => {
  it("answers a body nested 10,000 deep with BAD_REQUEST, in either encoding", () => {
    for (const [codec, bytes] of [
      [msgpackCodec, deepMsgpack(10_000)],
      [jsonCodec, deepJson(10_000)],
      [
        jsonCodec,
        new TextEncoder().encode(`{"payload":${'{"a":'.repeat(10_000)}1${"}".repeat(10_001)}`),
      ],
    ] as const) {
      const error = errorOf(() => codec.decode(bytes));
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.message).toContain(String(MAX_NESTING_DEPTH));
      expect(error.details).toEqual({ maxDepth: MAX_NESTING_DEPTH });
    }
  });

  it("decodes a body nested exactly as deep as allowed", () => {
    expect(() => msgpackCodec.decode(deepMsgpack(MAX_NESTING_DEPTH))).not.toThrow();
    expect(() => jsonCodec.decode(deepJson(MAX_NESTING_DEPTH))).not.toThrow();
    expect(errorOf(() => jsonCodec.decode(deepJson(MAX_NESTING_DEPTH + 1))).code).toBe(
      "BAD_REQUEST",
    );
    expect(errorOf(() => msgpackCodec.decode(deepMsgpack(MAX_NESTING_DEPTH + 1))).code).toBe(
      "BAD_REQUEST",
    );
  });

  it("counts JSON brackets only outside strings", () => {
    const text = JSON.stringify({ s: `\\"${"[".repeat(10_000)}`, t: "{".repeat(500) });
    expect(jsonCodec.decode(new TextEncoder().encode(text))).toEqual(JSON.parse(text));
  });

  it("walks MessagePack nesting without recursion, empty containers included", () => {
    expect(() => msgpackValueEnd(deepMsgpack(100_000), 0, 64)).toThrow(NestingTooDeepError);
    expect(msgpackValueEnd(deepMsgpack(100_000), 0)).toBe(100_001);
    expect(() => msgpackValueEnd(Uint8Array.of(0x91, 0x91, 0x90), 0, 2)).toThrow(
      NestingTooDeepError,
    );
    expect(msgpackValueEnd(Uint8Array.of(0x91, 0x91, 0x90), 0, 3)).toBe(3);
    const wide = msgpackCodec.encode({ a: [1, { b: [2, 3] }], c: "x" });
    expect(msgpackValueEnd(wide, 0, 4)).toBe(wide.length);
  });
});

describe("validation errors of any size", () => {
  it("quotes a prefix of a huge unknown key, marked as cut", () => {
    const key = "k".repeat(900_000);
    const error = errorOf(() => parseMessage(echoRequestSchema, { [key]: 1 }, "echo request"));
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message.length).toBeLessThan(1_000);
    expect(error.message).toMatch(/kkkk… \(\d+ more characters\)/);
  });

  it("lists the first problems and counts the rest", () => {
    const schema = z.object({}).catchall(z.number());
    const value = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`f${i}`, "x"]));
    const error = errorOf(() => parseMessage(schema, value, "wide request"));
    const details = error.details as { problems: unknown[]; omitted: number };
    expect(details.problems).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(details.omitted).toBe(5_000 - MAX_LISTED_PROBLEMS);
    expect(error.message).toContain(`and ${5_000 - MAX_LISTED_PROBLEMS} more`);
    expect(error.message.length).toBeLessThan(10_000);
  });
});

describe("truncateText", () => {
  it("keeps short text and marks what it cuts", () => {
    expect(truncateText("short", 10)).toBe("short");
    expect(truncateText("abcdefghij", 4)).toBe("abcd… (6 more characters)");
  });

  it("never cuts a character in half", () => {
    const cut = truncateText("ab😀cd", 3);
    expect(cut.startsWith("ab…")).toBe(true);
    expect(cut).not.toContain("\ud83d…");
  });
});

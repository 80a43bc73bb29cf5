import { describe, expect, it } from "vitest";
import {
  decodeId,
  EntenteError,
  encodeId,
  formatId,
  idSchema,
  jsonCodec,
  MAX_SEQUENCE,
  msgpackCodec,
  parseId,
  regionOf,
} from "../src/index.ts";

describe("region-aware ids", () => {
  it("puts the region in the top 16 bits and the sequence in the low 48", () => {
    expect(encodeId(1, 0)).toBe(1n << 48n);
    expect(encodeId(0xffff, MAX_SEQUENCE)).toBe(0xffff_ffff_ffff_ffffn);
    expect(decodeId(encodeId(513, 123_456_789_012n))).toEqual({
      region: 513,
      sequence: 123_456_789_012n,
    });
  });

  it("round-trips across the whole range, including values past 2^53", () => {
    const regions = [1, 2, 255, 256, 4096, 65534, 65535];
    const sequences = [0n, 1n, 2n ** 32n, 2n ** 47n, MAX_SEQUENCE - 1n, MAX_SEQUENCE];
    for (const region of regions) {
      for (const sequence of sequences) {
        const id = encodeId(region, sequence);
        expect(regionOf(id)).toBe(region);
        expect(decodeId(id).sequence).toBe(sequence);
        expect(regionOf(formatId(id))).toBe(region);
        expect(parseId(id.toString())).toBe(id);
      }
    }
  });

  it("stays exact through MessagePack (bigint) and JSON (decimal string)", () => {
    const id = encodeId(65535, MAX_SEQUENCE);
    expect(msgpackCodec.decode(msgpackCodec.encode({ id })) as { id: bigint }).toEqual({ id });
    const json = jsonCodec.decode(jsonCodec.encode({ id })) as { id: string };
    expect(json.id).toBe("18446744073709551615");
    expect(idSchema.parse(json.id)).toBe(id);
  });

  it.each([
    ["region 0", () => encodeId(0, 1)],
    ["region 65536", () => encodeId(65536, 1)],
    ["fractional region", () => encodeId(1.5, 1)],
    ["negative sequence", () => encodeId(1, -1n)],
    ["49-bit sequence", () => encodeId(1, MAX_SEQUENCE + 1n)],
    ["id with region 0", () => parseId(5)],
    ["id past 64 bits", () => parseId((1n << 64n).toString())],
    ["unsafe number", () => parseId(2 ** 60)],
    ["not a number", () => parseId("12ab")],
    ["empty string", () => parseId("")],
  ])("rejects %s with a clear error", (_name, attempt) => {
    expect(attempt).toThrow(EntenteError);
    try {
      attempt();
    } catch (err) {
      expect((err as EntenteError).code).toBe("BAD_REQUEST");
      expect((err as EntenteError).message).toMatch(/range|integer|safe/);
    }
  });

  it("reports an invalid id through the schema with the reason", () => {
    const result = idSchema.safeParse("0");
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/out of range/);
  });
});

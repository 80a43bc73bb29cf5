import {
  type Codec,
  EntenteError,
  jsonCodec,
  msgpackCodec,
  msgpackValueEnd,
  TruncatedValueError,
} from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  encodeItem,
  type Frame,
  FrameAssembler,
  FrameBuilder,
  splitItems,
} from "../src/stream/frames.ts";

function frameAll(codec: Codec, values: unknown[], batchBytes: number): Frame[] {
  const builder = new FrameBuilder(batchBytes);
  const frames: Frame[] = [];
  for (const value of values) frames.push(...builder.push(encodeItem(codec, value)));
  frames.push(builder.flush());
  return frames;
}

function deframeAll(codec: Codec, frames: Frame[]): unknown[] {
  const assembler = new FrameAssembler(codec);
  const out: unknown[] = [];
  for (const frame of frames) out.push(...assembler.accept(frame.payload, frame.continued));
  expect(assembler.incomplete).toBe(false);
  return out;
}

/** Values that exercise every MessagePack type family and size class. */
function variedValues(): unknown[] {
  const map16 = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]));
  return [
    null,
    true,
    false,
    0,
    127,
    128,
    -1,
    -32,
    -33,
    255,
    256,
    65535,
    65536,
    -129,
    -32769,
    2 ** 32,
    -(2 ** 40),
    12345678901234567890n,
    -1234567890123n,
    1.5,
    Math.PI,
    "",
    "short",
    "x".repeat(31),
    "x".repeat(32),
    "y".repeat(300),
    "z".repeat(70_000),
    "line\nbreak and ünïcödé ✓",
    new Uint8Array([1, 2, 3]),
    new Uint8Array(300).fill(7),
    new Uint8Array(70_000).fill(9),
    [],
    [1, [2, [3, [4, [5]]]]],
    Array.from({ length: 20 }, (_, i) => i),
    Array.from({ length: 70_000 }, (_, i) => i % 3),
    {},
    { a: 1, b: { c: [1, 2, { d: "e" }] } },
    map16,
    new Date(1_700_000_000_123),
  ];
}

describe("msgpackValueEnd", () => {
  it("finds the end of every kind of value", () => {
    for (const value of variedValues()) {
      const bytes = msgpackCodec.encode(value);
      const padded = new Uint8Array(bytes.length + 3);
      padded.set(bytes, 1);
      expect(msgpackValueEnd(padded, 1), String(value).slice(0, 20)).toBe(bytes.length + 1);
    }
  });

  it("reports truncated values", () => {
    for (const value of [{ a: "hello" }, "y".repeat(300), [1, 2, 3], 2 ** 40]) {
      const bytes = msgpackCodec.encode(value);
      expect(() => msgpackValueEnd(bytes.subarray(0, bytes.length - 1), 0)).toThrow(
        TruncatedValueError,
      );
    }
  });

  it("rejects the byte the format never uses", () => {
    expect(() => msgpackValueEnd(Uint8Array.of(0xc1), 0)).toThrow(/not MessagePack/);
  });

  it("does not recurse on deep nesting", () => {
    const depth = 100_000;
    const bytes = new Uint8Array(depth + 1).fill(0x91); // [[[[…]]]]
    bytes[depth] = 0xc0;
    expect(msgpackValueEnd(bytes, 0)).toBe(depth + 1);
  });
});

describe("FrameBuilder", () => {
  it("packs small items whole, never splitting one that fits in a frame", () => {
    const items = Array.from({ length: 10 }, () => new Uint8Array(30));
    const builder = new FrameBuilder(100);
    const frames = items.flatMap((item) => builder.push(item));
    frames.push(builder.flush());
    expect(frames.map((f) => f.payload.length)).toEqual([90, 90, 90, 30]);
    expect(frames.map((f) => f.items)).toEqual([3, 3, 3, 1]);
    expect(frames.every((f) => !f.continued)).toBe(true);
  });

  it("fills a frame exactly to its limit", () => {
    const builder = new FrameBuilder(100);
    expect(builder.push(new Uint8Array(60))).toEqual([]);
    expect(builder.push(new Uint8Array(40))).toEqual([]);
    const [frame] = builder.push(new Uint8Array(1));
    expect(frame?.payload.length).toBe(100);
    expect(builder.flush().payload.length).toBe(1);
  });

  it("cuts an item larger than a frame across continued frames", () => {
    const builder = new FrameBuilder(100);
    builder.push(new Uint8Array(30).fill(1));
    const big = new Uint8Array(250).fill(2);
    const frames = builder.push(big);
    frames.push(...builder.push(new Uint8Array(10).fill(3)));
    frames.push(builder.flush());
    // 30 + 70 of the big item, then 100, then the last 80 with the small item after it.
    expect(frames.map((f) => [f.payload.length, f.continued, f.items])).toEqual([
      [100, true, 1],
      [100, true, 0],
      [90, false, 2],
    ]);
  });

  it("holds back the last frame so the caller can mark it", () => {
    const builder = new FrameBuilder(100);
    expect(builder.push(new Uint8Array(200))).toHaveLength(1);
    const last = builder.flush();
    expect(last).toMatchObject({ continued: false, items: 1 });
    expect(last.payload.length).toBe(100);
  });

  it("gives one empty frame for an empty stream", () => {
    expect(new FrameBuilder(100).flush()).toEqual({
      payload: new Uint8Array(0),
      continued: false,
      items: 0,
    });
  });

  it("rejects a useless batch size", () => {
    expect(() => new FrameBuilder(0)).toThrow(RangeError);
  });
});

describe("framing round trip", () => {
  for (const codec of [msgpackCodec, jsonCodec]) {
    it(`restores varied items in order (${codec.contentType})`, () => {
      const values = variedValues();
      // Decoded from a plain Uint8Array, as batches are, so binary comes back as Uint8Array.
      const expected = values.map((v) => codec.decode(new Uint8Array(codec.encode(v))));
      for (const batchBytes of [16, 1000, 64 * 1024, 1024 * 1024]) {
        const frames = frameAll(codec, values, batchBytes);
        expect(frames.every((f) => f.payload.length <= batchBytes)).toBe(true);
        expect(frames.reduce((n, f) => n + f.items, 0)).toBe(values.length);
        expect(deframeAll(codec, frames)).toEqual(expected);
      }
    });

    it(`restores many random-sized items (${codec.contentType})`, () => {
      let seed = 42;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const values = Array.from({ length: 500 }, (_, i) => ({
        i,
        text: "abc".repeat(Math.floor(random() * 2000)),
      }));
      const frames = frameAll(codec, values, 4096);
      expect(frames.some((f) => f.continued)).toBe(true);
      expect(frames.every((f) => f.payload.length <= 4096)).toBe(true);
      expect(deframeAll(codec, frames)).toEqual(values);
    });
  }

  it("writes JSON items as newline-terminated texts", () => {
    const frames = frameAll(jsonCodec, [{ a: 1 }, "two", [3]], 1024);
    expect(frames).toHaveLength(1);
    expect(new TextDecoder().decode(frames[0]?.payload)).toBe('{"a":1}\n"two"\n[3]\n');
  });

  it("writes MessagePack items back to back", () => {
    const frames = frameAll(msgpackCodec, [1, "a", null], 1024);
    expect(Array.from(frames[0]?.payload ?? [])).toEqual([0x01, 0xa1, 0x61, 0xc0]);
  });
});

describe("splitItems", () => {
  it("rejects a JSON batch that ends inside a text", () => {
    const bytes = new TextEncoder().encode('{"a":1}\n{"b":');
    expect(() => splitItems(jsonCodec, bytes)).toThrow(EntenteError);
  });

  it("rejects a MessagePack batch that ends inside a value", () => {
    const bytes = msgpackCodec.encode("hello").subarray(0, 3);
    try {
      splitItems(msgpackCodec, bytes);
      expect.unreachable();
    } catch (err) {
      expect((err as EntenteError).code).toBe("MALFORMED");
    }
  });

  it("skips blank JSON lines", () => {
    const items = splitItems(jsonCodec, new TextEncoder().encode("1\n\n2\n"));
    expect(items.map((b) => jsonCodec.decode(b))).toEqual([1, 2]);
  });
});

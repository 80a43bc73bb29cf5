import { describe, expect, it } from "vitest";
import {
  codecFor,
  EntenteError,
  isErrorReply,
  jsonCodec,
  msgpackCodec,
  parseMessage,
  streamRequestSchema,
  toEntenteError,
} from "../src/index.ts";

describe("codec", () => {
  it("picks JSON only for an application/json content type", () => {
    expect(codecFor("application/json")).toBe(jsonCodec);
    expect(codecFor("Application/JSON; charset=utf-8")).toBe(jsonCodec);
    expect(codecFor(undefined)).toBe(msgpackCodec);
    expect(codecFor("application/msgpack")).toBe(msgpackCodec);
  });

  it("round-trips nested values in both encodings", () => {
    const value = { a: [1, 2.5, "x", null, true], b: { c: "ü", d: -7 }, e: 2 ** 40 };
    expect(msgpackCodec.decode(msgpackCodec.encode(value))).toEqual(value);
    expect(jsonCodec.decode(jsonCodec.encode(value))).toEqual(value);
  });

  it("writes plain MessagePack maps that other libraries can read", () => {
    // map16 with one entry "a" -> 1: a standard map, not msgpackr's record extension.
    expect([...msgpackCodec.encode({ a: 1 })]).toEqual([0xde, 0x00, 0x01, 0xa1, 0x61, 0x01]);
  });

  it("writes byte arrays as base64 in JSON, wherever they are", () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const text = new TextDecoder().decode(
      jsonCodec.encode({ data: bytes, nested: [{ buf: Buffer.from("hi") }], top: 1 }),
    );
    const decoded = JSON.parse(text) as { data: string; nested: [{ buf: string }] };
    expect(decoded.data).toBe(Buffer.from(bytes).toString("base64"));
    expect(decoded.nested[0].buf).toBe("aGk=");
    expect(new TextDecoder().decode(jsonCodec.encode(bytes))).toBe(
      `"${Buffer.from(bytes).toString("base64")}"`,
    );
    // A quarter larger than the bytes, not twelve times as an object of indices would be.
    expect(text.length).toBeLessThan(bytes.length * 1.5);
  });

  it.each([
    ["truncated MessagePack", msgpackCodec, new Uint8Array([0x92, 0x01])],
    ["a cut MessagePack string", msgpackCodec, new Uint8Array([0xa5, 0x61])],
    ["broken JSON", jsonCodec, new TextEncoder().encode('{"a":')],
    ["invalid UTF-8", jsonCodec, new Uint8Array([0xff, 0xfe])],
  ])("rejects %s as MALFORMED", (_name, codec, bytes) => {
    try {
      codec.decode(bytes);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EntenteError);
      expect((err as EntenteError).code).toBe("MALFORMED");
    }
  });
});

describe("a JSON body sent as MessagePack", () => {
  it.each([
    ["an object", '{"metric":"cpu_usage"}'],
    ["an array after whitespace", " \n\t[1, 2, 3]"],
    ["a deeply nested object", `{"a":${"[".repeat(40)}${"]".repeat(40)}}`],
  ])("names the JSON content type for %s", (_name, text) => {
    try {
      msgpackCodec.decode(new TextEncoder().encode(text));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EntenteError);
      expect((err as EntenteError).code).toBe("MALFORMED");
      expect((err as EntenteError).message).toContain("content-type: application/json");
    }
  });

  it("gives no JSON hint for other bytes", () => {
    try {
      msgpackCodec.decode(new Uint8Array([0x92, 0x01]));
      expect.unreachable();
    } catch (err) {
      expect((err as EntenteError).message).not.toContain("application/json");
    }
  });
});

describe("validation and errors", () => {
  it("names every offending field", () => {
    try {
      parseMessage(
        streamRequestSchema,
        { bytes: "ten", itemBytes: -1, extra: 1 },
        "stream request",
      );
      expect.unreachable();
    } catch (err) {
      const error = err as EntenteError;
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.retryable).toBe(false);
      expect(error.message).toContain("invalid stream request");
      expect(error.message).toContain("bytes:");
      expect(error.message).toContain("itemBytes:");
      expect(error.message).toMatch(/extra/);
      expect(error.details?.problems).toHaveLength(3);
    }
  });

  it("applies defaults of valid messages", () => {
    expect(parseMessage(streamRequestSchema, { bytes: 10 }, "stream request")).toEqual({
      bytes: 10,
      itemBytes: 65536,
      delayMs: 0,
    });
  });

  it("carries code, message, retryable and details on the wire and back", () => {
    const error = new EntenteError("UNAVAILABLE", "source pg is down", {
      details: { source: "pg" },
    });
    const body = jsonCodec.decode(jsonCodec.encode({ error: error.toBody() }));
    expect(isErrorReply(body)).toBe(true);
    const back = EntenteError.fromBody((body as { error: never }).error);
    expect(back).toMatchObject({
      code: "UNAVAILABLE",
      retryable: true,
      message: "source pg is down",
    });
    expect(back.details).toEqual({ source: "pg" });
    expect(back.status).toBe(503);
  });

  it("turns unknown failures into INTERNAL errors", () => {
    const error = toEntenteError(new TypeError("x is undefined"));
    expect(error.code).toBe("INTERNAL");
    expect(error.message).toBe("x is undefined");
    expect(isErrorReply({ error: "nope" })).toBe(false);
  });
});

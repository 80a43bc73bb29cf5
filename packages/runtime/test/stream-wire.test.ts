import { EntenteError, HEADERS, jsonCodec, msgpackCodec } from "@entente/protocol";
import { headers } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { MAX_ERROR_BODY_BYTES } from "../src/stream/error-body.ts";
import { errorReply, isNoResponders, readErrorReply } from "../src/stream/error-reply.ts";
import { frameHeaders, readFrameMeta } from "../src/stream/frame-headers.ts";

describe("batch headers", () => {
  it("round-trips the fields of a batch", () => {
    const h = frameHeaders({
      codec: msgpackCodec,
      stream: "s1",
      seq: 7,
      control: "_INBOX.abc",
      continued: true,
      end: true,
      items: 42,
      extra: { [HEADERS.serverTimeUs]: "12" },
    });
    expect(readFrameMeta(h)).toEqual({
      stream: "s1",
      seq: 7,
      control: "_INBOX.abc",
      continued: true,
      end: true,
      items: 42,
    });
    expect(h.get(HEADERS.contentType)).toBe("application/msgpack");
    expect(h.get(HEADERS.serverTimeUs)).toBe("12");
  });

  it("reads header names in any case", () => {
    const h = headers();
    h.set("Entente-Stream", "s");
    h.set("ENTENTE-SEQ", "3");
    expect(readFrameMeta(h)).toMatchObject({ stream: "s", seq: 3, continued: false, end: false });
  });

  it("treats a message without a stream id as a plain reply", () => {
    expect(readFrameMeta(undefined)).toBeUndefined();
    expect(readFrameMeta(headers())).toBeUndefined();
  });

  it("rejects a batch whose sequence is not a count", () => {
    for (const seq of [undefined, "-1", "x", "1.5"]) {
      const h = headers();
      h.set(HEADERS.stream, "s");
      if (seq !== undefined) h.set(HEADERS.seq, seq);
      expect(() => readFrameMeta(h)).toThrow(EntenteError);
    }
  });
});

describe("error replies", () => {
  it("carries the error shape and the services API headers", () => {
    const { headers: h, data } = errorReply(
      new EntenteError("DEADLINE_EXCEEDED", "too slow\nby far"),
      jsonCodec,
      { [HEADERS.serverTimeUs]: "5" },
    );
    expect(h.get(HEADERS.error)).toBe("DEADLINE_EXCEEDED");
    expect(h.get(HEADERS.serviceError)).toBe("too slow by far");
    expect(h.get(HEADERS.serviceErrorCode)).toBe("504");
    expect(h.get(HEADERS.contentType)).toBe("application/json");
    expect(h.get(HEADERS.serverTimeUs)).toBe("5");
    expect(jsonCodec.decode(data)).toEqual({
      error: { code: "DEADLINE_EXCEEDED", message: "too slow\nby far", retryable: true },
    });
    expect(readErrorReply(h, data, jsonCodec)?.toBody()).toEqual({
      code: "DEADLINE_EXCEEDED",
      message: "too slow\nby far",
      retryable: true,
    });
  });

  it("turns unknown failures into INTERNAL", () => {
    const { error } = errorReply(new TypeError("x is undefined"), msgpackCodec);
    expect(error.toBody()).toEqual({
      code: "INTERNAL",
      message: "x is undefined",
      retryable: false,
    });
  });

  it("reads an error sent with headers only, as the NATS services API does", () => {
    const h = headers();
    h.set(HEADERS.serviceError, "handler exploded");
    h.set(HEADERS.serviceErrorCode, "500");
    const error = readErrorReply(h, new TextEncoder().encode("oops"), jsonCodec);
    expect(error?.message).toBe("handler exploded");
    expect(error?.details).toEqual({ status: "500" });
  });

  it("does not mistake a normal reply for an error", () => {
    expect(readErrorReply(headers(), msgpackCodec.encode({ error: 1 }), msgpackCodec)).toBe(
      undefined,
    );
  });

  it("stays small whatever a service throws, quoting the start of what it cut", () => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const thrown = [
      new EntenteError("BAD_REQUEST", `unknown key ${"k".repeat(2_000_000)}`),
      new EntenteError("BAD_REQUEST", "too many problems", {
        details: { problems: Array.from({ length: 100_000 }, (_, i) => ({ path: `f${i}` })) },
      }),
      new EntenteError("INTERNAL", "cannot encode its details", { details: cyclic }),
      new EntenteError("X".repeat(10_000), "a code nobody knows"),
      new Error("y".repeat(3_000_000)),
    ];
    for (const codec of [msgpackCodec, jsonCodec]) {
      for (const err of thrown) {
        const { headers: h, data } = errorReply(err, codec);
        expect(data.length).toBeLessThanOrEqual(MAX_ERROR_BODY_BYTES);
        const error = readErrorReply(h, data, codec);
        expect(error).toBeDefined();
        expect(error?.message.length).toBeGreaterThan(0);
      }
    }
    const { data } = errorReply(thrown[0], jsonCodec);
    expect(jsonCodec.decode(data)).toMatchObject({
      error: {
        code: "BAD_REQUEST",
        message: expect.stringMatching(/^unknown key kkk.*… \(\d+ more characters\)$/),
      },
    });
    const many = jsonCodec.decode(errorReply(thrown[1], jsonCodec).data) as {
      error: { details: { truncated: boolean; preview: string } };
    };
    expect(many.error.details.truncated).toBe(true);
    expect(many.error.details.preview).toMatch(/^\{"problems":\[\{"path":"f0"\}/);
  });

  it("recognizes the server's no-responders status", () => {
    expect(isNoResponders(headers(503, "No Responders"), new Uint8Array(0))).toBe(true);
    expect(isNoResponders(headers(503, "No Responders"), Uint8Array.of(1))).toBe(false);
    expect(isNoResponders(undefined, new Uint8Array(0))).toBe(false);
  });
});

import { headers, Match, type MsgHdrs } from "@nats-io/nats-core";
import { describe, expect, it } from "vitest";
import { WireHeaders } from "../src/stream/wire-headers.ts";

/** nats.js's own decoder, as a receiver reads what we publish. */
const decode = (bytes: Uint8Array) =>
  (
    headers().constructor as unknown as { decode(b: Uint8Array): ReturnType<typeof headers> }
  ).decode(bytes);

/** What nats.js publishes for headers: every implementation has `encode`, the interface does not. */
const encoded = (h: MsgHdrs) => (h as unknown as { encode(): Uint8Array }).encode();

describe("WireHeaders", () => {
  it("encodes what nats.js encodes for the same headers", () => {
    const ours = new WireHeaders();
    const theirs = headers();
    for (const h of [ours, theirs]) {
      h.set("entente-timeout-ms", "1500");
      h.append("x-list", "a");
      h.append("x-list", "b");
      h.set("traceparent", " 00-abc-def-01 ");
    }
    expect(Buffer.from(ours.encode()).toString()).toBe(Buffer.from(encoded(theirs)).toString());
    const read = decode(ours.encode());
    expect(read.get("entente-timeout-ms")).toBe("1500");
    expect(read.values("x-list")).toEqual(["a", "b"]);
    expect(read.get("traceparent")).toBe("00-abc-def-01");
  });

  it("carries non-ASCII values as UTF-8", () => {
    const h = new WireHeaders();
    h.set("nats-service-error", "región caída");
    expect(decode(h.encode()).get("nats-service-error")).toBe("región caída");
  });

  it("encodes nothing when empty, like nats.js", () => {
    expect(new WireHeaders().encode()).toHaveLength(0);
    expect(encoded(headers())).toHaveLength(0);
  });

  it("matches names exactly, ignoring case, or in canonical MIME form, as nats.js does", () => {
    const ours = new WireHeaders();
    const theirs = headers();
    for (const h of [ours, theirs]) {
      h.set("Content-Type", "application/json");
      h.append("content-TYPE", "text/plain", Match.IgnoreCase);
      h.append("x-key", "1", Match.CanonicalMIME);
      h.set("X-Other", "2");
      h.set("x-other", "3", Match.IgnoreCase);
    }
    expect(ours.keys()).toEqual(theirs.keys());
    for (const name of ["content-type", "Content-Type", "X-Key", "x-key", "x-other"]) {
      for (const match of [Match.Exact, Match.IgnoreCase, Match.CanonicalMIME]) {
        expect(ours.values(name, match)).toEqual(theirs.values(name, match));
        expect(ours.get(name, match)).toBe(theirs.get(name, match));
        expect(ours.has(name, match)).toBe(theirs.has(name, match));
      }
    }
    expect(ours.get("content-type", Match.IgnoreCase)).toBe("application/json");
  });

  it("keeps every value of a name, in order", () => {
    const h = new WireHeaders();
    h.append("v", "1");
    h.append("w", "x");
    h.append("v", "2");
    expect(h.values("v")).toEqual(["1", "2"]);
    expect(h.last("v")).toBe("2");
    expect([...h]).toEqual([
      ["v", ["1", "2"]],
      ["w", ["x"]],
    ]);
    h.delete("v");
    expect(h.keys()).toEqual(["w"]);
  });

  it("refuses names and values the wire format cannot carry", () => {
    const h = new WireHeaders();
    expect(() => h.set("bad:name", "v")).toThrow(/not a valid character/);
    expect(() => h.set("bad name", "v")).toThrow(/not a valid character/);
    expect(() => h.set("ok", "line\r\nbreak")).toThrow(/\\r or \\n/);
    expect(h.keys()).toEqual([]);
  });

  it("has a status line only with a code and description", () => {
    const h = new WireHeaders();
    h.code = 503;
    h.description = "No Responders";
    expect(h.hasError).toBe(true);
    expect(h.status).toBe("503 No Responders");
    expect(Buffer.from(h.encode()).toString()).toBe("NATS/1.0 503 No Responders\r\n\r\n");
  });
});

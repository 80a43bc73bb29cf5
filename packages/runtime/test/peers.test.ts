/** The configuration fingerprints workers compare, and what a `$SRV.INFO` reply says of them. Pure. */
import { describe, expect, it } from "vitest";
import { configFingerprint } from "../src/service/fingerprint.ts";
import { mismatchesIn } from "../src/service/peers.ts";

describe("configFingerprint", () => {
  it("is the same for the same configuration written in another order", () => {
    const a = configFingerprint({ tables: { users: "db.users" }, sources: { db: { kind: "x" } } });
    const b = configFingerprint({ sources: { db: { kind: "x" } }, tables: { users: "db.users" } });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(a).toBe(b);
  });

  it("differs when what decides the answers differs", () => {
    const base = { sources: { db: { kind: "postgres", url: "postgres://a@h1/db" } } };
    const moved = { sources: { db: { kind: "postgres", url: "postgres://a@h2/db" } } };
    expect(configFingerprint(base)).not.toBe(configFingerprint(moved));
    expect(configFingerprint([1, 2])).not.toBe(configFingerprint([2, 1]));
  });

  it("leaves secrets out, so rotating a password is not a difference", () => {
    const one = { db: { url: "postgres://app:first@h/db", password: "first", apiToken: "t1" } };
    const two = { db: { url: "postgres://app:second@h/db", password: "second", apiToken: "t2" } };
    expect(configFingerprint(one)).toBe(configFingerprint(two));
    expect(configFingerprint(one)).toBe(configFingerprint({ db: { url: "postgres://app@h/db" } }));
  });
});

describe("mismatchesIn", () => {
  const mine = [{ subject: "entente.sql", queue: "entente.sql-join", fingerprint: "f1" }];
  const endpoint = (fingerprint: string, subject = "entente.sql") => ({
    name: "sql",
    subject,
    queue_group: "entente.sql-join",
    metadata: { fingerprint },
  });
  const info = (endpoints: unknown, deployment = "entente") => ({
    id: "w1",
    name: "sql-join",
    metadata: { deployment },
    endpoints,
  });

  it("finds a worker serving our subject in our queue group from another configuration", () => {
    expect(mismatchesIn(info([endpoint("f2")]), "entente", mine)).toEqual([
      { id: "w1", subject: "entente.sql", theirs: "f2", mine: "f1" },
    ]);
    expect(mismatchesIn(info([endpoint("f1")]), "entente", mine)).toEqual([]);
  });

  it("does not compare workers of another deployment or on other subjects", () => {
    expect(mismatchesIn(info([endpoint("f2")], "other"), "entente", mine)).toEqual([]);
    // Another federation of the same service, on its own subject.
    expect(mismatchesIn(info([endpoint("f2", "edge.query")]), "entente", mine)).toEqual([]);
  });

  it("reads nothing into replies it cannot read", () => {
    for (const reply of [null, "text", { id: 1 }, info("none"), info([null, { subject: 1 }])]) {
      expect(mismatchesIn(reply, "entente", mine)).toEqual([]);
    }
    // An endpoint without a fingerprint (an older worker) is not compared.
    expect(mismatchesIn(info([{ ...endpoint("f2"), metadata: {} }]), "entente", mine)).toEqual([]);
  });
});

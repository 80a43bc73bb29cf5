import { describe, expect, it } from "vitest";
import { queueGroupOf, regionSubject, SUBJECTS } from "../src/index.ts";

describe("subjects", () => {
  it("builds region-scoped and per-name subjects", () => {
    expect(regionSubject("eu-west", "router", "ping")).toBe("entente.r.eu-west.router.ping");
    expect(SUBJECTS.ingest("edge-a")).toBe("entente.ingest.edge-a");
    expect(queueGroupOf("sql-join")).toBe("entente.sql-join");
  });

  it.each(["a.b", "*", ">", "has space", ""])("refuses %j as a subject token", (name) => {
    expect(() => regionSubject(name)).toThrow(/cannot be used in a subject/);
  });
});

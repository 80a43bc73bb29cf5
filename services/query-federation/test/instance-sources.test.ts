/** Instances name a source; the old form that declared its own database still reads. */
import { SUBJECTS } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import { instancesSchema } from "../src/config.ts";
import { resolveInstanceSources } from "../src/instance-sources.ts";

function resolve(instances: unknown) {
  return resolveInstanceSources(instancesSchema.parse(instances) ?? {}, SUBJECTS.query);
}

describe("instances and sources", () => {
  it("an instance names its source and table", () => {
    const resolved = resolve({
      pg: {
        source: "metrics",
        table: "public.points",
        columns: { time: "ts", timeFormat: "timestamp" },
      },
      eu: { kind: "entente", subject: "entente.r.eu.query" },
    });
    expect(resolved.declared).toEqual({});
    expect(resolved.notices).toEqual([]);
    expect(resolved.instances).toEqual([
      {
        name: "pg",
        kind: "source",
        config: {
          kind: "source",
          source: "metrics",
          table: "public.points",
          columns: {
            metric: "metric",
            tags: "tags",
            time: "ts",
            value: "value",
            timeFormat: "timestamp",
          },
        },
      },
      { name: "eu", kind: "entente", subject: "entente.r.eu.query" },
    ]);
  });

  it("an instance in the old form becomes a source named after it, with a notice showing the new form", () => {
    const resolved = resolve({
      old: { kind: "postgres", url: "postgres://u@h:5432/m", table: "points", poolSize: 4 },
      file: { kind: "duckdb", path: "/data/edge.duckdb", readOnly: true },
    });
    expect(resolved.declared).toEqual({
      old: { kind: "postgres", url: "postgres://u@h:5432/m", poolSize: 4 },
      file: { kind: "duckdb", path: "/data/edge.duckdb", readOnly: true },
    });
    expect(resolved.instances.map((i) => i.kind === "source" && i.config.source)).toEqual([
      "old",
      "file",
    ]);
    expect(resolved.notices[0]).toContain("instances.old: an instance that declares its database");
    expect(resolved.notices[0]).toContain(
      'sources: { old: { kind: "postgres", url: "postgres://u@h:5432/m", poolSize: 4 } }  instances: { old: { source: old, table: points } }',
    );
  });

  it("an instance with neither a source nor a kind is refused with what to write", () => {
    expect(() => instancesSchema.parse({ x: { table: "points" } })).toThrow(
      /an instance names a source/,
    );
  });
});

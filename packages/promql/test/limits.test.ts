/** Queries written to exhaust a worker end with an execution error instead. */
import { describe, expect, it } from "vitest";
import { instantQuery } from "../src/engine.ts";
import { PromQLError } from "../src/errors.ts";
import { MemorySource } from "../src/memory-source.ts";

const source = new MemorySource(
  Array.from({ length: 10 }, (_, i) => ({
    labels: { __name__: "x", a0: `value-${i}` },
    samples: [{ t: 0, v: i }],
  })),
);

async function errorOf(query: string): Promise<PromQLError> {
  const error = await instantQuery(source, query, 60_000).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PromQLError);
  return error as PromQLError;
}

describe("limits", () => {
  it("refuses a subquery of more steps than samples may be held, before making them", async () => {
    const error = await errorOf("count_over_time(nothing[1d:1ms])");
    expect(error.kind).toBe("execution");
    expect(error.message).toMatch(/too many samples.*86400001 steps/);
  });

  it("refuses label values grown past the limit by nested joins", async () => {
    let query = "x";
    for (let i = 0; i < 20; i++) query = `label_join(${query}, "a${i + 1}", ",", "a${i}", "a${i}")`;
    const error = await errorOf(query);
    expect(error.kind).toBe("execution");
    expect(error.message).toMatch(/more than the 65536 a label value may have/);
  });

  it("evaluates a long chain of operators", async () => {
    const query = Array.from({ length: 2000 }, () => "x").join(" ^ ");
    const value = await instantQuery(source, query, 60_000);
    expect(value.type === "vector" && value.value.length).toBe(10);
  });
});

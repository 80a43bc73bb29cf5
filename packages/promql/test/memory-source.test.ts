import { describe, expect, it } from "vitest";
import type { LabelMatcher } from "../src/ast.ts";
import { PromQLError } from "../src/errors.ts";
import { compileMatcher, MemorySource } from "../src/memory-source.ts";
import type { Series } from "../src/values.ts";

const series: Series[] = [
  { labels: { __name__: "up", job: "node", instance: "b:9100" }, samples: [{ t: 10, v: 1 }] },
  { labels: { __name__: "up", job: "api", instance: "a:80" }, samples: [{ t: 10, v: 1 }] },
  { labels: { __name__: "up", instance: "lonely" }, samples: [{ t: 10, v: 0 }] },
  { labels: { __name__: "note", text: "two\nlines" }, samples: [{ t: 10, v: 2 }] },
  {
    labels: { __name__: "temp", job: "node" },
    samples: [
      { t: 0, v: 1 },
      { t: 100, v: 2 },
      { t: 200, v: 3 },
      { t: 300, v: 4 },
    ],
  },
];

const source = new MemorySource(series);
const all = { start: 0, end: 1000 };
const name = (value: string): LabelMatcher => ({ name: "__name__", op: "=", value });

async function instances(...matchers: LabelMatcher[]): Promise<string[]> {
  const found = await source.select([name("up"), ...matchers], all);
  return found.map((s) => s.labels.instance ?? "");
}

describe("MemorySource", () => {
  it("answers matching series sorted by labels", async () => {
    expect(await instances()).toEqual(["a:80", "b:9100", "lonely"]);
  });

  it("applies equality and inequality matchers", async () => {
    expect(await instances({ name: "job", op: "=", value: "api" })).toEqual(["a:80"]);
    expect(await instances({ name: "job", op: "!=", value: "api" })).toEqual(["b:9100", "lonely"]);
  });

  it("anchors regular expressions at both ends", async () => {
    expect(await instances({ name: "job", op: "=~", value: "no" })).toEqual([]);
    expect(await instances({ name: "job", op: "=~", value: "no.*" })).toEqual(["b:9100"]);
    expect(await instances({ name: "job", op: "=~", value: "api|node" })).toEqual([
      "a:80",
      "b:9100",
    ]);
    expect(await instances({ name: "instance", op: "=~", value: "a:8" })).toEqual([]);
    expect(await instances({ name: "job", op: "!~", value: "a" })).toEqual([
      "a:80",
      "b:9100",
      "lonely",
    ]);
    expect(await instances({ name: "job", op: "!~", value: "api" })).toEqual(["b:9100", "lonely"]);
  });

  it("treats a missing label as the empty string", async () => {
    expect(await instances({ name: "job", op: "=", value: "" })).toEqual(["lonely"]);
    expect(await instances({ name: "job", op: "!=", value: "" })).toEqual(["a:80", "b:9100"]);
    expect(await instances({ name: "job", op: "=~", value: ".*" })).toEqual([
      "a:80",
      "b:9100",
      "lonely",
    ]);
    expect(await instances({ name: "job", op: "=~", value: ".+" })).toEqual(["a:80", "b:9100"]);
    expect(await instances({ name: "nope", op: "=~", value: "x?" })).toEqual([
      "a:80",
      "b:9100",
      "lonely",
    ]);
  });

  it("does not let `.` match a newline, as Prometheus 2.x", async () => {
    const dotted = await source.select(
      [name("note"), { name: "text", op: "=~", value: "two.lines" }],
      all,
    );
    expect(dotted).toEqual([]);
    const explicit = await source.select(
      [name("note"), { name: "text", op: "=~", value: "two\\nlines" }],
      all,
    );
    expect(explicit).toHaveLength(1);
  });

  it("refuses an invalid regular expression as bad data", async () => {
    const attempt = source.select([name("up"), { name: "job", op: "=~", value: "(" }], all);
    await expect(attempt).rejects.toBeInstanceOf(PromQLError);
    await expect(attempt).rejects.toMatchObject({ kind: "bad_data" });
    expect(() => compileMatcher({ name: "x", op: "!~", value: "[" })).toThrow(PromQLError);
  });

  it("keeps only samples within the inclusive time range", async () => {
    const [temp] = await source.select([name("temp")], { start: 100, end: 200 });
    expect(temp?.samples).toEqual([
      { t: 100, v: 2 },
      { t: 200, v: 3 },
    ]);
    expect(await source.select([name("temp")], { start: 301, end: 400 })).toEqual([]);
  });

  it("refuses to answer once aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(source.select([name("up")], all, controller.signal)).rejects.toMatchObject({
      kind: "canceled",
    });
  });
});

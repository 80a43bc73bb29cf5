/**
 * The engine against real Prometheus 2.42 over the same generated data: every expression of
 * `differential/expressions.ts` as instant queries at chosen times (edges, gaps) and as range
 * queries at a few steps, compared result by result.
 *
 * Set PROMQL_DIFFERENTIAL_REPORT=<file> to also write every mismatch there as JSON lines.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import {
  generateMetrics,
  metricsLayout,
  type PrometheusServer,
  queryPrometheus,
  startPrometheus,
  toOpenMetrics,
} from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Expr } from "../src/ast.ts";
import { type EvalRange, instantQuery, rangeQuery } from "../src/engine.ts";
import { MemorySource } from "../src/memory-source.ts";
import { parse } from "../src/parse.ts";
import {
  difference,
  formatLabels,
  fromEngine,
  fromPrometheus,
  type Outcome,
  type Point,
} from "./differential/compare.ts";
import {
  EXPRESSION_GROUPS,
  type ExpressionGroup,
  functionsNotCovered,
  generatedExpressions,
} from "./differential/expressions.ts";

const MINUTE = 60_000;
const GENERATED_SEED = 11;
const GROUPS: ExpressionGroup[] = [
  ...EXPRESSION_GROUPS,
  {
    name: `generated combinations (seed ${GENERATED_SEED})`,
    expressions: generatedExpressions(GENERATED_SEED, 150),
  },
];
const DATA = { seed: 7, seriesCount: 120, specialValues: true };
const series = generateMetrics(DATA);
const layout = metricsLayout(DATA);

// A sample of a regular series, to query exactly at window and lookback edges.
const edgeSample = (series.find((one) => one.labels.__name__ === "node_temperature")?.samples[40]
  ?.t ?? layout.start) as number;

/** Instant query times, each chosen for what the data looks like around it. */
const INSTANT_TIMES: { what: string; t: number }[] = [
  { what: "regular, with milliseconds", t: layout.start + 10 * MINUTE + 1_234 },
  { what: "before the data", t: layout.start - MINUTE },
  { what: "first scrapes", t: layout.start + 30_000 },
  { what: "late starters just began", t: layout.lateStart + 20_000 },
  { what: "long gap, within lookback", t: layout.longGap.from + 2 * MINUTE },
  { what: "long gap, beyond lookback", t: layout.longGap.from + 7 * MINUTE },
  { what: "short gap", t: layout.shortGap.from + 150_000 },
  { what: "after early stoppers", t: layout.earlyStop + 4 * MINUTE },
  { what: "end of the data", t: layout.end },
  { what: "after the data, within lookback", t: layout.end + 4 * MINUTE },
  { what: "long after the data", t: layout.end + 10 * MINUTE },
  { what: "exactly at a sample", t: edgeSample },
  { what: "a sample's time + 1m", t: edgeSample + MINUTE },
  { what: "a sample's time + 5m", t: edgeSample + 5 * MINUTE },
];

const RANGES: { what: string; range: EvalRange }[] = [
  { what: "whole data, 1m step", range: { start: layout.start, end: layout.end, step: MINUTE } },
  {
    what: "unaligned, 37s step",
    range: { start: layout.start + 5 * MINUTE + 500, end: layout.end + 6 * MINUTE, step: 37_000 },
  },
  {
    what: "around the long gap, 15s step",
    range: {
      start: layout.longGap.from - 5 * MINUTE,
      end: layout.longGap.to + 5 * MINUTE,
      step: 15_000,
    },
  },
  {
    what: "wider than the data, 5m step",
    range: { start: layout.start - 10 * MINUTE, end: layout.end + 10 * MINUTE, step: 5 * MINUTE },
  },
];

interface Mismatch {
  group: string;
  expression: string;
  at: string;
  difference: string;
}

type Query = { at: string; instant: number } | { at: string; range: EvalRange };

const seconds = (ms: number) => String(ms / 1000);
const isoTime = (ms: number) => new Date(ms).toISOString();

function queriesOf(group: ExpressionGroup): Query[] {
  const instants = INSTANT_TIMES.map(({ what, t }) => ({
    at: `instant ${isoTime(t)} (${what})`,
    instant: t,
  }));
  if (group.instantOnly) return instants;
  const ranges = RANGES.map(({ what, range }) => ({
    at: `range ${isoTime(range.start)}..${isoTime(range.end)} step ${range.step / 1000}s (${what})`,
    range,
  }));
  return [...instants, ...ranges];
}

function askPrometheus(url: string, expression: string, query: Query): Promise<Outcome> {
  const answer =
    "instant" in query
      ? queryPrometheus(url, "/api/v1/query", { query: expression, time: seconds(query.instant) })
      : queryPrometheus(url, "/api/v1/query_range", {
          query: expression,
          start: seconds(query.range.start),
          end: seconds(query.range.end),
          step: seconds(query.range.step),
        });
  return answer.then(fromPrometheus);
}

function askEngine(source: MemorySource, expression: string, query: Query): Promise<Outcome> {
  return fromEngine(() =>
    "instant" in query
      ? instantQuery(source, expression, query.instant)
      : rangeQuery(source, expression, query.range),
  );
}

/** A top-level sort fixes the order of an instant vector; everything else is a set. */
function resultIsOrdered(expression: string, query: Query): boolean {
  if (!("instant" in query)) return false;
  let expr: Expr;
  try {
    expr = parse(expression);
  } catch {
    return false;
  }
  while (expr.type === "paren") expr = expr.expr;
  return expr.type === "call" && (expr.name === "sort" || expr.name === "sort_desc");
}

/** Runs `tasks` with at most `limit` at once, keeping their order. */
async function inParallel<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

function formatMismatches(mismatches: Mismatch[]): string {
  const byExpression = new Map<string, Mismatch[]>();
  for (const mismatch of mismatches) {
    const list = byExpression.get(mismatch.expression) ?? [];
    list.push(mismatch);
    byExpression.set(mismatch.expression, list);
  }
  const blocks = [...byExpression].map(([expression, list]) => {
    const first = list[0] as Mismatch;
    return `${expression}\n  ${list.length} of its queries differ; first at ${first.at}:\n  ${first.difference}`;
  });
  return `${byExpression.size} expression(s) differ from Prometheus:\n\n${blocks.join("\n\n")}`;
}

const reportFile = process.env.PROMQL_DIFFERENTIAL_REPORT;
if (reportFile) writeFileSync(reportFile, "");

describe("the engine against Prometheus 2.42", () => {
  let prometheus: PrometheusServer | undefined;
  const source = new MemorySource(series);

  beforeAll(async () => {
    prometheus = await startPrometheus({ openMetrics: toOpenMetrics(series) });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
  });

  it("has Prometheus serve the generated samples unchanged", async () => {
    const url = (prometheus as PrometheusServer).url;
    const window = Math.ceil((layout.end - layout.start) / 1000) + 120;
    const answer = fromPrometheus(
      await queryPrometheus(url, "/api/v1/query", {
        query: `{__name__=~".+"}[${window}s]`,
        time: seconds(layout.end + MINUTE),
      }),
    );
    const stored = answer.kind === "matrix" ? answer.series : [];
    const text = (points: readonly Point[]) =>
      points.map(([t, v]) => `${t}:${Object.is(v, -0) ? "-0" : v}`).join(" ");
    const generated = new Map(
      series.map((one) => [
        formatLabels(one.labels),
        text(one.samples.map(({ t, v }) => [t, v] as const)),
      ]),
    );
    const differing = stored
      .filter((one) => generated.get(formatLabels(one.labels)) !== text(one.points))
      .map((one) => formatLabels(one.labels));
    expect(differing).toEqual([]);
    expect(stored.length).toBe(series.length);
  });

  it("covers every supported function", () => {
    expect(functionsNotCovered()).toEqual([]);
  });

  for (const group of GROUPS) {
    it(group.name, async () => {
      const url = (prometheus as PrometheusServer).url;
      const queries = queriesOf(group);
      const cases = group.expressions.flatMap((expression) =>
        queries.map((query) => ({ expression, query })),
      );
      const expected = await inParallel(
        cases.map(
          ({ expression, query }) =>
            () =>
              askPrometheus(url, expression, query),
        ),
        8,
      );
      const mismatches: Mismatch[] = [];
      for (const [index, { expression, query }] of cases.entries()) {
        const actual = await askEngine(source, expression, query);
        const diff = difference(expected[index] as Outcome, actual, {
          ordered: resultIsOrdered(expression, query),
        });
        if (diff !== undefined) {
          mismatches.push({ group: group.name, expression, at: query.at, difference: diff });
        }
      }
      if (reportFile) {
        for (const mismatch of mismatches)
          appendFileSync(reportFile, `${JSON.stringify(mismatch)}\n`);
      }
      if (mismatches.length > 0) expect.fail(formatMismatches(mismatches));
    }, 120_000);
  }
});

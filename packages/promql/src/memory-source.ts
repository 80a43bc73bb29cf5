/**
 * A `SeriesSource` over series held in memory, with Prometheus 2.x label matching: regular
 * expressions are RE2, fully anchored, `.` not matching a newline, and a label a series lacks
 * matches as the empty string.
 */
import { RE2JS } from "re2js";
import type { LabelMatcher } from "./ast.ts";
import { badData } from "./errors.ts";
import { abortError } from "./eval-context.ts";
import { samplesBetween } from "./eval-windows.ts";
import type { SelectHints, SeriesSource } from "./storage.ts";
import { compareLabels, type Labels, type Sample, type Series } from "./values.ts";

export type LabelPredicate = (value: string) => boolean;

/** A predicate for one matcher; an invalid regular expression is a `bad_data` error. */
export function compileMatcher(matcher: LabelMatcher): LabelPredicate {
  const expected = matcher.value;
  switch (matcher.op) {
    case "=":
      return (value) => value === expected;
    case "!=":
      return (value) => value !== expected;
    case "=~": {
      const regex = compileAnchored(expected);
      return (value) => regex.matches(value);
    }
    case "!~": {
      const regex = compileAnchored(expected);
      return (value) => !regex.matches(value);
    }
  }
}

function compileAnchored(pattern: string): ReturnType<typeof RE2JS.compile> {
  try {
    return RE2JS.compile(`^(?:${pattern})$`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw badData(`invalid regular expression ${JSON.stringify(pattern)}: ${reason}`);
  }
}

/** A predicate over label sets that holds when every matcher does. */
export function compileMatchers(matchers: LabelMatcher[]): (labels: Labels) => boolean {
  const compiled = matchers.map((m) => ({ name: m.name, test: compileMatcher(m) }));
  return (labels) => compiled.every(({ name, test }) => test(labels[name] ?? ""));
}

/** Series in memory, answered sorted by labels as Prometheus' storage answers them. */
export class MemorySource implements SeriesSource {
  private readonly series: Series[];

  constructor(series: Series[]) {
    this.series = [...series].sort((a, b) => compareLabels(a.labels, b.labels));
  }

  async select(
    matchers: LabelMatcher[],
    hints: SelectHints,
    signal?: AbortSignal,
  ): Promise<Series[]> {
    if (signal?.aborted) throw abortError(signal.reason);
    const matches = compileMatchers(matchers);
    const out: Series[] = [];
    for (const series of this.series) {
      if (!matches(series.labels)) continue;
      const all = series.samples;
      // A series wholly inside the range is answered as it is (series are never mutated).
      const inside =
        all.length > 0 &&
        (all[0] as Sample).t >= hints.start &&
        (all[all.length - 1] as Sample).t <= hints.end;
      const samples = inside ? all : samplesBetween(all, hints.start, hints.end);
      if (samples.length > 0) out.push({ labels: series.labels, samples });
    }
    return out;
  }
}

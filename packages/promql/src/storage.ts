/**
 * What the evaluator reads: series matching a selector's matchers, with their samples inside a
 * time range. The evaluator fetches every selector's series before it evaluates, so evaluation
 * itself is synchronous and pure.
 */
import type { LabelMatcher } from "./ast.ts";
import type { Series } from "./values.ts";

export interface SelectHints {
  /** Inclusive bounds in milliseconds: samples outside them may be left out. */
  start: number;
  end: number;
}

export interface SeriesSource {
  /** Every series matching all `matchers`, samples in time order within the hints' range. */
  select(matchers: LabelMatcher[], hints: SelectHints, signal?: AbortSignal): Promise<Series[]>;
}

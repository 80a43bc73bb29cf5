/** Vector matching: which labels pair samples up, and the labels a matched pair yields. */
import type { BinaryOp, VectorMatching } from "./ast.ts";
import { dropsMetricName } from "./binary-elements.ts";
import { DerivedLabels } from "./eval-labels.ts";
import { type Labels, labelsKey } from "./values.ts";

/** One-to-one matching on all labels but the metric name: the default between two vectors. */
export const DEFAULT_MATCHING: VectorMatching = {
  card: "one-to-one",
  on: false,
  labels: [],
  include: [],
};

/**
 * The labels that decide a match: the `on (…)` labels (the metric name only when listed), or
 * all but the `ignoring (…)` labels and the metric name.
 */
export function matchingLabels(labels: Labels, matching: VectorMatching): Labels {
  const listed = new Set(matching.labels);
  const matched: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    const keep = matching.on ? listed.has(name) : !listed.has(name) && name !== "__name__";
    if (keep && value !== "") matched[name] = value;
  }
  return matched;
}

/** A key equal for two label sets exactly when they match under `matching`. */
export function matchingSignature(labels: Labels, matching: VectorMatching): string {
  return signatures.get(labels, matching);
}

// Label sets recur at every step: each one's signature is worked out once per matching.
const signatures = new DerivedLabels<VectorMatching, string>((labels, matching) =>
  labelsKey(matchingLabels(labels, matching)),
);

type PairResults = DerivedLabels<VectorMatching, WeakMap<Labels, Labels>>;
const newPairResults = (): PairResults => new DerivedLabels(() => new WeakMap());
const pairResultsDroppingName = newPairResults();
const pairResultsKeepingName = newPairResults();

/**
 * `resultLabels`, answering the same object for the same pair of label sets: results then
 * keep one identity across steps, which later steps' caches rely on.
 */
export function resultLabelsOfPair(
  many: Labels,
  one: Labels,
  op: BinaryOp,
  matching: VectorMatching,
): Labels {
  const cache = (dropsMetricName(op) ? pairResultsDroppingName : pairResultsKeepingName).get(
    many,
    matching,
  );
  let result = cache.get(one);
  if (result === undefined) {
    result = resultLabels(many, one, op, matching);
    cache.set(one, result);
  }
  return result;
}

/**
 * The labels of a matched pair, as Prometheus' `resultMetric`: the "many" (or left) side's
 * labels, without the metric name for arithmetic (atan2 aside); for one-to-one matching only the `on` labels
 * or all but the `ignoring` ones; `group_x (…)` labels copied from the "one" side (dropped when
 * it lacks them).
 */
export function resultLabels(
  many: Labels,
  one: Labels,
  op: BinaryOp,
  matching: VectorMatching,
): Labels {
  const result: Record<string, string> = { ...many };
  if (dropsMetricName(op)) delete result.__name__;
  if (matching.card === "one-to-one") {
    const listed = new Set(matching.labels);
    for (const name of Object.keys(result)) {
      if (listed.has(name) !== matching.on) delete result[name];
    }
  }
  for (const name of matching.include) {
    const value = one[name];
    if (value !== undefined && value !== "") result[name] = value;
    else delete result[name];
  }
  return result;
}

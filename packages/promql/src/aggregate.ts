/** PromQL aggregation operators, with Prometheus 2.42's arithmetic. */

import { groupLabels } from "./aggregate-grouping.ts";
import { KBest } from "./aggregate-topk.ts";
import type { AggregateExpr } from "./ast.ts";
import { executionError } from "./errors.ts";
import { DerivedLabels } from "./eval-labels.ts";
import { formatSampleValue } from "./format.ts";
import { quantile } from "./quantile.ts";
import { type Labels, labelsKey, type Vector, type VectorSample } from "./values.ts";

export { groupLabels } from "./aggregate-grouping.ts";

export interface GroupIdentity {
  labels: Labels;
  key: string;
}

function groupOf(labels: Labels, grouping: readonly string[], without: boolean): GroupIdentity {
  const labelsOfGroup = groupLabels(labels, grouping, without);
  return { labels: labelsOfGroup, key: labelsKey(labelsOfGroup) };
}

/** A series' group under a node's grouping, worked out once per series rather than per step. */
export const groupOfNode = new DerivedLabels<AggregateExpr, GroupIdentity>((labels, node) =>
  groupOf(labels, node.grouping, node.without),
);

/** One group's running state, as Prometheus' `groupedAggregation`. */
export interface Group {
  labels: Labels;
  value: number;
  mean: number;
  count: number;
  /** topk/bottomk's best samples so far. */
  best?: KBest;
  /** quantile's values. */
  values?: number[];
}

// The largest float64 that converts to an int64 without overflow, and the smallest.
const MAX_INT64 = 2 ** 63 - 1024;
const MIN_INT64 = -(2 ** 63);

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Aggregates `input` at one step; `param` is topk/bottomk's k, quantile's φ or count_values' label. */
export function aggregate(
  node: AggregateExpr,
  input: Vector,
  param: number | string | undefined,
  ts: number,
): Vector {
  const { op, without } = node;
  let grouping = node.grouping;

  let k = 0;
  if (op === "topk" || op === "bottomk") {
    const requested = Number(param);
    if (!(requested <= MAX_INT64 && requested >= MIN_INT64)) {
      throw executionError(`Scalar value ${formatGoFloat(requested)} overflows int64`);
    }
    k = Math.trunc(requested);
    if (k < 1) return [];
  }

  let valueLabel = "";
  if (op === "count_values") {
    valueLabel = String(param);
    if (!LABEL_NAME.test(valueLabel)) {
      throw executionError(`invalid label name ${JSON.stringify(valueLabel)}`);
    }
    // The value's label becomes part of the grouping.
    if (!without) grouping = [...grouping, valueLabel];
  }

  const groups = new Map<string, Group>();
  const ordered: Group[] = [];
  for (const sample of input) {
    const labels =
      op === "count_values"
        ? { ...sample.labels, [valueLabel]: formatSampleValue(sample.v) }
        : sample.labels;
    const { labels: labelsOfGroup, key } =
      op === "count_values" ? groupOf(labels, grouping, without) : groupOfNode.get(labels, node);
    const group = groups.get(key);
    if (group === undefined) {
      const created = startGroup(op, labelsOfGroup, sample, k);
      groups.set(key, created);
      ordered.push(created);
    } else {
      accumulate(op, group, sample);
    }
  }

  const out: Vector = [];
  for (const group of ordered) {
    if (group.best !== undefined) {
      for (const sample of group.best.result())
        out.push({ labels: sample.labels, t: ts, v: sample.v });
      continue;
    }
    out.push({ labels: group.labels, t: ts, v: finalValue(op, group, Number(param)) });
  }
  return out;
}

export function startGroup(
  op: AggregateExpr["op"],
  labels: Labels,
  sample: VectorSample,
  k: number,
): Group {
  const group: Group = { labels, value: sample.v, mean: sample.v, count: 1 };
  switch (op) {
    case "stddev":
    case "stdvar":
      group.value = 0;
      break;
    case "topk":
    case "bottomk":
      group.best = new KBest(op, k, sample);
      break;
    case "quantile":
      group.values = [sample.v];
      break;
    case "group":
      group.value = 1;
      break;
    default:
      break;
  }
  return group;
}

export function accumulate(op: AggregateExpr["op"], group: Group, sample: VectorSample): void {
  const v = sample.v;
  switch (op) {
    case "sum":
      group.value += v;
      return;
    case "avg":
      group.count++;
      accumulateMean(group, v);
      return;
    case "max":
      if (group.value < v || Number.isNaN(group.value)) group.value = v;
      return;
    case "min":
      if (group.value > v || Number.isNaN(group.value)) group.value = v;
      return;
    case "count":
    case "count_values":
      group.count++;
      return;
    case "stddev":
    case "stdvar": {
      // Welford's online algorithm.
      group.count++;
      const delta = v - group.mean;
      group.mean += delta / group.count;
      group.value += delta * (v - group.mean);
      return;
    }
    case "topk":
    case "bottomk":
      group.best?.add(sample);
      return;
    case "quantile":
      group.values?.push(v);
      return;
    case "group":
      return;
  }
}

/**
 * The incremental mean, which stays finite where a sum would overflow. An infinite mean stays as
 * it is when the new value cannot change it; subtracting it from itself would give NaN.
 */
function accumulateMean(group: Group, v: number): void {
  if (!Number.isFinite(group.mean) && !Number.isNaN(group.mean)) {
    if (!Number.isFinite(v) && !Number.isNaN(v) && group.mean > 0 === v > 0) return;
    if (Number.isFinite(v)) return;
  }
  group.mean += v / group.count - group.mean / group.count;
}

export function finalValue(op: AggregateExpr["op"], group: Group, phi: number): number {
  switch (op) {
    case "avg":
      return group.mean;
    case "count":
    case "count_values":
      return group.count;
    case "stdvar":
      return group.value / group.count;
    case "stddev":
      return Math.sqrt(group.value / group.count);
    case "quantile":
      return quantile(phi, group.values ?? []);
    default:
      return group.value;
  }
}

/** A float in messages as Go's `%v` writes it: "1e+20", "0.5", "+Inf", "NaN". */
function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  const exponential = v.toExponential();
  const exponent = Number(exponential.slice(exponential.indexOf("e") + 1));
  if (v !== 0 && (exponent < -4 || exponent >= 6)) {
    return exponential.replace(/e([+-])(\d)$/, "e$10$2");
  }
  return formatSampleValue(v);
}

/** Arithmetic and comparison between two instant vectors, as Prometheus' `VectorBinop`. */
import type { ArithmeticOp, ComparisonOp, VectorMatching } from "./ast.ts";
import { elementBinop } from "./binary-elements.ts";
import { matchingLabels, matchingSignature, resultLabelsOfPair } from "./binary-matching.ts";
import { executionError } from "./errors.ts";
import { keyOfLabels, withoutMetricName } from "./eval-labels.ts";
import { formatLabels, type Vector, type VectorSample } from "./values.ts";

export function vectorBinop(
  op: ArithmeticOp | ComparisonOp,
  lhs: Vector,
  rhs: Vector,
  matching: VectorMatching,
  returnBool: boolean,
  ts: number,
): Vector {
  if (matching.card === "many-to-many") {
    throw new Error("many-to-many matching is only for set operators");
  }
  if (lhs.length === 0 || rhs.length === 0) return [];

  // The "one" side is indexed; for group_right it is the left operand.
  const swapped = matching.card === "one-to-many";
  const many = swapped ? rhs : lhs;
  const one = swapped ? lhs : rhs;

  const oneBySignature = new Map<string, VectorSample>();
  for (const sample of one) {
    const signature = matchingSignature(sample.labels, matching);
    const earlier = oneBySignature.get(signature);
    if (earlier !== undefined) throw duplicateOnOneSide(sample, earlier, matching, swapped);
    oneBySignature.set(signature, sample);
  }

  // Per match group: nothing for one-to-one, else the result label sets already produced.
  const produced = new Map<string, Set<string> | null>();
  const out: Vector = [];
  for (const sample of many) {
    const signature = matchingSignature(sample.labels, matching);
    const partner = oneBySignature.get(signature);
    if (partner === undefined) continue;

    const [left, right] = swapped ? [partner.v, sample.v] : [sample.v, partner.v];
    const { value, keep } = elementBinop(op, left, right);
    if (!keep && !returnBool) continue;

    let labels = resultLabelsOfPair(sample.labels, partner.labels, op, matching);
    if (returnBool) labels = withoutMetricName(labels);

    const seen = produced.get(signature);
    if (matching.card === "one-to-one") {
      if (seen !== undefined) {
        throw executionError(
          "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
        );
      }
      produced.set(signature, null);
    } else {
      const results = seen ?? new Set<string>();
      const key = keyOfLabels(labels);
      if (results.has(key)) {
        throw executionError(
          "multiple matches for labels: grouping labels must ensure unique matches",
        );
      }
      results.add(key);
      produced.set(signature, results);
    }

    out.push({ labels, t: ts, v: returnBool ? (keep ? 1 : 0) : value });
  }
  return out;
}

function duplicateOnOneSide(
  sample: VectorSample,
  earlier: VectorSample,
  matching: VectorMatching,
  swapped: boolean,
) {
  const side = swapped ? "left" : "right";
  const group = formatLabels(matchingLabels(sample.labels, matching));
  return executionError(
    `found duplicate series for the match group ${group} on the ${side} hand-side of the operation: ` +
      `[${formatLabels(sample.labels)}, ${formatLabels(earlier.labels)}]` +
      ";many-to-many matching not allowed: matching labels must be unique on one side",
  );
}

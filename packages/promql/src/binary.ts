/** PromQL binary operators: arithmetic, comparison and set operators, with vector matching. */
import type { ArithmeticOp, BinaryExpr, ComparisonOp, SetOp } from "./ast.ts";
import { dropsMetricName, elementBinop, isComparisonOp, scalarBinop } from "./binary-elements.ts";
import { DEFAULT_MATCHING } from "./binary-matching.ts";
import { setBinop } from "./binary-set.ts";
import { vectorBinop } from "./binary-vector.ts";
import { withoutMetricName } from "./eval-labels.ts";
import type { Value, Vector } from "./values.ts";

/** Applies `node.op` to two evaluated operands (scalar or vector) at one step. */
export function binary(node: BinaryExpr, lhs: Value, rhs: Value, ts: number): Value {
  const { op } = node;
  if (lhs.type === "scalar" && rhs.type === "scalar") {
    if (isSetOp(op)) throw new Error(`set operator ${op} between scalars`);
    return { type: "scalar", t: ts, v: scalarBinop(op, lhs.v, rhs.v) };
  }
  if (lhs.type === "vector" && rhs.type === "vector") {
    const matching = node.matching ?? DEFAULT_MATCHING;
    const value = isSetOp(op)
      ? atStep(setBinop(op, lhs.value, rhs.value, matching), ts)
      : vectorBinop(op, lhs.value, rhs.value, matching, node.returnBool, ts);
    return { type: "vector", value };
  }
  if (lhs.type === "vector" && rhs.type === "scalar" && !isSetOp(op)) {
    return {
      type: "vector",
      value: vectorScalarBinop(op, lhs.value, rhs.v, false, node.returnBool, ts),
    };
  }
  if (lhs.type === "scalar" && rhs.type === "vector" && !isSetOp(op)) {
    return {
      type: "vector",
      value: vectorScalarBinop(op, rhs.value, lhs.v, true, node.returnBool, ts),
    };
  }
  throw new Error(`operator ${op} is not defined between ${lhs.type} and ${rhs.type}`);
}

function isSetOp(op: BinaryExpr["op"]): op is SetOp {
  return op === "and" || op === "or" || op === "unless";
}

function atStep(vector: Vector, ts: number): Vector {
  return vector.map((sample) => (sample.t === ts ? sample : { ...sample, t: ts }));
}

/**
 * A vector against a scalar, as Prometheus' `VectorscalarBinop`. `scalarOnLeft` restores the
 * operands' order; a comparison filter keeps the vector's value whichever side it is on.
 */
function vectorScalarBinop(
  op: ArithmeticOp | ComparisonOp,
  vector: Vector,
  scalar: number,
  scalarOnLeft: boolean,
  returnBool: boolean,
  ts: number,
): Vector {
  const out: Vector = [];
  for (const sample of vector) {
    const [left, right] = scalarOnLeft ? [scalar, sample.v] : [sample.v, scalar];
    const result = elementBinop(op, left, right);
    let value = isComparisonOp(op) ? sample.v : result.value;
    if (returnBool) value = result.keep ? 1 : 0;
    else if (!result.keep) continue;
    const labels =
      dropsMetricName(op) || returnBool ? withoutMetricName(sample.labels) : sample.labels;
    out.push({ labels, t: ts, v: value });
  }
  return out;
}

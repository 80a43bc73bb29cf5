/**
 * Arithmetic and comparison over series-by-series operands, with the results of `binary` at
 * every step: a vector against a scalar, or two vectors matched as `vectorBinop` matches them.
 * Signatures and result labels are worked out once per series, not once per step. Each output
 * series comes from one series of the vector (the "many" side) and keeps its order, so every
 * step lists its samples as `binary` would. Where that does not hold — a series whose result
 * labels change between steps, two outputs with one label set — or where a step fails, the
 * answer is undefined and the caller evaluates step by step, which also reports the error.
 */
import type { ArithmeticOp, BinaryExpr, ComparisonOp } from "./ast.ts";
import { arithmetic, compare, dropsMetricName, isArithmeticOp } from "./binary-elements.ts";
import { DEFAULT_MATCHING, matchingSignature, resultLabelsOfPair } from "./binary-matching.ts";
import { ColumnPool, type ColumnSeries, type ColumnsValue } from "./eval-columns.ts";
import type { EvalContext } from "./eval-context.ts";
import type { GridValue } from "./eval-grid.ts";
import { keyOfLabels, withoutMetricName } from "./eval-labels.ts";
import type { Labels } from "./values.ts";

type Operand = GridValue | ColumnsValue;

export async function binaryColumns(
  ctx: EvalContext,
  node: BinaryExpr,
  lhs: Operand,
  rhs: Operand,
): Promise<ColumnsValue | undefined> {
  const op = node.op;
  if (op === "and" || op === "or" || op === "unless") return undefined;
  if (lhs.type === "columns" && rhs.type === "scalar") {
    return withScalar(ctx, op, lhs, rhs.steps, false, node.returnBool);
  }
  if (lhs.type === "scalar" && rhs.type === "columns") {
    return withScalar(ctx, op, rhs, lhs.steps, true, node.returnBool);
  }
  if (lhs.type === "columns" && rhs.type === "columns") {
    return matched(ctx, node, op, lhs, rhs);
  }
  return undefined;
}

/** As `binary`'s vector–scalar case: a comparison filter keeps the vector's value. */
async function withScalar(
  ctx: EvalContext,
  op: ArithmeticOp | ComparisonOp,
  vector: ColumnsValue,
  scalar: number[],
  scalarOnLeft: boolean,
  returnBool: boolean,
): Promise<ColumnsValue | undefined> {
  const dropName = dropsMetricName(op) || returnBool;
  const arithmeticOp = isArithmeticOp(op) ? op : undefined;
  const pool = new ColumnPool(vector.steps);
  const out: ColumnsValue = { type: "columns", series: [], steps: vector.steps };
  for (const source of vector.series) {
    const column = pool.column(dropName ? withoutMetricName(source.labels) : source.labels);
    for (let i = 0; i < vector.steps; i++) {
      if (source.present[i] !== 1) continue;
      const v = source.values[i] as number;
      const s = scalar[i] ?? Number.NaN;
      const left = scalarOnLeft ? s : v;
      const right = scalarOnLeft ? v : s;
      const keep = arithmeticOp !== undefined || compare(op as ComparisonOp, left, right);
      let value = arithmeticOp === undefined ? v : arithmetic(arithmeticOp, left, right);
      if (returnBool) value = keep ? 1 : 0;
      else if (!keep) continue;
      column.values[i] = value;
      column.present[i] = 1;
      column.count++;
    }
    if (column.count > 0) out.series.push(column);
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  if (!distinctLabels(out.series)) return undefined;
  ctx.hold(countOf(out));
  return out;
}

/** As `vectorBinop`, step by step over integer signatures. */
async function matched(
  ctx: EvalContext,
  node: BinaryExpr,
  op: ArithmeticOp | ComparisonOp,
  lhs: ColumnsValue,
  rhs: ColumnsValue,
): Promise<ColumnsValue | undefined> {
  const matching = node.matching ?? DEFAULT_MATCHING;
  if (matching.card === "many-to-many") return undefined;
  const swapped = matching.card === "one-to-many";
  const many = swapped ? rhs : lhs;
  const one = swapped ? lhs : rhs;
  const steps = lhs.steps;
  // The operator is looked at once, not once a sample.
  const arithmeticOp = isArithmeticOp(op) ? op : undefined;

  const signatureIds = new Map<string, number>();
  const idOf = (labels: Labels): number => {
    const signature = matchingSignature(labels, matching);
    let id = signatureIds.get(signature);
    if (id === undefined) {
      id = signatureIds.size;
      signatureIds.set(signature, id);
    }
    return id;
  };
  const manySignature = Int32Array.from(many.series, (s) => idOf(s.labels));
  const oneSignature = Int32Array.from(one.series, (s) => idOf(s.labels));
  const partnerOf = new Int32Array(signatureIds.size);
  const producedAt = new Int32Array(signatureIds.size);
  const resultsAt = new Map<number, Set<string>>();
  // The partner each many-side series had last, and the labels that pair gave.
  const lastPartner = new Int32Array(many.series.length).fill(-1);
  const labelsOf: (Labels | undefined)[] = new Array(many.series.length);
  const columns: (ColumnSeries | undefined)[] = new Array(many.series.length);
  const pool = new ColumnPool(steps);

  for (let i = 0; i < steps; i++) {
    if (!anyPresent(many, i) || !anyPresent(one, i)) continue;
    partnerOf.fill(-1);
    for (let o = 0; o < one.series.length; o++) {
      if ((one.series[o] as ColumnSeries).present[i] !== 1) continue;
      const signature = oneSignature[o] as number;
      // A duplicate on the "one" side fails the step.
      if (partnerOf[signature] !== -1) return undefined;
      partnerOf[signature] = o;
    }
    resultsAt.clear();
    for (let m = 0; m < many.series.length; m++) {
      const source = many.series[m] as ColumnSeries;
      if (source.present[i] !== 1) continue;
      const signature = manySignature[m] as number;
      const o = partnerOf[signature] as number;
      if (o === -1) continue;
      const partner = one.series[o] as ColumnSeries;
      const v = source.values[i] as number;
      const w = partner.values[i] as number;
      const left = swapped ? w : v;
      const right = swapped ? v : w;
      const keep = arithmeticOp !== undefined || compare(op as ComparisonOp, left, right);
      const value = arithmeticOp === undefined ? left : arithmetic(arithmeticOp, left, right);
      if (!keep && !node.returnBool) continue;

      let labels = labelsOf[m];
      if (lastPartner[m] !== o) {
        let pair = resultLabelsOfPair(source.labels, partner.labels, op, matching);
        if (node.returnBool) pair = withoutMetricName(pair);
        if (labels !== undefined && labels !== pair) return undefined;
        labels = pair;
        labelsOf[m] = pair;
        lastPartner[m] = o;
      }
      if (labels === undefined) return undefined;

      if (matching.card === "one-to-one") {
        if (producedAt[signature] === i + 1) return undefined;
        producedAt[signature] = i + 1;
      } else {
        let results = resultsAt.get(signature);
        if (results === undefined) {
          results = new Set();
          resultsAt.set(signature, results);
        }
        const key = keyOfLabels(labels);
        if (results.has(key)) return undefined;
        results.add(key);
      }

      let column = columns[m];
      if (column === undefined) {
        column = pool.column(labels);
        columns[m] = column;
      }
      column.values[i] = node.returnBool ? (keep ? 1 : 0) : value;
      column.present[i] = 1;
      column.count++;
    }
    if (ctx.shouldYield()) await ctx.yieldTurn();
  }
  const out: ColumnsValue = { type: "columns", series: [], steps };
  for (const column of columns) if (column !== undefined) out.series.push(column);
  if (!distinctLabels(out.series)) return undefined;
  ctx.hold(countOf(out));
  return out;
}

function anyPresent(value: ColumnsValue, step: number): boolean {
  for (const s of value.series) if (s.present[step] === 1) return true;
  return false;
}

function distinctLabels(series: readonly ColumnSeries[]): boolean {
  const seen = new Set<string>();
  for (const s of series) {
    const key = keyOfLabels(s.labels);
    if (seen.has(key)) return false;
    seen.add(key);
  }
  return true;
}

function countOf(value: ColumnsValue): number {
  let n = 0;
  for (const s of value.series) n += s.count;
  return n;
}

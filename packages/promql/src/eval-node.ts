/**
 * Evaluation of one syntax-tree node over a step grid, following Prometheus 2.42's evaluator:
 * selectors walk their series once, subqueries evaluate their inside once over their own
 * aligned steps, and functions, aggregations and operators are applied step by step. Where
 * that gives the same answers, instant vectors stay series by series (`ColumnsValue`):
 * selectors, range functions, external values, aggregations without a parameter and
 * arithmetic or comparison then need no object per sample.
 */
import { aggregate } from "./aggregate.ts";
import { aggregateColumns, aggregatesColumns } from "./aggregate-columns.ts";
import type {
  AggregateExpr,
  BinaryExpr,
  Expr,
  ExternalExpr,
  FunctionCall,
  SubqueryExpr,
  UnaryExpr,
  VectorSelector,
} from "./ast.ts";
import { binary } from "./binary.ts";
import { binaryColumns } from "./binary-columns.ts";
import { executionError } from "./errors.ts";
import {
  type ColumnsValue,
  columnsAtSteps,
  columnsPointCount,
  columnsToSeries,
  columnsToSteps,
} from "./eval-columns.ts";
import type { EvalContext } from "./eval-context.ts";
import {
  firstStepOf,
  type GridValue,
  pointCount,
  type RangeValue,
  type StepGrid,
  stepCount,
  stepTime,
} from "./eval-grid.ts";
import { callOverRanges } from "./eval-range-calls.ts";
import { selectInstant, selectInstantColumns, withoutStaleMarkers } from "./eval-selectors.ts";
import {
  assertUniqueLabelSets,
  DUPLICATE_LABELSET,
  paramAtStep,
  sampleAt,
  seriesOverSteps,
  unwrapParens,
  valueAtStep,
} from "./eval-steps.ts";
import { callFunction } from "./functions.ts";
import {
  dropMetricName,
  type Labels,
  labelsKey,
  type Series,
  type Value,
  type Vector,
} from "./values.ts";

export class NodeEvaluator {
  private readonly ctx: EvalContext;
  /** Subexpressions pinned by `@`: evaluated at the first step only and repeated. */
  private readonly stepInvariant: ReadonlySet<Expr>;

  constructor(ctx: EvalContext, stepInvariant: ReadonlySet<Expr>) {
    this.ctx = ctx;
    this.stepInvariant = stepInvariant;
  }

  /** The node's value over the grid; its samples stay counted as held until released. */
  async eval(node: Expr, grid: StepGrid): Promise<GridValue> {
    return this.materialize(await this.evalAny(node, grid), grid);
  }

  /** As `eval`, but an instant vector may be answered series by series. */
  async evalAny(node: Expr, grid: StepGrid): Promise<GridValue | ColumnsValue> {
    if (this.stepInvariant.has(node) && stepCount(grid) > 1) {
      const firstStep = firstStepOf(grid);
      const once = await this.materialize(await this.evalNode(node, firstStep), firstStep);
      return this.repeatFirstStep(once, grid);
    }
    return this.evalNode(node, grid);
  }

  /** The value with an instant vector as per-step vectors. */
  async materialize(value: GridValue | ColumnsValue, grid: StepGrid): Promise<GridValue> {
    if (value.type !== "columns") return value;
    return { type: "vector", steps: await columnsToSteps(this.ctx, value, grid) };
  }

  release(value: GridValue | ColumnsValue): void {
    this.ctx.release(value.type === "columns" ? columnsPointCount(value) : pointCount(value));
  }

  private evalNode(
    node: Expr,
    grid: StepGrid,
  ): Promise<GridValue | ColumnsValue> | GridValue | ColumnsValue {
    switch (node.type) {
      case "number":
        return this.constantScalar(node.value, grid);
      case "string":
        return { type: "string", value: node.value };
      case "paren":
        return this.evalAny(node.expr, grid);
      case "vectorSelector":
        return this.evalVectorSelector(node, grid);
      case "matrixSelector":
        return this.rangeOfSelector(node.selector, node.rangeMs);
      case "subquery":
        return this.evalSubquery(node, grid);
      case "call":
        return this.evalCall(node, grid);
      case "aggregate":
        return this.evalAggregate(node, grid);
      case "binary":
        return this.evalBinary(node, grid);
      case "unary":
        return this.evalUnary(node, grid);
      case "external":
        return this.evalExternal(node, grid);
    }
  }

  private constantScalar(value: number, grid: StepGrid): GridValue {
    const steps = new Array<number>(stepCount(grid)).fill(value);
    this.ctx.hold(steps.length);
    return { type: "scalar", steps };
  }

  private repeatFirstStep(once: GridValue, grid: StepGrid): GridValue {
    const steps = stepCount(grid);
    switch (once.type) {
      case "scalar": {
        this.ctx.hold(steps - 1);
        return {
          type: "scalar",
          steps: new Array<number>(steps).fill(once.steps[0] ?? Number.NaN),
        };
      }
      case "vector": {
        const first = once.steps[0] ?? [];
        this.ctx.hold(first.length * (steps - 1));
        const out: Vector[] = [];
        for (let i = 0; i < steps; i++) {
          const ts = stepTime(grid, i);
          out.push(first.map((s) => ({ labels: s.labels, t: ts, v: s.v })));
        }
        return { type: "vector", steps: out };
      }
      default:
        // Range vectors and strings do not depend on the step.
        return once;
    }
  }

  private evalVectorSelector(node: VectorSelector, grid: StepGrid): Promise<ColumnsValue> {
    const at = this.ctx.atTime(node.at);
    return selectInstantColumns(
      this.ctx,
      this.ctx.seriesOf(node),
      grid,
      (ts) => (at ?? ts) - node.offsetMs,
    );
  }

  private rangeOfSelector(node: VectorSelector, rangeMs: number): RangeValue {
    const at = this.ctx.atTime(node.at);
    const read = this.ctx.seriesOf(node);
    let filtered: Series[] | undefined;
    return {
      type: "matrix",
      get series() {
        filtered ??= withoutStaleMarkers(read);
        return filtered;
      },
      unfilteredSeries: read,
      rangeMs,
      windowEnd: (ts) => (at ?? ts) - node.offsetMs,
      heldSamples: 0,
    };
  }

  /**
   * The inside is evaluated at the multiples of the subquery's step that fall in any window,
   * from the first one at or after the earliest window's start, as Prometheus does.
   */
  private async evalSubquery(node: SubqueryExpr, grid: StepGrid): Promise<RangeValue> {
    const at = this.ctx.atTime(node.at);
    const windowEnd = (ts: number): number => (at ?? ts) - node.offsetMs;
    const step = node.stepMs > 0 ? node.stepMs : this.ctx.settings.defaultSubqueryStepMs;
    const innerStart = Math.ceil((windowEnd(grid.start) - node.rangeMs) / step) * step;
    const innerEnd = windowEnd(grid.end);
    const range = { type: "matrix" as const, rangeMs: node.rangeMs, windowEnd };
    if (innerStart > innerEnd) return { ...range, series: [], heldSamples: 0 };
    const innerGrid = { start: innerStart, end: innerEnd, interval: step };
    // Every step of the inside is held at least as a slot, data or not: bound them before any
    // is made, or `x[1d:1ms]` would allocate gigabytes and hold the worker.
    this.ctx.checkSteps(stepCount(innerGrid));
    const inner = await this.evalAny(node.expr, innerGrid);
    const held = inner.type === "columns" ? columnsPointCount(inner) : pointCount(inner);
    const series =
      (inner.type === "columns" ? await columnsToSeries(this.ctx, inner, innerGrid) : undefined) ??
      (await seriesOverSteps(this.ctx, await this.materialize(inner, innerGrid), innerGrid));
    return { ...range, series, heldSamples: held };
  }

  private async evalCall(node: FunctionCall, grid: StepGrid): Promise<GridValue | ColumnsValue> {
    const first = node.args[0] === undefined ? undefined : unwrapParens(node.args[0]);
    if (node.name === "timestamp" && first?.type === "vectorSelector") {
      return this.evalTimestampOfSelector(node, first, grid);
    }
    const args: GridValue[] = [];
    for (const arg of node.args) args.push(await this.eval(arg, grid));
    const rangeIndex = args.findIndex((arg) => arg.type === "matrix");
    const result =
      rangeIndex < 0
        ? await this.applyPerStep(grid, (i, ts) =>
            callFunction(
              node.name,
              args.map((arg) => valueAtStep(arg, i, ts)),
              { ts, rangeStart: ts, rangeEnd: ts, call: node },
            ),
          )
        : await callOverRanges(this.ctx, node, args, rangeIndex, grid);
    for (const arg of args) this.release(arg);
    return result;
  }

  /** `timestamp(selector)` answers the selected samples' own times, so it reads the selector. */
  private async evalTimestampOfSelector(
    node: FunctionCall,
    selector: VectorSelector,
    grid: StepGrid,
  ): Promise<GridValue> {
    const at = this.ctx.atTime(selector.at);
    const selected = await selectInstant(this.ctx, this.ctx.seriesOf(selector), grid, {
      refTime: (ts) => (at ?? ts) - selector.offsetMs,
      keepSampleTime: true,
    });
    const result = await this.applyPerStep(grid, (i, ts) =>
      callFunction(node.name, [{ type: "vector", value: selected[i] ?? [] }], {
        ts,
        rangeStart: ts,
        rangeEnd: ts,
        call: node,
      }),
    );
    for (const vector of selected) this.ctx.release(vector.length);
    return result;
  }

  private async evalAggregate(node: AggregateExpr, grid: StepGrid): Promise<GridValue> {
    const param = node.param === undefined ? undefined : await this.eval(node.param, grid);
    const evaluated = await this.evalAny(node.expr, grid);
    if (evaluated.type === "columns" && aggregatesColumns(node)) {
      const steps = await aggregateColumns(this.ctx, node, evaluated, grid);
      if (param !== undefined) this.release(param);
      this.release(evaluated);
      return { type: "vector", steps };
    }
    const input = await this.materialize(evaluated, grid);
    const result = await this.applyPerStep(grid, (i, ts) => {
      const vector = input.type === "vector" ? (input.steps[i] ?? []) : [];
      return { type: "vector", value: aggregate(node, vector, paramAtStep(param, i), ts) };
    });
    if (param !== undefined) this.release(param);
    this.release(input);
    return result;
  }

  private async evalBinary(node: BinaryExpr, grid: StepGrid): Promise<GridValue | ColumnsValue> {
    const lhsAny = await this.evalAny(node.lhs, grid);
    const rhsAny = await this.evalAny(node.rhs, grid);
    const columns = await binaryColumns(this.ctx, node, lhsAny, rhsAny);
    if (columns !== undefined) {
      this.release(lhsAny);
      this.release(rhsAny);
      return columns;
    }
    const lhs = await this.materialize(lhsAny, grid);
    const rhs = await this.materialize(rhsAny, grid);
    const result = await this.applyPerStep(grid, (i, ts) =>
      binary(node, valueAtStep(lhs, i, ts), valueAtStep(rhs, i, ts), ts),
    );
    this.release(lhs);
    this.release(rhs);
    return result;
  }

  /** Unary minus drops the metric name; as in Prometheus, clashes are checked over all steps. */
  private async evalUnary(node: UnaryExpr, grid: StepGrid): Promise<GridValue> {
    const operand = await this.eval(node.expr, grid);
    if (node.op === "+") return operand;
    if (operand.type === "scalar") return { type: "scalar", steps: operand.steps.map((v) => -v) };
    if (operand.type !== "vector") throw executionError(`unary minus on a ${operand.type}`);
    // Each input label set is renamed once; the renamed set is shared by all its samples.
    const renamed = new Map<Labels, Labels>();
    const sourceOf = new Map<string, string>();
    const steps: Vector[] = [];
    for (const vector of operand.steps) {
      const negated: Vector = [];
      for (const sample of vector) {
        let labels = renamed.get(sample.labels);
        if (labels === undefined) {
          labels = dropMetricName(sample.labels);
          const key = labelsKey(labels);
          const source = labelsKey(sample.labels);
          const seen = sourceOf.get(key);
          if (seen !== undefined && seen !== source) throw executionError(DUPLICATE_LABELSET);
          sourceOf.set(key, source);
          renamed.set(sample.labels, labels);
        }
        negated.push({ labels, t: sample.t, v: -sample.v });
      }
      steps.push(negated);
      if (this.ctx.shouldYield()) await this.ctx.yieldTurn();
    }
    return { type: "vector", steps };
  }

  /** Values computed elsewhere: a series counts at a step when it has a sample at that time. */
  private evalExternal(node: ExternalExpr, grid: StepGrid): GridValue | ColumnsValue {
    const series = this.ctx.settings.externals.get(node.key) ?? [];
    const steps = stepCount(grid);
    if (node.resultType === "scalar") {
      const values: number[] = [];
      for (let i = 0; i < steps; i++) {
        const ts = stepTime(grid, i);
        values.push(series[0] === undefined ? Number.NaN : (sampleAt(series[0], ts) ?? Number.NaN));
      }
      this.ctx.hold(values.length);
      return { type: "scalar", steps: values };
    }
    const columns = columnsAtSteps(series, grid);
    this.ctx.hold(columnsPointCount(columns));
    return columns;
  }

  /**
   * Applies `at` at every step, checking each vector for clashing label sets as Prometheus'
   * `rangeEval` does, and giving way to other work between steps.
   */
  private async applyPerStep(
    grid: StepGrid,
    at: (index: number, ts: number) => Value,
  ): Promise<GridValue> {
    const vectors: Vector[] = [];
    const scalars: number[] = [];
    for (let i = 0; i < stepCount(grid); i++) {
      const ts = stepTime(grid, i);
      const value = at(i, ts);
      if (value.type === "scalar") {
        scalars.push(value.v);
        this.ctx.hold(1);
      } else if (value.type === "vector") {
        assertUniqueLabelSets(value.value);
        vectors.push(value.value);
        this.ctx.hold(value.value.length);
      } else {
        throw executionError(`unexpected ${value.type} value at a step`);
      }
      if (this.ctx.shouldYield()) await this.ctx.yieldTurn();
    }
    if (scalars.length > 0 && vectors.length > 0) {
      throw executionError("an expression answered both scalars and vectors");
    }
    return scalars.length > 0
      ? { type: "scalar", steps: scalars }
      : { type: "vector", steps: vectors };
  }
}

/**
 * Prometheus' type checks (`checkAST`) over a freshly built syntax tree, in its order. They also
 * settle binary expressions' vector matching, which depends on the operand types.
 */
import type {
  AggregateExpr,
  BinaryExpr,
  BinaryOp,
  Expr,
  FunctionCall,
  ValueType,
  VectorSelector,
} from "./ast.ts";
import type { ParseContext } from "./parse-context.ts";
import { matchesEmpty } from "./parse-selectors.ts";
import { FUNCTIONS } from "./signatures.ts";
import { documentedType, typeOf } from "./typecheck.ts";

const COMPARISONS: ReadonlySet<BinaryOp> = new Set(["==", "!=", ">", "<", ">=", "<="]);
const SET_OPERATORS: ReadonlySet<BinaryOp> = new Set(["and", "or", "unless"]);

/** Checks `expr` and everything under it, recording errors on `ctx`; returns its type. */
export function checkTypes(ctx: ParseContext, expr: Expr): ValueType {
  switch (expr.type) {
    case "vectorSelector":
      checkSelector(ctx, expr);
      break;
    case "matrixSelector":
      checkSelector(ctx, expr.selector);
      break;
    case "subquery": {
      const inner = checkTypes(ctx, expr.expr);
      if (inner !== "vector") {
        ctx.typeError(
          ctx.startOf(expr),
          `subquery is only allowed on instant vector, got ${inner} instead`,
        );
      }
      break;
    }
    case "call":
      checkCall(ctx, expr);
      break;
    case "aggregate":
      checkAggregate(ctx, expr);
      break;
    case "binary":
      checkBinary(ctx, expr);
      break;
    case "unary": {
      const inner = checkTypes(ctx, expr.expr);
      if (inner !== "scalar" && inner !== "vector") {
        ctx.typeError(
          ctx.startOf(expr),
          `unary expression only allowed on expressions of type scalar or instant vector, got "${documentedType(inner)}"`,
        );
      }
      break;
    }
    case "paren":
      checkTypes(ctx, expr.expr);
      break;
    default:
      break;
  }
  return typeOf(expr);
}

function expectType(ctx: ParseContext, expr: Expr, want: ValueType, context: string): void {
  const type = checkTypes(ctx, expr);
  if (type !== want) {
    ctx.typeError(
      ctx.startOf(expr),
      `expected type ${documentedType(want)} in ${context}, got ${documentedType(type)}`,
    );
  }
}

function checkSelector(ctx: ParseContext, selector: VectorSelector): void {
  if (selector.name !== undefined) {
    const others = selector.matchers.slice(1).filter((matcher) => matcher.name === "__name__");
    for (const other of others) {
      ctx.typeError(
        ctx.startOf(selector),
        `metric name must not be set twice: ${JSON.stringify(selector.name)} or ${JSON.stringify(other.value)}`,
      );
    }
    return;
  }
  // Refuses selecting every series by accident (`{}`, `{job=~".*"}`).
  if (selector.matchers.every(matchesEmpty)) {
    ctx.typeError(
      ctx.startOf(selector),
      "vector selector must contain at least one non-empty matcher",
    );
  }
}

function checkCall(ctx: ParseContext, call: FunctionCall): void {
  const signature = FUNCTIONS[call.name];
  if (signature === undefined) return;
  const declared = signature.args.length;
  const given = call.args.length;
  const quoted = JSON.stringify(call.name);
  if (signature.optional === 0) {
    if (given !== declared) {
      ctx.typeError(
        ctx.startOf(call),
        `expected ${declared} argument(s) in call to ${quoted}, got ${given}`,
      );
    }
  } else {
    const least = declared - (signature.optional < 0 ? 1 : signature.optional);
    if (given < least) {
      ctx.typeError(
        ctx.startOf(call),
        `expected at least ${least} argument(s) in call to ${quoted}, got ${given}`,
      );
    } else if (signature.optional > 0 && given > declared) {
      ctx.typeError(
        ctx.startOf(call),
        `expected at most ${declared} argument(s) in call to ${quoted}, got ${given}`,
      );
    }
  }
  call.args.forEach((arg, index) => {
    if (index >= declared && signature.optional === 0) return;
    const want = signature.args[Math.min(index, declared - 1)];
    if (want !== undefined) expectType(ctx, arg, want, `call to function ${quoted}`);
  });
}

function checkAggregate(ctx: ParseContext, aggregate: AggregateExpr): void {
  expectType(ctx, aggregate.expr, "vector", "aggregation expression");
  if (aggregate.param === undefined) return;
  const want = aggregate.op === "count_values" ? "string" : "scalar";
  expectType(ctx, aggregate.param, want, "aggregation parameter");
}

function checkBinary(ctx: ParseContext, binary: BinaryExpr): void {
  const lhs = checkTypes(ctx, binary.lhs);
  const rhs = checkTypes(ctx, binary.rhs);
  const operator = ctx.operatorOf(binary);
  const setOperator = SET_OPERATORS.has(binary.op);
  const matching = binary.matching;
  if (binary.returnBool && !COMPARISONS.has(binary.op)) {
    ctx.typeError(operator, "bool modifier can only be used on comparison operators");
  }
  if (COMPARISONS.has(binary.op) && !binary.returnBool && lhs === "scalar" && rhs === "scalar") {
    ctx.typeError(operator, "comparisons between scalars must use BOOL modifier");
  }
  if (matching !== undefined) {
    if (setOperator && matching.card === "one-to-one") matching.card = "many-to-many";
    if (matching.on) {
      for (const label of matching.labels.filter((label) => matching.include.includes(label))) {
        ctx.typeError(
          operator,
          `label ${JSON.stringify(label)} must not occur in ON and GROUP clause at once`,
        );
      }
    }
  }
  const start = ctx.startOf(binary);
  if (lhs !== "scalar" && lhs !== "vector") {
    ctx.typeError(
      ctx.startOf(binary.lhs),
      "binary expression must contain only scalar and instant vector types",
    );
  }
  if (rhs !== "scalar" && rhs !== "vector") {
    ctx.typeError(
      ctx.startOf(binary.rhs),
      "binary expression must contain only scalar and instant vector types",
    );
  }
  if (matching !== undefined && (lhs !== "vector" || rhs !== "vector")) {
    if (matching.labels.length > 0) {
      ctx.typeError(start, "vector matching only allowed between instant vectors");
    }
    delete binary.matching;
  } else if (matching !== undefined && setOperator) {
    if (matching.card === "one-to-many" || matching.card === "many-to-one") {
      ctx.typeError(start, `no grouping allowed for "${binary.op}" operation`);
    }
  }
  if ((lhs === "scalar" || rhs === "scalar") && setOperator) {
    ctx.typeError(start, `set operator "${binary.op}" not allowed in binary scalar expression`);
  }
}

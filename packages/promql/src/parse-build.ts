/**
 * lezer's parse tree to the syntax tree, with the errors Prometheus 2 raises while parsing
 * (type errors come later, in parse-check.ts). The lezer grammar is newer than Prometheus 2.42:
 * what it accepts beyond 2.42 (duration arithmetic, fill modifiers, newer functions and
 * aggregations) is refused here.
 */
import type {
  AggregateExpr,
  AggregateOp,
  BinaryExpr,
  BinaryOp,
  Expr,
  FunctionCall,
  UnaryExpr,
  VectorMatching,
} from "./ast.ts";
import { childNodes, exprChildren, type ParseContext, type SyntaxNode } from "./parse-context.ts";
import {
  buildAt,
  buildMatrixSelector,
  buildOffset,
  buildSubquery,
  buildVectorSelector,
  groupingLabels,
  signedNumber,
  stringValue,
} from "./parse-selectors.ts";
import { FUNCTIONS } from "./signatures.ts";

export function buildExpr(ctx: ParseContext, node: SyntaxNode): Expr {
  switch (node.name) {
    case "NumberDurationLiteral":
      return ctx.located({ type: "number", value: signedNumber(ctx, node) }, node.from);
    case "StringLiteral":
      return ctx.located({ type: "string", value: stringValue(ctx, node) }, node.from);
    case "ParenExpr":
      return ctx.located({ type: "paren", expr: buildOnlyOperand(ctx, node) }, node.from);
    case "VectorSelector":
      return buildVectorSelector(ctx, node);
    case "MatrixSelector":
      return buildMatrixSelector(ctx, node, buildExpr);
    case "SubqueryExpr":
      return buildSubquery(ctx, node, buildExpr);
    case "OffsetExpr":
      return buildOffset(ctx, node, buildExpr);
    case "StepInvariantExpr":
      return buildAt(ctx, node, buildExpr);
    case "UnaryExpr":
      return buildUnary(ctx, node);
    case "BinaryExpr":
      return buildBinary(ctx, node);
    case "FunctionCall":
      return buildCall(ctx, node);
    case "AggregateExpr":
      return buildAggregate(ctx, node);
    case "AnchoredExpr":
    case "SmoothedExpr": {
      const modifier = node.lastChild ?? node;
      return ctx.fail(modifier.from, `the "${ctx.textOf(modifier)}" modifier is not supported`);
    }
    default:
      return ctx.fail(node.from, `unexpected ${JSON.stringify(ctx.textOf(node))}`);
  }
}

function buildOnlyOperand(ctx: ParseContext, node: SyntaxNode): Expr {
  const operand = exprChildren(node)[0];
  if (operand === undefined) return ctx.fail(node.to, "unexpected end of expression");
  return buildExpr(ctx, operand);
}

/** A sign before a number literal folds into it (`-1` is the number -1), as in Prometheus. */
function unary(ctx: ParseContext, op: "-" | "+", operand: Expr, from: number): Expr {
  if (operand.type === "number") {
    const value = op === "-" ? -operand.value : operand.value;
    return ctx.located({ type: "number", value }, from);
  }
  const node: UnaryExpr = { type: "unary", op, expr: operand };
  return ctx.located(node, from);
}

function buildUnary(ctx: ParseContext, node: SyntaxNode): Expr {
  const opNode = node.getChild("UnaryOp");
  const op = opNode !== null && ctx.textOf(opNode) === "+" ? "+" : "-";
  return unary(ctx, op, buildOnlyOperand(ctx, node), node.from);
}

const BINARY_OPERATORS: Readonly<Record<string, BinaryOp>> = {
  Pow: "^",
  Mul: "*",
  Div: "/",
  Mod: "%",
  Atan2: "atan2",
  Add: "+",
  Sub: "-",
  Eql: "==",
  Neq: "!=",
  Gtr: ">",
  Lss: "<",
  Gte: ">=",
  Lte: "<=",
  And: "and",
  Or: "or",
  Unless: "unless",
};

/** Binding strength of binary operators, as in Prometheus' grammar; `^` is right-associative. */
const PRECEDENCE: Record<BinaryExpr["op"], number> = {
  or: 1,
  and: 2,
  unless: 2,
  "==": 3,
  "!=": 3,
  "<": 3,
  "<=": 3,
  ">": 3,
  ">=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  atan2: 5,
  "^": 6,
};

/** Postfix modifiers, which lezer applies to everything on their left. */
const MODIFIER_NODES = new Set([
  "OffsetExpr",
  "StepInvariantExpr",
  "MatrixSelector",
  "SubqueryExpr",
]);

/**
 * lezer closes `a - b offset 1m` before it reads what follows, so in `a - b offset 1m / 2` the
 * division gets `a - b offset 1m` as its left side. Once the modifier has moved onto `b`, the
 * operators are put back in their precedence: `a - ((b offset 1m) / 2)`, as Prometheus reads it.
 */
function reassociate(binary: BinaryExpr): Expr {
  const { lhs } = binary;
  // A sign binds like `*`: looser than `^` (`-x offset 1m ^ 2` is `-((x offset 1m) ^ 2)`).
  if (lhs.type === "unary" && binary.op === "^") {
    return { ...lhs, expr: reassociate({ ...binary, lhs: lhs.expr }) };
  }
  if (lhs.type !== "binary") return binary;
  const outer = PRECEDENCE[binary.op];
  const inner = PRECEDENCE[lhs.op];
  if (outer < inner || (outer === inner && binary.op !== "^")) return binary;
  return { ...lhs, rhs: reassociate({ ...binary, lhs: lhs.rhs }) };
}

function buildBinary(ctx: ParseContext, node: SyntaxNode): Expr {
  const parts = childNodes(node);
  const [lhsNode, opNode] = parts;
  const rhsNode = parts[parts.length - 1];
  if (lhsNode === undefined || opNode === undefined || rhsNode === undefined || parts.length < 3) {
    return ctx.fail(node.from, "unexpected end of binary expression");
  }
  const op = BINARY_OPERATORS[opNode.name];
  if (op === undefined) {
    return ctx.fail(opNode.from, `operator "${ctx.textOf(opNode)}" is not supported`);
  }
  const binary: BinaryExpr = {
    type: "binary",
    op,
    lhs: buildExpr(ctx, lhsNode),
    rhs: buildExpr(ctx, rhsNode),
    returnBool: false,
    matching: { card: "one-to-one", on: false, labels: [], include: [] },
  };
  for (const modifier of parts.slice(2, -1)) {
    if (modifier.name === "BoolModifier") binary.returnBool = true;
    else if (modifier.name === "MatchingModifierClause") {
      binary.matching = buildMatching(ctx, modifier);
    } else if (modifier.name === "FillModifier") {
      ctx.fail(modifier.from, "fill modifiers are not supported");
    }
  }
  ctx.locateOperator(binary, opNode.from);
  if (MODIFIER_NODES.has(lhsNode.name)) return ctx.located(reassociate(binary), lhsNode.from);
  const sign = ctx.textOf(lhsNode)[0];
  const signedBase = lhsNode.name === "NumberDurationLiteral" && (sign === "-" || sign === "+");
  if (op === "^" && signedBase && binary.lhs.type === "number") {
    // lezer reads `-2 ^ 2` as `(-2) ^ 2`; in PromQL the sign applies to the power: `-(2 ^ 2)`.
    const magnitude = sign === "-" ? -binary.lhs.value : binary.lhs.value;
    binary.lhs = ctx.located({ type: "number", value: magnitude }, lhsNode.from + 1);
    ctx.located(binary, lhsNode.from + 1);
    const power: UnaryExpr = { type: "unary", op: sign, expr: binary };
    return ctx.located(power, lhsNode.from);
  }
  return ctx.located(binary, lhsNode.from);
}

function buildMatching(ctx: ParseContext, clause: SyntaxNode): VectorMatching {
  const [kind, labels, group, include] = childNodes(clause);
  const matching: VectorMatching = {
    card: "one-to-one",
    on: kind?.name === "On",
    labels: labels === undefined ? [] : groupingLabels(ctx, labels),
    include: include === undefined ? [] : groupingLabels(ctx, include),
  };
  if (group?.name === "GroupLeft") matching.card = "many-to-one";
  if (group?.name === "GroupRight") matching.card = "one-to-many";
  return matching;
}

function buildCall(ctx: ParseContext, node: SyntaxNode): Expr {
  const nameNode = node.getChild("FunctionIdentifier");
  const body = node.getChild("FunctionCallBody");
  if (nameNode === null || body === null) return ctx.fail(node.from, "unexpected function call");
  const name = ctx.textOf(nameNode);
  if (FUNCTIONS[name] === undefined) {
    return ctx.fail(node.from, `function "${name}" is not supported`);
  }
  const call: FunctionCall = {
    type: "call",
    name,
    args: exprChildren(body).map((arg) => buildExpr(ctx, arg)),
  };
  return ctx.located(call, node.from);
}

const AGGREGATE_OPS: ReadonlySet<string> = new Set<AggregateOp>([
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "stddev",
  "stdvar",
  "group",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
]);
const PARAMETER_OPS: ReadonlySet<string> = new Set(["topk", "bottomk", "quantile", "count_values"]);

function buildAggregate(ctx: ParseContext, node: SyntaxNode): Expr {
  const opNode = node.getChild("AggregateOp");
  const body = node.getChild("FunctionCallBody");
  if (opNode === null || body === null) return ctx.fail(node.from, "unexpected aggregation");
  const op = ctx.textOf(opNode).toLowerCase();
  if (!AGGREGATE_OPS.has(op)) return ctx.fail(node.from, `aggregation "${op}" is not supported`);
  const args = exprChildren(body);
  if (args.length === 0) ctx.fail(node.from, "no arguments for aggregate expression provided");
  const expected = PARAMETER_OPS.has(op) ? 2 : 1;
  if (args.length !== expected) {
    ctx.fail(
      node.from,
      `wrong number of arguments for aggregate expression provided, expected ${expected}, got ${args.length}`,
    );
  }
  const built = args.map((arg) => buildExpr(ctx, arg));
  const modifier = node.getChild("AggregateModifier");
  const labels = modifier?.getChild("GroupingLabels");
  const aggregate: AggregateExpr = {
    type: "aggregate",
    op: op as AggregateOp,
    expr: built[built.length - 1] as Expr,
    grouping: labels ? groupingLabels(ctx, labels) : [],
    without: modifier?.getChild("Without") != null,
  };
  if (expected === 2) aggregate.param = built[0] as Expr;
  return ctx.located(aggregate, node.from);
}

/**
 * Selectors and the postfix modifiers (`[range]`, `[range:step]`, `offset`, `@`) from lezer's
 * parse tree, with the checks Prometheus 2 makes while parsing them.
 */
import { RE2JS } from "re2js";
import type {
  AtModifier,
  Expr,
  LabelMatcher,
  MatchOp,
  MatrixSelector,
  SubqueryExpr,
  VectorSelector,
} from "./ast.ts";
import { childNodes, type ParseContext, type SyntaxNode } from "./parse-context.ts";
import {
  LiteralError,
  parseDurationToken,
  parseNumberToken,
  unquoteString,
} from "./parse-literals.ts";

/** A string literal's value; a malformed one fails the parse. */
export function stringValue(ctx: ParseContext, node: SyntaxNode): string {
  try {
    return unquoteString(ctx.textOf(node));
  } catch (error) {
    // Prometheus places string errors at the string's start.
    if (error instanceof LiteralError) ctx.fail(node.from, error.message);
    throw error;
  }
}

/** A label name written bare or quoted (`by ("a")`, `{"a"="b"}`). */
export function labelName(ctx: ParseContext, node: SyntaxNode): string {
  if (node.name === "QuotedLabelName") {
    const literal = node.getChild("StringLiteral");
    if (literal !== null) return stringValue(ctx, literal);
  }
  return ctx.textOf(node);
}

/** The labels of `by (…)`, `on (…)`, `group_left (…)` and the like. */
export function groupingLabels(ctx: ParseContext, node: SyntaxNode): string[] {
  return childNodes(node)
    .filter((child) => child.name === "LabelName" || child.name === "QuotedLabelName")
    .map((child) => labelName(ctx, child));
}

export function buildVectorSelector(ctx: ParseContext, node: SyntaxNode): VectorSelector {
  const identifier = node.getChild("Identifier");
  const matchers: LabelMatcher[] = [];
  const selector: VectorSelector = { type: "vectorSelector", matchers, offsetMs: 0 };
  if (identifier !== null) {
    selector.name = ctx.textOf(identifier);
    matchers.push({ name: "__name__", op: "=", value: selector.name });
  }
  const braces = node.getChild("LabelMatchers");
  if (braces !== null) {
    for (const child of childNodes(braces)) matchers.push(buildMatcher(ctx, child));
  }
  return ctx.located(selector, node.from);
}

function buildMatcher(ctx: ParseContext, node: SyntaxNode): LabelMatcher {
  if (node.name === "QuotedLabelName") {
    // `{"metric_name"}`: the name alone in braces.
    return { name: "__name__", op: "=", value: labelName(ctx, node) };
  }
  const [nameNode, opNode, valueNode] = childNodes(node);
  if (nameNode === undefined || opNode === undefined || valueNode === undefined) {
    return ctx.fail(node.from, `unexpected ${JSON.stringify(ctx.textOf(node))} in label matching`);
  }
  const matcher: LabelMatcher = {
    name: labelName(ctx, nameNode),
    op: ctx.textOf(opNode) as MatchOp,
    value: stringValue(ctx, valueNode),
  };
  if (matcher.op === "=~" || matcher.op === "!~") {
    try {
      anchoredRegex(matcher.value);
    } catch (error) {
      ctx.fail(node.from, error instanceof Error ? error.message : String(error));
    }
  }
  return matcher;
}

/** Prometheus anchors label regexes at both ends. */
function anchoredRegex(pattern: string): RE2JS {
  return RE2JS.compile(`^(?:${pattern})$`);
}

/** Whether a label absent from a series (the empty value) satisfies the matcher. */
export function matchesEmpty(matcher: LabelMatcher): boolean {
  switch (matcher.op) {
    case "=":
      return matcher.value === "";
    case "!=":
      return matcher.value !== "";
    case "=~":
      return anchoredRegex(matcher.value).matches("");
    case "!~":
      return !anchoredRegex(matcher.value).matches("");
  }
}

/** A range, subquery step or offset duration: one literal with units; arithmetic is refused. */
function durationLiteral(ctx: ParseContext, node: SyntaxNode): number {
  const parts = childNodes(node);
  const literal = parts[0];
  if (parts.length !== 1 || literal?.name !== "NumberDurationLiteralInDurationContext") {
    if (parts[0]?.name === "UnaryOp") {
      return ctx.fail(node.from, "ranges and subquery steps must be positive durations");
    }
    return ctx.fail(node.from, "duration expressions are not supported");
  }
  try {
    return parseDurationToken(ctx.textOf(literal));
  } catch (error) {
    if (error instanceof LiteralError) ctx.fail(literal.from, error.message);
    throw error;
  }
}

/** `offset 5m` or `offset -5m`. */
function offsetDuration(ctx: ParseContext, node: SyntaxNode): number {
  const [first, second] = childNodes(node);
  if (first?.name !== "UnaryOp") return durationLiteral(ctx, node);
  const sign = ctx.textOf(first);
  if (sign !== "-" || second === undefined || second.getChild("UnaryOp") !== null) {
    return ctx.fail(first.from, `unexpected "${sign}" in offset, expected duration`);
  }
  return -durationLiteral(ctx, second);
}

/**
 * lezer's grammar lets `[…]`, `offset` and `@` take the whole expression on their left;
 * Prometheus binds them tighter than any operator, to the operand just before them.
 */
function applyToLastOperand(expr: Expr, apply: (operand: Expr) => Expr): Expr {
  if (expr.type === "binary") {
    expr.rhs = applyToLastOperand(expr.rhs, apply);
    return expr;
  }
  if (expr.type === "unary") {
    expr.expr = applyToLastOperand(expr.expr, apply);
    return expr;
  }
  return apply(expr);
}

type BuildExpr = (ctx: ParseContext, node: SyntaxNode) => Expr;

export function buildMatrixSelector(ctx: ParseContext, node: SyntaxNode, build: BuildExpr): Expr {
  const [operandNode, rangeNode] = childNodes(node);
  if (operandNode === undefined || rangeNode === undefined) {
    return ctx.fail(node.from, "unexpected range selector");
  }
  const operand = build(ctx, operandNode);
  const rangeMs = durationLiteral(ctx, rangeNode);
  const bracket = ctx.text.lastIndexOf("[", rangeNode.from);
  return applyToLastOperand(operand, (selector) => {
    if (selector.type !== "vectorSelector") {
      return ctx.fail(bracket, "ranges only allowed for vector selectors");
    }
    if (selector.offsetMs !== 0) ctx.fail(bracket, "no offset modifiers allowed before range");
    if (selector.at !== undefined) ctx.fail(bracket, "no @ modifiers allowed before range");
    const matrix: MatrixSelector = { type: "matrixSelector", selector, rangeMs };
    return ctx.located(matrix, ctx.startOf(selector));
  });
}

export function buildSubquery(ctx: ParseContext, node: SyntaxNode, build: BuildExpr): Expr {
  const [operandNode, rangeNode, stepNode] = childNodes(node);
  if (operandNode === undefined || rangeNode === undefined) {
    return ctx.fail(node.from, "unexpected subquery");
  }
  const operand = build(ctx, operandNode);
  const rangeMs = durationLiteral(ctx, rangeNode);
  const stepMs = stepNode === undefined ? 0 : durationLiteral(ctx, stepNode);
  return applyToLastOperand(operand, (expr) => {
    const subquery: SubqueryExpr = { type: "subquery", expr, rangeMs, stepMs, offsetMs: 0 };
    return ctx.located(subquery, ctx.startOf(expr));
  });
}

const MODIFIER_TARGET_ERROR =
  "modifier must be preceded by an instant vector selector or range vector selector or a subquery";

/** The node an `offset` or `@` modifies: the selector of a range selector. */
function modifierTarget(
  ctx: ParseContext,
  operand: Expr,
  modifier: string,
): VectorSelector | SubqueryExpr {
  const target = operand.type === "matrixSelector" ? operand.selector : operand;
  if (target.type !== "vectorSelector" && target.type !== "subquery") {
    return ctx.fail(ctx.startOf(operand), `${modifier} ${MODIFIER_TARGET_ERROR}`);
  }
  return target;
}

export function buildOffset(ctx: ParseContext, node: SyntaxNode, build: BuildExpr): Expr {
  const [operandNode] = childNodes(node);
  const durationNode = node.getChild("OffsetDurationExpr");
  if (operandNode === undefined || durationNode === null) {
    return ctx.fail(node.from, "unexpected offset");
  }
  const operand = build(ctx, operandNode);
  const offsetMs = offsetDuration(ctx, durationNode);
  return applyToLastOperand(operand, (expr) => {
    const target = modifierTarget(ctx, expr, "offset");
    // A zero offset is refused by the duration checks, so 0 means "not set".
    if (target.offsetMs !== 0) ctx.fail(ctx.startOf(expr), "offset may not be set multiple times");
    target.offsetMs = offsetMs;
    return expr;
  });
}

export function buildAt(ctx: ParseContext, node: SyntaxNode, build: BuildExpr): Expr {
  const parts = childNodes(node);
  const operandNode = parts[0];
  const timeNode = parts[parts.length - 1];
  if (operandNode === undefined || timeNode === undefined || parts.length < 3) {
    return ctx.fail(node.from, "unexpected @");
  }
  const operand = build(ctx, operandNode);
  return applyToLastOperand(operand, (expr) => {
    const target = modifierTarget(ctx, expr, "@");
    if (target.at !== undefined) {
      ctx.fail(ctx.startOf(expr), "@ <timestamp> may not be set multiple times");
    }
    target.at = atModifier(ctx, timeNode, ctx.startOf(expr));
    return expr;
  });
}

const MAX_INT64 = 2 ** 63;

function atModifier(ctx: ParseContext, node: SyntaxNode, exprStart: number): AtModifier {
  if (node.name === "AtModifierPreprocessors") {
    return node.getChild("AtEnd") !== null ? { kind: "end" } : { kind: "start" };
  }
  const seconds = signedNumber(ctx, node);
  if (!Number.isFinite(seconds) || seconds >= MAX_INT64 || seconds <= -MAX_INT64) {
    ctx.fail(exprStart, `timestamp out of bounds for @ modifier: ${formatGoFloat(seconds)}`);
  }
  return { kind: "time", ms: roundHalfAwayFromZero(seconds * 1000) };
}

/** A number literal with an optional sign (`-1`, `+Inf`), as lezer groups them. */
export function signedNumber(ctx: ParseContext, node: SyntaxNode): number {
  const text = ctx.textOf(node);
  const sign = /^[-+]\s*/.exec(text)?.[0] ?? "";
  try {
    const value = parseNumberToken(text.slice(sign.length));
    return sign.startsWith("-") ? -value : value;
  } catch (error) {
    if (error instanceof LiteralError) ctx.fail(node.from + sign.length, error.message);
    throw error;
  }
}

/** Go's math.Round. */
function roundHalfAwayFromZero(value: number): number {
  const rounded = Math.sign(value) * Math.round(Math.abs(value));
  return rounded === 0 ? 0 : rounded;
}

/** Go's `%f`. */
function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  return value.toFixed(6);
}

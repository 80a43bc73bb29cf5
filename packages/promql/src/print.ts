/**
 * The syntax tree back to PromQL text (pushed down to Prometheus instances): text Prometheus 2
 * parses to the same meaning. Parentheses are added only where precedence needs them, so a
 * parsed query prints back to text that parses to the same tree.
 */

import type {
  AggregateExpr,
  AtModifier,
  BinaryExpr,
  BinaryOp,
  Expr,
  LabelMatcher,
  VectorMatching,
  VectorSelector,
} from "./ast.ts";
import { LABEL_NAME, METRIC_NAME } from "./parse-literals.ts";
import { KEYWORDS } from "./parse-syntax.ts";

export function printExpr(expr: Expr): string {
  switch (expr.type) {
    case "number":
      return printNumber(expr.value);
    case "string":
      return quote(expr.value);
    case "vectorSelector":
      return printSelector(expr) + printModifiers(expr.offsetMs, expr.at);
    case "matrixSelector": {
      const { offsetMs, at } = expr.selector;
      const range = `[${printDuration(expr.rangeMs)}]`;
      return printSelector(expr.selector) + range + printModifiers(offsetMs, at);
    }
    case "subquery": {
      const step = expr.stepMs === 0 ? "" : printDuration(expr.stepMs);
      const window = `[${printDuration(expr.rangeMs)}:${step}]`;
      return printPostfixOperand(expr.expr) + window + printModifiers(expr.offsetMs, expr.at);
    }
    case "call":
      return `${expr.name}(${expr.args.map(printExpr).join(", ")})`;
    case "aggregate":
      return printAggregate(expr);
    case "binary":
      return printBinary(expr);
    case "unary": {
      const operand = printExpr(expr.expr);
      // The sign binds like `*`: operands that bind looser need parentheses.
      if (expr.expr.type === "binary" && expr.expr.op !== "^") return `${expr.op}(${operand})`;
      return /^[-+]/.test(operand) ? `${expr.op} ${operand}` : expr.op + operand;
    }
    case "paren":
      return `(${printExpr(expr.expr)})`;
    case "external":
      throw new Error(`an evaluated subexpression ("${expr.key}") cannot be printed as PromQL`);
  }
}

function printNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Object.is(value, -0)) return "-0";
  return String(value);
}

/** A double-quoted string with Go escapes, which Prometheus' lexer reads back exactly. */
export function quote(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\t") out += "\\t";
    else if (char === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code >= 0xd800 && code < 0xe000) out += "\\ufffd";
    else out += char;
  }
  return `${out}"`;
}

const DURATION_UNITS: ReadonlyArray<readonly [string, number, boolean]> = [
  // Years and weeks only when exact: `90d` reads better than `12w6d`.
  ["y", 365 * 24 * 3600 * 1000, true],
  ["w", 7 * 24 * 3600 * 1000, true],
  ["d", 24 * 3600 * 1000, false],
  ["h", 3600 * 1000, false],
  ["m", 60 * 1000, false],
  ["s", 1000, false],
  ["ms", 1, false],
];

/** Prometheus' duration format (`1h30m`, `90d`, `1y`); milliseconds in, positive integers only. */
export function printDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new Error(`${ms}ms cannot be written as a PromQL duration`);
  }
  let rest = ms;
  let out = "";
  for (const [unit, unitMs, onlyExact] of DURATION_UNITS) {
    if (onlyExact && rest % unitMs !== 0) continue;
    const count = Math.floor(rest / unitMs);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * unitMs;
    }
  }
  return out;
}

function printModifiers(offsetMs: number, at: AtModifier | undefined): string {
  let out = "";
  if (offsetMs !== 0)
    out += ` offset ${offsetMs < 0 ? "-" : ""}${printDuration(Math.abs(offsetMs))}`;
  if (at !== undefined) out += ` @ ${printAt(at)}`;
  return out;
}

function printAt(at: AtModifier): string {
  switch (at.kind) {
    case "start":
      return "start()";
    case "end":
      return "end()";
    case "time":
      return printNumber(at.ms / 1000);
  }
}

/** Words that Prometheus' lexer or lezer's grammar read as keywords or numbers, not as names. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([...KEYWORDS, "inf", "nan"]);

function printSelector(selector: VectorSelector): string {
  const { name, matchers } = selector;
  const bareName =
    name !== undefined && METRIC_NAME.test(name) && !RESERVED_NAMES.has(name.toLowerCase());
  const nameIndex = bareName
    ? matchers.findIndex((m) => m.name === "__name__" && m.op === "=" && m.value === name)
    : -1;
  const rest = matchers.filter((_, index) => index !== nameIndex);
  const braces = `{${rest.map(printMatcher).join(", ")}}`;
  if (nameIndex < 0) return braces;
  return rest.length === 0 ? (name as string) : name + braces;
}

function printMatcher(matcher: LabelMatcher): string {
  return `${printLabelName(matcher.name)}${matcher.op}${quote(matcher.value)}`;
}

function printLabelName(name: string): string {
  if (!LABEL_NAME.test(name)) {
    throw new Error(`label name ${quote(name)} cannot be written in Prometheus 2's PromQL`);
  }
  return name;
}

function printLabelList(labels: string[]): string {
  // `inf` and `nan` would read as numbers inside the list.
  for (const label of labels) {
    if (/^(inf|nan)$/i.test(label)) {
      throw new Error(`label name ${quote(label)} cannot be written in a PromQL label list`);
    }
  }
  return `(${labels.map(printLabelName).join(", ")})`;
}

function printAggregate(aggregate: AggregateExpr): string {
  const grouping =
    aggregate.without || aggregate.grouping.length > 0
      ? ` ${aggregate.without ? "without" : "by"} ${printLabelList(aggregate.grouping)} `
      : "";
  const args = aggregate.param === undefined ? [aggregate.expr] : [aggregate.param, aggregate.expr];
  return `${aggregate.op}${grouping}(${args.map(printExpr).join(", ")})`;
}

/** Binding strength of the binary operators, tightest last. */
const PRECEDENCE: Readonly<Record<BinaryOp, number>> = {
  or: 1,
  and: 2,
  unless: 2,
  "==": 3,
  "!=": 3,
  ">": 3,
  "<": 3,
  ">=": 3,
  "<=": 3,
  "+": 4,
  "-": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  atan2: 5,
  "^": 6,
};

function printBinary(binary: BinaryExpr): string {
  const precedence = PRECEDENCE[binary.op];
  const rightAssociative = binary.op === "^";
  const lhs = printOperand(binary.lhs, (inner) =>
    rightAssociative ? inner <= precedence : inner < precedence,
  );
  const rhs = printOperand(binary.rhs, (inner) =>
    rightAssociative ? inner < precedence : inner <= precedence,
  );
  // A sign before `^`'s base would apply to the whole power.
  const signedBase = rightAssociative && /^[-+]/.test(lhs);
  const modifiers = (binary.returnBool ? " bool" : "") + printMatching(binary);
  return `${signedBase ? `(${lhs})` : lhs} ${binary.op}${modifiers} ${rhs}`;
}

function printOperand(operand: Expr, needsParens: (precedence: number) => boolean): string {
  const text = printExpr(operand);
  return operand.type === "binary" && needsParens(PRECEDENCE[operand.op]) ? `(${text})` : text;
}

function printMatching(binary: BinaryExpr): string {
  const matching: VectorMatching | undefined = binary.matching;
  if (matching === undefined) return "";
  const grouped = matching.card === "many-to-one" || matching.card === "one-to-many";
  if (!matching.on && matching.labels.length === 0 && !grouped) return "";
  let out = ` ${matching.on ? "on" : "ignoring"}${printLabelList(matching.labels)}`;
  if (grouped) {
    // Always with its list: a parenthesised right operand would be read as the list.
    const side = matching.card === "many-to-one" ? "group_left" : "group_right";
    out += ` ${side}${printLabelList(matching.include)}`;
  }
  return out;
}

/** The operand of `[…:…]`: anything looser than a selector or call needs parentheses. */
function printPostfixOperand(expr: Expr): string {
  const text = printExpr(expr);
  const tight =
    expr.type === "vectorSelector" ||
    expr.type === "call" ||
    expr.type === "aggregate" ||
    expr.type === "paren" ||
    expr.type === "string" ||
    expr.type === "number";
  return tight && !/^[-+]/.test(text) ? text : `(${text})`;
}

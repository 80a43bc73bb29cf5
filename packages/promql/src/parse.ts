/** PromQL text to the syntax tree, with Prometheus' type checks. */
import { parser } from "@prometheus-io/lezer-promql";
import type { Expr } from "./ast.ts";
import { badData } from "./errors.ts";
import { buildExpr } from "./parse-build.ts";
import { checkTypes } from "./parse-check.ts";
import { exprChildren, ParseContext } from "./parse-context.ts";
import { LiteralError, parseUnitDuration } from "./parse-literals.ts";
import { throwSyntaxError } from "./parse-syntax.ts";

/** Parses and type-checks a query; a PromQLError of kind `bad_data` names what is wrong. */
export function parse(text: string): Expr {
  const ctx = new ParseContext(text);
  if (/^(\s|#[^\n]*)*$/.test(text)) ctx.fail(0, "no expression found in input");
  const tree = parser.parse(bridgeLexerGaps(text));
  throwSyntaxError(ctx, tree);
  const root = exprChildren(tree.topNode)[0];
  if (root === undefined) return ctx.fail(0, "no expression found in input");
  const expr = buildExpr(ctx, root);
  checkTypes(ctx, expr);
  ctx.throwFirstTypeError();
  return expr;
}

const LEXER_GAPS =
  /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`|#[^\n]*|(?<![\w.:])(?:(\d+)\.(?![\w.])|0X(?=[0-9a-fA-F]))/g;

/**
 * Prometheus reads `5.` as the number 5 and `0X1f` as hex; lezer's grammar has neither. They
 * become `5 ` and `0x1f` (strings and comments untouched, lengths kept for the positions in
 * messages).
 */
function bridgeLexerGaps(text: string): string {
  return text.replace(LEXER_GAPS, (match, digits?: string) => {
    if (digits !== undefined) return `${digits} `;
    return match === "0X" ? "0x" : match;
  });
}

const FLOAT_SECONDS = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const MAX_DURATION_MS = 2 ** 63 / 1e6;

/**
 * A duration parameter of the HTTP API (`step`, `timeout`, `lookback_delta`) in milliseconds:
 * float seconds (`15`, `0.5`) or a duration with units (`5m`, `1h30m`), as Prometheus accepts.
 */
export function parseDuration(text: string): number {
  if (FLOAT_SECONDS.test(text)) {
    const ms = Number(text) * 1000;
    if (Math.abs(ms) > MAX_DURATION_MS) {
      throw badData(`cannot parse "${text}" to a valid duration. It overflows int64`);
    }
    // time.Duration keeps whole nanoseconds.
    return Math.trunc(ms * 1e6) / 1e6;
  }
  try {
    return parseUnitDuration(text);
  } catch (error) {
    if (error instanceof LiteralError) {
      throw badData(`cannot parse "${text}" to a valid duration`);
    }
    throw error;
  }
}

/**
 * Syntax errors: where lezer's parse tree first has an error node, and a reason worded like
 * Prometheus' (`unexpected identifier "bar"`, `unclosed left parenthesis`, …), found by
 * re-reading the tokens up to that point.
 */
import type { ParseContext } from "./parse-context.ts";

type Tree = ReturnType<typeof import("@prometheus-io/lezer-promql").parser.parse>;

interface Token {
  kind: "string" | "unterminated" | "number" | "duration" | "identifier" | "symbol";
  from: number;
  text: string;
}

const WORD_OPERATORS: ReadonlySet<string> = new Set(["and", "or", "unless", "atan2"]);
/** Words lezer and Prometheus' lexer read as keywords, not as names. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  ...WORD_OPERATORS,
  "bool",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "offset",
  "by",
  "without",
]);

/** Functions of Prometheus 2 this engine does not evaluate (lezer's grammar has dropped some). */
const UNSUPPORTED_FUNCTIONS: ReadonlySet<string> = new Set(["holt_winters"]);

const OPERATORS: ReadonlySet<string> = new Set([
  "+",
  "-",
  "*",
  "/",
  "%",
  "^",
  "==",
  "!=",
  ">",
  "<",
  ">=",
  "<=",
  "=~",
  "!~",
]);
const CLOSING: Readonly<Record<string, string>> = { ")": "(", "]": "[", "}": "{" };
const UNCLOSED: Readonly<Record<string, string>> = {
  "(": "unclosed left parenthesis",
  "[": "unclosed left bracket",
  "{": "unexpected end of input inside braces",
};
const UNOPENED: Readonly<Record<string, string>> = {
  ")": "unexpected right parenthesis ')'",
  "]": "unexpected right bracket ']'",
  "}": "unexpected right brace '}'",
};

/** Fails the parse at the first error lezer recovered from, if any. */
export function throwSyntaxError(ctx: ParseContext, tree: Tree): void {
  let errorAt: number | undefined;
  tree.iterate({
    enter: (node) => {
      if (errorAt !== undefined) return false;
      if (node.type.isError) {
        errorAt = node.from;
        return false;
      }
      return undefined;
    },
  });
  if (errorAt === undefined) return;
  const { offset, reason } = describeError(ctx.text, errorAt);
  ctx.fail(offset, reason);
}

function describeError(text: string, errorAt: number): { offset: number; reason: string } {
  const open: Token[] = [];
  let previous: Token | undefined;
  for (const token of tokens(text)) {
    if (token.kind === "unterminated") {
      return { offset: token.from, reason: "unterminated quoted string" };
    }
    const closes = CLOSING[token.text];
    if (token.from >= errorAt) return unexpectedToken(token, previous, open);
    if (token.kind === "symbol" && UNCLOSED[token.text] !== undefined) open.push(token);
    if (token.kind === "symbol" && closes !== undefined) {
      if (open[open.length - 1]?.text !== closes) {
        // Prometheus' lexer reports a stray closing bracket just after it.
        return { offset: token.from + 1, reason: UNOPENED[token.text] ?? "unexpected" };
      }
      open.pop();
    }
    previous = token;
  }
  const innermost = open[open.length - 1];
  const reason = innermost === undefined ? undefined : UNCLOSED[innermost.text];
  return { offset: text.length, reason: reason ?? "unexpected end of input" };
}

function unexpectedToken(
  token: Token,
  previous: Token | undefined,
  open: Token[],
): { offset: number; reason: string } {
  if (token.text === "(" && previous?.kind === "identifier" && !KEYWORDS.has(previous.text)) {
    const reason = UNSUPPORTED_FUNCTIONS.has(previous.text)
      ? `function "${previous.text}" is not supported`
      : `unknown function with name "${previous.text}"`;
    return { offset: previous.from, reason };
  }
  if (token.text === ")" && previous?.text === "," && open[open.length - 1]?.text === "(") {
    return { offset: previous.from, reason: "trailing commas not allowed in function call args" };
  }
  if ((token.text === "]" || token.text === ":") && previous?.text === "[") {
    return { offset: token.from, reason: "missing unit character in duration" };
  }
  const closes = CLOSING[token.text];
  if (closes !== undefined && open[open.length - 1]?.text !== closes) {
    const reason = UNOPENED[token.text] ?? `unexpected "${token.text}"`;
    return { offset: token.from + 1, reason };
  }
  return { offset: token.from, reason: `unexpected ${describeToken(token)}` };
}

function describeToken(token: Token): string {
  switch (token.kind) {
    case "identifier": {
      const word = token.text.toLowerCase();
      if (WORD_OPERATORS.has(word)) return `<op:${token.text}>`;
      if (KEYWORDS.has(word)) return `<${token.text}>`;
      return `identifier ${JSON.stringify(token.text)}`;
    }
    case "number":
      return `number ${JSON.stringify(token.text)}`;
    case "duration":
      return `duration ${JSON.stringify(token.text)}`;
    case "string":
    case "unterminated":
      return `string ${JSON.stringify(token.text)}`;
    case "symbol":
      return OPERATORS.has(token.text) ? `<op:${token.text}>` : JSON.stringify(token.text);
  }
}

const TOKEN_PATTERNS: ReadonlyArray<readonly [Token["kind"] | "skip", RegExp]> = [
  ["skip", /\s+|#[^\n]*/y],
  ["string", /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`/y],
  ["unterminated", /["'`]/y],
  ["duration", /(?:\d+(?:ms|[ywdhms]))+(?![\w.])/y],
  ["number", /0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y],
  ["identifier", /[a-zA-Z_:][a-zA-Z0-9_:]*/y],
  ["symbol", /==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}[\],:@!]/y],
];

function* tokens(text: string): Generator<Token> {
  let at = 0;
  while (at < text.length) {
    let matched = false;
    for (const [kind, pattern] of TOKEN_PATTERNS) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (match === null) continue;
      if (kind !== "skip") yield { kind, from: at, text: match[0] };
      at += match[0].length;
      matched = true;
      break;
    }
    if (!matched) {
      yield { kind: "symbol", from: at, text: text[at] ?? "" };
      at += 1;
    }
  }
}

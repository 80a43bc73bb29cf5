/**
 * How deep and how large a statement is, measured without recursion, so the answer is known
 * before the parser, the binder or the evaluator recurse into it.
 */

/**
 * How deep a statement may nest. The parser, the binder, the optimizer, the evaluator and the
 * structured clone that carries a syntax tree between threads all recurse; each survives at
 * least a few times this depth on a default stack, and hand-written SQL stays far below it.
 */
export const MAX_SQL_DEPTH = 200;

/**
 * The offset of the first `(` that opens more than `maxDepth` parentheses at once, or -1.
 * Parentheses leave no node of their own in the syntax tree, yet the parser recurses through
 * each one. Strings, quoted names and comments are skipped as the parser reads them.
 */
export function parenthesesTooDeepAt(text: string, maxDepth: number): number {
  // A text shorter than the limit cannot open that many parentheses.
  if (text.length <= maxDepth) return -1;
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "'" || c === '"') i = quotedEnd(text, i);
    else if (c === "-" && text[i + 1] === "-") i = lineEnd(text, i);
    else if (c === "/" && text[i + 1] === "*") i = blockCommentEnd(text, i);
    else {
      if (c === "(" && ++depth > maxDepth) return i;
      if (c === ")") depth = Math.max(0, depth - 1);
      i++;
    }
  }
  return -1;
}

/** Just past the quote that closes the one at `start`; a doubled quote stands for itself. */
function quotedEnd(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    if (text[i] !== quote) i++;
    else if (text[i + 1] === quote) i += 2;
    else return i + 1;
  }
  return i;
}

function lineEnd(text: string, start: number): number {
  const end = text.indexOf("\n", start);
  return end < 0 ? text.length : end;
}

function blockCommentEnd(text: string, start: number): number {
  const end = text.indexOf("*/", start + 2);
  return end < 0 ? text.length : end + 2;
}

export type TreeVerdict =
  | { kind: "ok" }
  | { kind: "too-deep"; maxDepth: number }
  | { kind: "too-large"; maxNodes: number };

/**
 * Whether a syntax tree nests more than `maxDepth` nodes deep or holds more than `maxNodes`.
 * A node is an object with a `type` (an expression, a clause, a statement): each nested
 * expression, subquery, CASE, NOT and UNION member, and each operator of a chain such as
 * `a OR b OR c`, adds one level.
 */
export function treeVerdict(ast: unknown, maxDepth: number, maxNodes: number): TreeVerdict {
  let nodes = 0;
  const pending: { value: unknown; depth: number }[] = [{ value: ast, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value } = next;
    if (value === null || typeof value !== "object") continue;
    let depth = next.depth;
    if (typeof (value as { type?: unknown }).type === "string") {
      if (++depth > maxDepth) return { kind: "too-deep", maxDepth };
      if (++nodes > maxNodes) return { kind: "too-large", maxNodes };
    }
    for (const child of Object.values(value)) {
      if (child !== null && typeof child === "object") pending.push({ value: child, depth });
    }
  }
  return { kind: "ok" };
}

/**
 * The time range each selector of a query must read, as Prometheus 2.42's
 * `getTimeRangesForSelector`: the evaluation range widened by the lookback (instant selectors)
 * or the range (range selectors), by enclosing subqueries' ranges and offsets, and moved by
 * offsets and `@`.
 */
import type { AtModifier, Expr, SubqueryExpr, VectorSelector } from "./ast.ts";

export interface ReadWindow {
  selector: VectorSelector;
  start: number;
  end: number;
}

export interface ReadSettings {
  /** The query's start and end (equal for an instant query). */
  start: number;
  end: number;
  lookbackMs: number;
}

export function readWindows(expr: Expr, settings: ReadSettings): ReadWindow[] {
  const out: ReadWindow[] = [];
  const resolveAt = (at: AtModifier): number =>
    at.kind === "time" ? at.ms : at.kind === "start" ? settings.start : settings.end;

  const selectorWindow = (
    selector: VectorSelector,
    enclosing: readonly SubqueryExpr[],
    rangeMs: number | undefined,
  ): ReadWindow => {
    let start = settings.start;
    let end = settings.end;
    let subqueryOffset = 0;
    let subqueryRange = 0;
    let subqueryAt: number | undefined;
    for (const subquery of enclosing) {
      subqueryOffset += subquery.offsetMs;
      subqueryRange += subquery.rangeMs;
      if (subquery.at !== undefined) {
        // An `@` pins the subquery: what encloses it no longer moves it.
        subqueryOffset = subquery.offsetMs;
        subqueryRange = subquery.rangeMs;
        subqueryAt = resolveAt(subquery.at);
      }
    }
    if (subqueryAt !== undefined) {
      start = subqueryAt;
      end = subqueryAt;
    }
    if (selector.at !== undefined) {
      start = resolveAt(selector.at);
      end = start;
    } else {
      start -= subqueryOffset + subqueryRange;
      end -= subqueryOffset;
    }
    start -= rangeMs ?? settings.lookbackMs;
    return { selector, start: start - selector.offsetMs, end: end - selector.offsetMs };
  };

  const visit = (node: Expr, enclosing: readonly SubqueryExpr[]): void => {
    switch (node.type) {
      case "vectorSelector":
        out.push(selectorWindow(node, enclosing, undefined));
        return;
      case "matrixSelector":
        out.push(selectorWindow(node.selector, enclosing, node.rangeMs));
        return;
      case "subquery":
        visit(node.expr, [...enclosing, node]);
        return;
      case "call":
        for (const arg of node.args) visit(arg, enclosing);
        return;
      case "aggregate":
        if (node.param !== undefined) visit(node.param, enclosing);
        visit(node.expr, enclosing);
        return;
      case "binary":
        visit(node.lhs, enclosing);
        visit(node.rhs, enclosing);
        return;
      case "unary":
      case "paren":
        visit(node.expr, enclosing);
        return;
      case "number":
      case "string":
      case "external":
        return;
    }
  };

  visit(expr, []);
  return out;
}

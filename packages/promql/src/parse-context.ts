/**
 * State shared by the stages of parsing one query: the text (for positions in messages), where
 * each syntax-tree node started, and the type errors found so far.
 */
import type { parser } from "@prometheus-io/lezer-promql";
import type { BinaryExpr, Expr } from "./ast.ts";
import { badData, type PromQLError } from "./errors.ts";

export type SyntaxNode = ReturnType<typeof parser.parse>["topNode"];

const utf8 = new TextEncoder();

/** Prometheus' `line:column: parse error: reason`, the column counted in bytes from 1. */
export function parseError(text: string, offset: number, reason: string): PromQLError {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lineStart = before.lastIndexOf("\n") + 1;
  const line = before.split("\n").length;
  const column = utf8.encode(before.slice(lineStart)).length + 1;
  return badData(`${line}:${column}: parse error: ${reason}`);
}

export class ParseContext {
  readonly text: string;
  private readonly starts = new WeakMap<Expr, number>();
  private readonly operators = new WeakMap<BinaryExpr, number>();
  private readonly typeErrors: PromQLError[] = [];

  constructor(text: string) {
    this.text = text;
  }

  textOf(node: SyntaxNode): string {
    return this.text.slice(node.from, node.to);
  }

  fail(offset: number, reason: string): never {
    throw parseError(this.text, offset, reason);
  }

  /** Records where `expr` starts in the text, for messages about it; returns it. */
  located<T extends Expr>(expr: T, offset: number): T {
    this.starts.set(expr, offset);
    return expr;
  }

  startOf(expr: Expr): number {
    return this.starts.get(expr) ?? 0;
  }

  locateOperator(expr: BinaryExpr, offset: number): void {
    this.operators.set(expr, offset);
  }

  operatorOf(expr: BinaryExpr): number {
    return this.operators.get(expr) ?? this.startOf(expr);
  }

  /** Type errors are collected: as in Prometheus, the first one found is the one reported. */
  typeError(offset: number, reason: string): void {
    this.typeErrors.push(parseError(this.text, offset, reason));
  }

  throwFirstTypeError(): void {
    const first = this.typeErrors[0];
    if (first !== undefined) throw first;
  }
}

/** The children of a node, comments left out. */
export function childNodes(node: SyntaxNode): SyntaxNode[] {
  const result: SyntaxNode[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling) {
    if (child.name !== "LineComment") result.push(child);
  }
  return result;
}

/** The children that are expressions (the grammar's `Expr` group). */
export function exprChildren(node: SyntaxNode): SyntaxNode[] {
  return childNodes(node).filter((child) => child.type.is("Expr"));
}

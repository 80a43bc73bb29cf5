/** From SQL text to a plan and its rows: parse, bind, optimize, execute. */
import { bindQuery } from "./bind.ts";
import type { Catalog } from "./catalog.ts";
import { badRequest } from "./errors.ts";
import { type ExecLimits, Execution, executePlan, type SourceRunner } from "./exec.ts";
import { type Explanation, explainPlan } from "./explain.ts";
import { type OptimizeOptions, optimize } from "./optimize.ts";
import { type ParsedStatement, parseSql } from "./parse.ts";
import type { QueryPlan } from "./plan.ts";
import type { Row } from "./types.ts";

export interface PlannedQuery {
  plan: QueryPlan;
  explain: boolean;
}

/** Parses, binds and optimizes one statement. Throws EntenteError on any bad input. */
export function planSql(
  sql: string,
  catalog: Catalog,
  params: unknown[] = [],
  options?: OptimizeOptions,
): PlannedQuery {
  return planStatement(parseSql(sql), catalog, params, options);
}

/** Binds and optimizes a statement already parsed (by `parseSql` or a `ParsePool`). */
export function planStatement(
  statement: ParsedStatement,
  catalog: Catalog,
  params: unknown[] = [],
  options?: OptimizeOptions,
): PlannedQuery {
  if (statement.kind !== "select") {
    throw badRequest(
      `read-only: ${statement.kind.toUpperCase()} is not a query; writes and transactions run through entente.sql on sources that take writes`,
      { statement: statement.kind.toUpperCase() },
    );
  }
  const plan = optimize(bindQuery(statement.ast, catalog, params), catalog, options);
  return { plan, explain: statement.explain };
}

export function explainSql(
  sql: string,
  catalog: Catalog,
  params: unknown[] = [],
  options?: OptimizeOptions,
): Explanation {
  return explainPlan(planSql(sql, catalog, params, options).plan, catalog);
}

/** Runs a planned query: result batches, with per-source stats on `execution`. */
export function runPlan(
  plan: QueryPlan,
  catalog: Catalog,
  runner: SourceRunner,
  signal: AbortSignal,
  limits: Partial<ExecLimits> = {},
): { execution: Execution; batches: AsyncGenerator<Row[]> } {
  const execution = new Execution(catalog, runner, signal, limits);
  return { execution, batches: executePlan(plan, execution) };
}

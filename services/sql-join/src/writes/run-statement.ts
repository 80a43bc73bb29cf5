/**
 * Runs one statement inside a transaction: a write joins the sources it writes and runs there;
 * a read runs through the engine, reading the sources the transaction holds on its own
 * sessions (so it sees the transaction's writes) and the others as usual.
 */
import { insertStatements } from "@entente/connectors";
import { EntenteError, type SqlColumn, type SqlStatementResult } from "@entente/protocol";
import {
  bindWrite,
  castInto,
  type InsertTarget,
  type InsertWrite,
  type ParsedStatement,
  planStatement,
  qualifiedName,
  type Row,
  runPlan,
  type SourceRunner,
  type SourceWrite,
} from "@entente/sql";
import { execLimits, type SqlEngine } from "../engine.ts";
import type { Transaction } from "./transaction.ts";

export interface StatementEnvironment {
  engine: SqlEngine;
  /** Reads the sources the usual way (pooled connections, streamed). */
  runner: SourceRunner;
  signal: AbortSignal;
  /** Most rows a read in a transaction, or an INSERT … SELECT, may return. */
  maxRows: number;
}

/** Runs `statement` in `tx`; a write answers its affected rows, a read its rows. */
export async function runInTransaction(
  statement: ParsedStatement,
  params: unknown[],
  tx: Transaction,
  env: StatementEnvironment,
): Promise<SqlStatementResult> {
  if (statement.kind === "select") return readInTransaction(statement, params, tx, env);
  const plan = await env.engine.catalog.withCatalog((catalog) =>
    bindWrite(statement, catalog, params),
  );
  if (tx.alreadyApplied) return { affectedRows: 0 };
  switch (plan.kind) {
    case "insert":
      return { affectedRows: await applyWrites(plan.target.route(plan.rows), tx, env) };
    case "insert-select": {
      const rows = await selectedRows(plan.select, plan.target, params, tx, env);
      return { affectedRows: await applyWrites(plan.target.route(rows), tx, env) };
    }
    default:
      return { affectedRows: await applyWrites(plan.writes, tx, env) };
  }
}

async function applyWrites(
  writes: readonly SourceWrite[],
  tx: Transaction,
  env: StatementEnvironment,
): Promise<number> {
  // Join first, in statement order, so an idempotency key is checked before anything is written.
  for (const w of writes) await tx.join(w.table.source, env.signal);
  if (tx.alreadyApplied) return 0;
  let affected = 0;
  for (const w of writes) {
    const statements = w.kind === "insert" ? insertStatementsFor(w, env) : [w.statement];
    for (const s of statements) {
      affected += await tx.onSession(w.table.source, (session) =>
        session.execute({ sql: s.sql, params: s.params }, env.signal),
      );
    }
  }
  return affected;
}

function insertStatementsFor(w: InsertWrite, env: StatementEnvironment) {
  const catalog = env.engine.catalog.current;
  const source = catalog.source(w.table.source);
  return insertStatements(
    source.dialect,
    qualifiedName(source.dialect, w.table),
    w.columns.map((c) => c.name),
    w.columns.map((c) => (c.type === "null" ? "unknown" : c.type)),
    w.rows,
    source.capabilities.maxParams,
  );
}

/** The rows of an INSERT's SELECT, cast to the target's columns. */
async function selectedRows(
  select: unknown,
  target: InsertTarget,
  params: unknown[],
  tx: Transaction,
  env: StatementEnvironment,
): Promise<Row[]> {
  const result = await readInTransaction(
    { explain: false, kind: "select", ast: select },
    params,
    tx,
    env,
  );
  const columns = result.columns ?? [];
  if (columns.length !== target.columns.length) {
    throw new EntenteError(
      "BAD_REQUEST",
      `INSERT has ${target.columns.length} target columns (${target.columns.map((c) => c.name).join(", ")}) but its SELECT returns ${columns.length}`,
    );
  }
  return (result.rows ?? []).map((row, r) =>
    row.map((v, i) =>
      castInto(v, target.columns[i] as never, `SELECT row ${r + 1}`, columns[i]?.type),
    ),
  );
}

async function readInTransaction(
  statement: ParsedStatement,
  params: unknown[],
  tx: Transaction,
  env: StatementEnvironment,
): Promise<SqlStatementResult> {
  const planned = await env.engine.catalog.withCatalog((catalog) => ({
    ...planStatement(statement, catalog, params, { pushdown: env.engine.settings.pushdown }),
    catalog,
  }));
  const { batches } = runPlan(
    planned.plan,
    planned.catalog,
    transactionRunner(tx, env),
    env.signal,
    execLimits(env.engine.settings),
  );
  const rows: Row[] = [];
  for await (const batch of batches) {
    for (const row of batch) rows.push(row);
    if (rows.length > env.maxRows) {
      await batches.return(undefined);
      throw new EntenteError(
        "TOO_LARGE",
        `a read inside a transaction returns at most ${env.maxRows} rows (writes.maxRows); run larger reads outside it`,
      );
    }
  }
  const columns: SqlColumn[] = planned.plan.columns.map((c) => ({
    name: c.name,
    type: c.type === "null" ? "unknown" : c.type,
  }));
  return { columns, rows };
}

/** Reads a source the transaction holds on its session, whole; any other the usual way. */
function transactionRunner(tx: Transaction, env: StatementEnvironment): SourceRunner {
  return {
    async query(source, statement, signal, options) {
      if (!tx.has(source)) return env.runner.query(source, statement, signal, options);
      const { rows } = await tx.onSession(source, (session) =>
        session.queryAll(
          { sql: statement.sql, params: statement.params },
          { signal, maxRows: env.maxRows },
        ),
      );
      return (async function* () {
        yield rows as Row[];
      })();
    },
  };
}

/**
 * A SELECT on `entente.sql`: answered from a fresh materialized result when there is one, else
 * planned and explained or run; rows stream back in batches with per-source stats at the end,
 * or as one item when the result is small.
 */
import { ColdstoreConnector } from "@entente/connectors";
import {
  EntenteError,
  type SqlColumn,
  type SqlRequest,
  type SqlResultItem,
  type SqlStats,
} from "@entente/protocol";
import { stopReason, streamOf } from "@entente/runtime";
import {
  type Catalog,
  type Execution,
  type ExplainedSource,
  explainPlan,
  type ParsedStatement,
  planStatement,
  type QueryPlan,
  type Row,
  runPlan,
  type SourceRunner,
} from "@entente/sql";
import { execLimits, type SqlEngine } from "./engine.ts";
import {
  explainLine,
  type MaterializedResults,
  type MaterializeRun,
} from "./materialized/index.ts";

export function runnerOf(engine: SqlEngine): SourceRunner {
  return {
    async query(source, statement, signal, options) {
      const connector = engine.catalog.connectors.get(source);
      if (!connector) throw new EntenteError("NOT_FOUND", `unknown source "${source}"`);
      const result = await connector.query(
        {
          sql: statement.sql,
          params: statement.params,
          ...(statement.scan ? { scan: statement.scan } : {}),
        },
        {
          signal,
          batchRows: engine.settings.sourceBatchRows,
          ...(options?.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        },
      );
      return result.batches as AsyncIterable<Row[]>;
    },
  };
}

export async function parse(engine: SqlEngine, sql: string, signal: AbortSignal) {
  try {
    return await engine.parser.parse(sql, signal);
  } catch (err) {
    throw signal.aborted ? stopReason(signal) : err;
  }
}

interface Planned {
  explain: boolean;
  plan: QueryPlan;
  catalog: Catalog;
}

function planOf(
  engine: SqlEngine,
  statement: ParsedStatement,
  params: unknown[],
  pushdown: boolean | undefined,
): Promise<Planned> {
  return engine.catalog.withCatalog((catalog) => ({
    ...planStatement(statement, catalog, params, {
      pushdown: pushdown ?? engine.settings.pushdown,
    }),
    catalog,
  }));
}

const columnsOf = (plan: QueryPlan): SqlColumn[] =>
  plan.columns.map((c) => ({ name: c.name, type: c.type === "null" ? "unknown" : c.type }));

/** One SELECT: from a materialized result while it is fresh, else explained or run. */
export async function answerSelect(
  engine: SqlEngine,
  statement: ParsedStatement,
  request: SqlRequest,
  signal: AbortSignal,
  time: { started: number; budgetMs: number },
  materialized?: MaterializedResults,
): Promise<unknown> {
  const params = request.params ?? [];
  const explain = request.explain === true || statement.explain;
  const hit = materialized?.lookup(statement, params);
  if (hit) {
    if (explain) return explanationText([explainLine(hit.info)], []);
    const stored = await hit
      .read(signal, { batchRows: engine.settings.batchRows })
      .catch((err: unknown) => {
        // Kept in a cold store this worker does not see (another host's, or an earlier demo
        // process's): the statement runs instead.
        if (err instanceof EntenteError && err.code === "NOT_FOUND") return undefined;
        throw err;
      });
    if (stored) {
      const batches = stored.batches[Symbol.asyncIterator]() as AsyncGenerator<Row[]>;
      return answerRows(engine, stored.columns, batches, signal, () => ({
        sources: {},
        ms: elapsed(time.started),
        materialized: hit.info.id,
      }));
    }
  }
  const planned = await planOf(engine, statement, params, request.pushdown);
  if (statement.analyze) return analyzed(planned, engine, signal, time);
  if (explain) return explanationOf(engine, planned);
  return execute(planned, engine, signal, time);
}

/** Runs a SELECT from its text, never from a stored result: what a materialization stores. */
export function selectRunner(engine: SqlEngine): MaterializeRun {
  return async (sql, params, signal) => {
    // As every statement: the tier boundary a move committed last, not the catalog's cached one.
    await engine.catalog.syncWatermarks();
    const statement = await parse(engine, sql, signal);
    if (statement.kind !== "select") {
      throw new EntenteError("BAD_REQUEST", "only a SELECT can be materialized");
    }
    const planned = await planOf(engine, statement, params, undefined);
    const { batches } = runPlan(
      planned.plan,
      planned.catalog,
      runnerOf(engine),
      signal,
      execLimits(engine.settings),
    );
    return { columns: columnsOf(planned.plan), rows: batches };
  };
}

async function explanationOf(engine: SqlEngine, planned: Planned): Promise<SqlResultItem> {
  const explanation = explainPlan(planned.plan, planned.catalog);
  const lines = explanation.plan.split("\n");
  lines.push(...(await coldFileLines(engine, explanation.sources)));
  // The bounds only serve the cold store's pruning; the reply shows each statement as sent.
  const sources = explanation.sources.map(({ scan: _scan, ...rest }) => rest);
  return explanationText(lines, sources);
}

function explanationText(lines: string[], sources: SqlResultItem["sources"]): SqlResultItem {
  const plan = lines.join("\n");
  return {
    columns: [{ name: "plan", type: "text" }],
    rows: lines.map((line) => [line]),
    plan,
    sources: sources ?? [],
  };
}

/**
 * For each statement sent to a cold store: which of the current snapshot's files it would read,
 * after pruning by partition values and min/max (the files are chosen when the statement runs,
 * from the snapshot current then).
 */
async function coldFileLines(engine: SqlEngine, sources: ExplainedSource[]): Promise<string[]> {
  const lines: string[] = [];
  for (const s of sources) {
    const connector = engine.catalog.connectors.get(s.source);
    if (!(connector instanceof ColdstoreConnector) || !s.scan) continue;
    const table = s.scan.table.at(-1) ?? "";
    const metadata = await connector.store.load(table);
    if (!metadata) continue;
    const snapshot = metadata.snapshots.find((x) => x.snapshotId === metadata.currentSnapshotId);
    const all = snapshot?.files ?? [];
    const read = connector.store.prune(metadata, s.scan.bounds);
    const bytes = read.reduce((n, f) => n + f.bytes, 0);
    if (lines.length === 0) lines.push("Cold store files:");
    lines.push(
      `  ${s.source}.main.${table} (snapshot ${metadata.currentSnapshotId ?? "none"}): reads ${read.length} of ${all.length} files (${bytes} bytes), pruned ${all.length - read.length} by partition and min/max`,
    );
  }
  return lines;
}

const elapsed = (started: number) => Math.round((performance.now() - started) * 10) / 10;

/** The plan run within what is left of the request's budget. */
function started(
  planned: Planned,
  engine: SqlEngine,
  signal: AbortSignal,
  time: { started: number; budgetMs: number },
) {
  const leftMs = time.budgetMs - (performance.now() - time.started);
  return runPlan(planned.plan, planned.catalog, runnerOf(engine), signal, {
    ...execLimits(engine.settings),
    ...(Number.isFinite(leftMs) ? { timeoutMs: Math.max(0, leftMs) } : {}),
  });
}

const sourceStats = (execution: Execution) =>
  Object.fromEntries(
    Object.entries(execution.stats).map(([k, v]) => [k, { ...v, ms: Math.round(v.ms * 10) / 10 }]),
  );

async function execute(
  planned: Planned,
  engine: SqlEngine,
  signal: AbortSignal,
  time: { started: number; budgetMs: number },
): Promise<unknown> {
  const { execution, batches } = started(planned, engine, signal, time);
  return answerRows(engine, columnsOf(planned.plan), batches, signal, () => ({
    sources: sourceStats(execution),
    ms: elapsed(time.started),
  }));
}

/**
 * EXPLAIN ANALYZE: the statement runs (its rows are counted, not sent) and the plan comes back
 * with what each operator handed on, then each source's rows, bytes, time and statements.
 */
async function analyzed(
  planned: Planned,
  engine: SqlEngine,
  signal: AbortSignal,
  time: { started: number; budgetMs: number },
): Promise<SqlResultItem> {
  const { execution, batches } = started(planned, engine, signal, time);
  execution.actuals = new Map();
  let rows = 0;
  try {
    for await (const batch of batches) rows += batch.length;
  } catch (err) {
    throw signal.aborted ? stopReason(signal) : err;
  }
  const explanation = explainPlan(planned.plan, planned.catalog, execution.actuals);
  const lines = explanation.plan.split("\n");
  lines.push(`Result: ${rows} rows in ${elapsed(time.started)} ms`);
  for (const [name, s] of Object.entries(sourceStats(execution)))
    lines.push(
      `Source ${name}: rows=${s.rows}, bytes=${s.bytes}, time=${s.ms} ms, statements=${s.queries}`,
    );
  const sources = explanation.sources.map(({ scan: _scan, ...rest }) => rest);
  return {
    ...explanationText(lines, sources),
    stats: { sources: sourceStats(execution), ms: elapsed(time.started) },
  };
}

/**
 * Rows as one reply item when they are few and come quickly, else a stream of items ending with
 * the stats. A statement still working after `singleReplyWaitMs` answers its columns at once:
 * the first item tells the caller where to send a cancel, which it cannot before.
 */
async function answerRows(
  engine: SqlEngine,
  columns: SqlColumn[],
  batches: AsyncGenerator<Row[]>,
  signal: AbortSignal,
  stats: () => SqlStats,
): Promise<unknown> {
  const s = engine.settings;
  // Read ahead: a small result goes back as one item that `nats req` prints whole.
  const buffered: Row[][] = [];
  let count = 0;
  let done = false;
  let pending: Promise<IteratorResult<Row[]>> | undefined;
  const waitUntil = performance.now() + s.singleReplyWaitMs;
  try {
    while (count <= s.singleReplyRows) {
      pending ??= batches.next();
      const next = await within(pending, waitUntil - performance.now());
      if (next === undefined) break;
      pending = undefined;
      if (next.done) {
        done = true;
        break;
      }
      buffered.push(next.value);
      count += next.value.length;
    }
  } catch (err) {
    await batches.return(undefined).catch(() => {});
    throw signal.aborted ? stopReason(signal) : err;
  }
  if (done && count <= s.singleReplyRows) {
    return { columns, rows: buffered.flat(), stats: stats() } satisfies SqlResultItem;
  }
  // Awaited by the stream below; a rejection before it starts must not go unheard.
  pending?.catch(() => {});
  async function* items(): AsyncGenerator<SqlResultItem> {
    yield { columns };
    for (const b of buffered) yield { rows: b };
    buffered.length = 0;
    try {
      const waiting = pending && (await pending);
      if (waiting && !waiting.done) yield { rows: waiting.value };
      if (!waiting?.done) for await (const b of batches) yield { rows: b };
    } catch (err) {
      throw signal.aborted ? stopReason(signal) : err;
    }
    yield { stats: stats() };
  }
  return streamOf(items());
}

/** The promise's result, or undefined if it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  if (ms <= 0) return Promise.race([promise, Promise.resolve(undefined)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The executor: runs a plan over sources it is handed. Scans stream batches; hash joins build
 * the smaller side and push its keys into the other side's scan as IN lists run in parallel
 * chunks, or as a range when there are too many; aggregates, sorts and DISTINCT run in memory.
 * What operators hold counts against one budget per statement, and every loop that works per
 * row keeps pace (yields to the event loop, stops at the deadline). I/O comes in through
 * `SourceRunner`, so this module needs no driver.
 */

import type { SqlSourceStats } from "@entente/protocol";
import { Pacer } from "@entente/runtime/pace";
import { runAggregate } from "./aggregate.ts";
import { StatementMemory } from "./budget.ts";
import type { Catalog } from "./catalog.ts";
import { Decimal } from "./decimal.ts";
import { runDistinct } from "./distinct.ts";
import { compile, compilePredicate, type EvalContext, type SubqueryResult } from "./evaluate.ts";
import { runReducingFilter, waitingSubqueries } from "./exec-reduce.ts";
import { HASH_ENTRY_BYTES, rowHeapBytes, SLOT_BYTES } from "./heap-size.ts";
import { type OpenInput, type ProbeKeys, runJoin } from "./join.ts";
import { keysForMember } from "./logical.ts";
import type { PlanNode, QueryPlan, ScanNode } from "./plan.ts";
import { semiJoinFilter } from "./pushdown.ts";
import { keyFilters, renderKeyFiltered, renderKeysPresent, renderScan } from "./scan-sql.ts";
import { runSetOperation } from "./setop.ts";
import { SHARED_READ_ROWS, statementKey } from "./shared-reads.ts";
import { runSort } from "./sort.ts";
import { type SpillLimits, SpillSpace } from "./spill.ts";
import type { Row, SourceInfo, SourceStatement, SqlType, Value } from "./types.ts";
import {
  compositeKey,
  isIntegerType,
  normalizeOutput,
  rowBytes,
  toDecimalValue,
} from "./values.ts";
import { runWindow } from "./window.ts";

export interface SourceRunner {
  /**
   * Runs one statement on a source and streams its rows. `options.timeoutMs` is what is left of
   * the statement's time, for sources that pass a budget on (another region's worker).
   */
  query(
    source: string,
    statement: SourceStatement,
    signal: AbortSignal,
    options?: { timeoutMs?: number },
  ): Promise<AsyncIterable<Row[]>>;
}

export interface ExecLimits {
  /**
   * Rows the statement's operators may hold at once: build sides, subquery results, groups,
   * rows to sort, DISTINCT's rows …
   */
  maxBuildRows: number;
  /** … and about this many heap bytes for all of those, their keys and values together. */
  maxBuildBytes: number;
  /** Up to this many distinct build keys go to the probe side as IN lists; above, a range. */
  dynamicFilterMaxKeys: number;
  /** Keys per IN list statement (also bounded by the source's parameter limit). */
  inListChunk: number;
  /** IN list statements in flight at once per scan. */
  parallelChunks: number;
  /** Rows per output batch, also the most any operator hands on at once. */
  batchRows: number;
  /**
   * The statement's time from the start of execution. Checked on a monotonic clock by every
   * pacing checkpoint, besides the signal, whose timer may fire late.
   */
  timeoutMs?: number;
  /**
   * Where joins, ORDER BY, GROUP BY, DISTINCT, INTERSECT/EXCEPT and window functions write runs
   * when their rows would take the statement over its memory limit, and how many bytes they may
   * write (`sqlJoin.spillDir`, `sqlJoin.maxSpillBytes`). Absent or 0 bytes: going over is TOO_LARGE.
   */
  spill?: SpillLimits;
}

export const DEFAULT_LIMITS: ExecLimits = {
  maxBuildRows: 2_000_000,
  maxBuildBytes: 512 * 1024 * 1024,
  dynamicFilterMaxKeys: 100_000,
  inListChunk: 5_000,
  parallelChunks: 4,
  batchRows: 5_000,
};

/** What one source did for a statement, as the reply's `stats` carries it. */
export type SourceStats = SqlSourceStats;

export interface SentStatement extends SourceStatement {
  source: string;
}

export class Execution {
  readonly stats: Record<string, SourceStats> = {};
  readonly sent: SentStatement[] = [];
  readonly catalog: Catalog;
  readonly runner: SourceRunner;
  readonly signal: AbortSignal;
  readonly limits: ExecLimits;
  /** What the statement's operators hold, against maxBuildRows / maxBuildBytes. */
  readonly memory: StatementMemory;
  /** Where CPU-bound loops give the event loop a turn and stop at the deadline. */
  readonly pacer: Pacer;
  /** Disk space for what operators spill; none when spilling is off. */
  readonly spill: SpillSpace | undefined;
  /** Rows of the statements read once for several uses (`RemoteNode.shared`), by statement. */
  readonly sharedReads = new Map<string, SharedRead>();
  /** EXPLAIN ANALYZE: what each operator handed on, and the time spent getting it. */
  actuals: Map<PlanNode, OperatorActuals> | undefined;
  /** Keep at most this many statement texts for reporting. */
  private readonly maxSentLogged = 64;
  /** When the statement's time ends, on the monotonic clock. */
  private readonly endsAt: number | undefined;

  constructor(
    catalog: Catalog,
    runner: SourceRunner,
    signal: AbortSignal,
    limits: Partial<ExecLimits> = {},
  ) {
    this.catalog = catalog;
    this.runner = runner;
    this.signal = signal;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.memory = new StatementMemory({
      maxRows: this.limits.maxBuildRows,
      maxBytes: this.limits.maxBuildBytes,
    });
    const { timeoutMs } = this.limits;
    this.endsAt = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
    this.pacer = new Pacer(signal, this.endsAt);
    const spill = this.limits.spill;
    this.spill = spill && spill.maxBytes > 0 ? new SpillSpace(spill) : undefined;
  }

  /** Runs a statement on a source, counting rows, bytes, time and queries. */
  async *fetch(
    source: string,
    statement: SourceStatement,
    signal: AbortSignal,
    typed: TypedPositions = NOTHING_TO_TYPE,
  ): AsyncGenerator<Row[]> {
    let stats = this.stats[source];
    if (!stats) {
      stats = { rows: 0, bytes: 0, ms: 0, queries: 0 };
      this.stats[source] = stats;
    }
    stats.queries++;
    if (this.sent.length < this.maxSentLogged) this.sent.push({ source, ...statement });
    const started = performance.now();
    try {
      const timeoutMs =
        this.endsAt === undefined ? undefined : Math.max(0, this.endsAt - performance.now());
      const batches = await this.runner.query(
        source,
        statement,
        signal,
        timeoutMs === undefined ? {} : { timeoutMs },
      );
      for await (const batch of batches) {
        stats.rows += batch.length;
        for (const row of batch) stats.bytes += rowBytes(row);
        if (typed.decimals.length > 0 || typed.integers.length > 0) typeValues(batch, typed);
        if (this.pacer.due(batch.length)) await this.pacer.pause();
        yield batch;
      }
    } finally {
      stats.ms += performance.now() - started;
    }
  }
}

/** Where a statement's result holds values the engine types itself: decimals and integers. */
interface TypedPositions {
  decimals: readonly number[];
  integers: readonly number[];
}

const NOTHING_TO_TYPE: TypedPositions = { decimals: [], integers: [] };

/**
 * Sources send DECIMAL values as their exact text (a cold store, as doubles): they become the
 * engine's decimals, in place, before any operator compares or sums them. An integer the engine
 * expects from a statement it sent may also come as decimal text: MySQL's SUM of integers is a
 * DECIMAL.
 */
function typeValues(batch: Row[], { decimals, integers }: TypedPositions): void {
  for (const row of batch) {
    for (const i of decimals) {
      const v = row[i];
      // Text that is not a plain decimal: NaN or ±Infinity, which numeric also holds.
      if (typeof v === "string") row[i] = Decimal.fromSourceText(v) ?? toDecimalValue(v);
      else if (typeof v === "bigint") row[i] = Decimal.fromInteger(v);
      else if (typeof v === "number") row[i] = storedDouble(v);
    }
    for (const i of integers) {
      const v = row[i];
      if (typeof v === "string")
        row[i] = normalizeOutput((toDecimalValue(v) as Decimal).toBigInt());
    }
  }
}

/** A decimal stored as a double: the decimal its shortest text writes (NaN, ±Infinity as they are). */
function storedDouble(v: number): Value {
  return Number.isInteger(v) ? Decimal.fromInteger(v) : (Decimal.fromDouble(v) ?? v);
}

/** The positions of a statement's result whose type is wanted: `types[j]` is column j's. */
function positionsOf(
  types: readonly (SqlType | undefined)[],
  wanted: (t: SqlType) => boolean,
): number[] {
  return types.flatMap((t, j) => (t !== undefined && wanted(t) ? [j] : []));
}

/** Runs the plan; yields result batches with output values normalized. */
export async function* executePlan(plan: QueryPlan, exec: Execution): AsyncGenerator<Row[]> {
  exec.pacer.check();
  const deferred = plan.deferred;
  const ctx: EvalContext = {
    subqueries: [],
    ...(deferred
      ? { deferred: { plans: plan.subqueries, roles: deferred, shares: new Map() } }
      : {}),
  };
  for (const [i, sub] of plan.subqueries.entries()) {
    if (!deferred?.has(i)) ctx.subqueries[i] = await runSubquery(sub, exec, ctx);
  }
  let out: Row[] = [];
  // A column answers in its type in every row, whatever made its value: decimals as their text
  // (NaN and ±Infinity too, as PostgreSQL prints a numeric's).
  const types = plan.columns.map((c) => c.type);
  const output = (v: Value, i: number) => {
    if (types[i] === "decimal") {
      const d = toDecimalValue(v);
      return typeof d === "number" ? String(d) : normalizeOutput(d);
    }
    return normalizeOutput(types[i] === "double" && v instanceof Decimal ? v.toNumber() : v);
  };
  for await (const batch of run(plan.root, exec, ctx)) {
    for (const row of batch) {
      out.push(row.map(output));
      if (out.length >= exec.limits.batchRows) {
        yield out;
        out = [];
      }
    }
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  }
  if (out.length > 0) yield out;
}

/** A subquery's rows and keys, held (by default until the statement ends) for the plan to read. */
async function runSubquery(
  node: PlanNode,
  exec: Execution,
  ctx: EvalContext,
  share = exec.memory.share("a subquery's result"),
): Promise<SubqueryResult> {
  const rows: Row[] = [];
  const keys = new Set<unknown>();
  let hasNull = false;
  for await (const batch of run(node, exec, ctx)) {
    for (const r of batch) {
      share.take(1, rowHeapBytes(r) + SLOT_BYTES + HASH_ENTRY_BYTES);
      rows.push(r);
      const k = compositeKey(r);
      if (k === undefined) hasNull = true;
      else keys.add(k);
    }
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  }
  return { rows, keys, hasNull };
}

/** One operator's output under EXPLAIN ANALYZE; its time includes its inputs'. */
export interface OperatorActuals {
  rows: number;
  bytes: number;
  ms: number;
}

/** An operator's batches, counted and timed when the statement is analyzed. */
function measured(
  node: PlanNode,
  exec: Execution,
  batches: AsyncGenerator<Row[]>,
): AsyncGenerator<Row[]> {
  const actuals = exec.actuals;
  if (!actuals) return batches;
  let a = actuals.get(node);
  if (!a) {
    a = { rows: 0, bytes: 0, ms: 0 };
    actuals.set(node, a);
  }
  const mine = a;
  return (async function* () {
    try {
      for (;;) {
        const started = performance.now();
        const next = await batches.next();
        mine.ms += performance.now() - started;
        if (next.done) return;
        mine.rows += next.value.length;
        for (const row of next.value) mine.bytes += rowBytes(row);
        yield next.value;
      }
    } finally {
      await batches.return(undefined);
    }
  })();
}

export function run(node: PlanNode, exec: Execution, ctx: EvalContext): AsyncGenerator<Row[]> {
  return measured(node, exec, runNode(node, exec, ctx));
}

function runNode(node: PlanNode, exec: Execution, ctx: EvalContext): AsyncGenerator<Row[]> {
  switch (node.kind) {
    case "scan":
      return runScan(node, exec, ctx);
    case "remote":
      return runRemote(node, exec, ctx);
    case "values":
      return runValues(node, exec, ctx);
    case "filter": {
      const waiting = waitingSubqueries(node.predicate, ctx);
      if (waiting.length > 0) {
        return runReducingFilter(node, waiting, exec, ctx, {
          run: (n) => run(n, exec, ctx),
          subquery: (n, share) => runSubquery(n, exec, ctx, share),
        });
      }
      return runFilter(node.input, compilePredicate(node.predicate, ctx), exec, ctx);
    }
    case "project":
      return runProject(node, exec, ctx);
    case "join":
      return runJoin(node, exec, ctx, inputOpener(exec, ctx));
    case "aggregate":
      return runAggregate(node, run(node.input, exec, ctx), exec, ctx);
    case "sort":
      return runSort(node, run(node.input, exec, ctx), exec, ctx);
    case "limit":
      return runLimit(node, exec, ctx);
    case "distinct":
      return runDistinct(node, run(node.input, exec, ctx), exec);
    case "union":
      return runUnion(node, exec, ctx);
    case "setop":
      return runSetOperation(
        node,
        run(node.inputs[0], exec, ctx),
        run(node.inputs[1], exec, ctx),
        exec,
      );
    case "window":
      return runWindow(node, run(node.input, exec, ctx), exec, ctx);
  }
}

/**
 * UNION ALL: a logical table's members (often in different sources or regions) are read at
 * once; other unions input by input. Handed a join's keys, each member reads only the keys it
 * may hold, and a member that may hold none is not asked.
 */
function runUnion(
  node: Extract<PlanNode, { kind: "union" }>,
  exec: Execution,
  ctx: EvalContext,
  keys?: ProbeKeys,
): AsyncGenerator<Row[]> {
  const shards = node.shards;
  if (!shards) {
    return (async function* () {
      for (const input of node.inputs) yield* run(input, exec, ctx);
    })();
  }
  const column = keys ? node.columns[keys.column]?.name : undefined;
  const makers: (() => AsyncGenerator<Row[]>)[] = [];
  node.inputs.forEach((input, i) => {
    const member = shards.read[i];
    if (!keys || column === undefined || input.kind !== "scan" || !member) {
      makers.push(() => run(input, exec, ctx));
      return;
    }
    const own = keysForMember(member.constraint, column, keys.values);
    if (own.length > 0)
      makers.push(() => measured(input, exec, runScan(input, exec, ctx, { ...keys, values: own })));
  });
  // As many members at once as IN-list statements per scan: members sharing a source share its
  // connection pool with the rest of the statement.
  return mergeBounded(makers, Math.max(1, Math.min(makers.length, exec.limits.parallelChunks)));
}

/** How a join opens its inputs: a scan (or a logical table's members) handed keys reads only those. */
function inputOpener(exec: Execution, ctx: EvalContext): OpenInput {
  return (node, keys) => {
    if (keys && node.kind === "scan") return measured(node, exec, runScan(node, exec, ctx, keys));
    if (keys && node.kind === "union") return measured(node, exec, runUnion(node, exec, ctx, keys));
    if (keys && node.kind === "remote")
      return measured(node, exec, runRemote(node, exec, ctx, keys));
    return run(node, exec, ctx);
  };
}

async function* runValues(
  node: Extract<PlanNode, { kind: "values" }>,
  exec: Execution,
  ctx: EvalContext,
): AsyncGenerator<Row[]> {
  const batchRows = exec.limits.batchRows;
  for (let i = 0; i < node.rows.length; i += batchRows) {
    yield node.rows.slice(i, i + batchRows).map((r) => r.map((e) => compile(e, ctx)([])));
    if (exec.pacer.due(batchRows)) await exec.pacer.pause();
  }
}

async function* runRemote(
  node: Extract<PlanNode, { kind: "remote" }>,
  exec: Execution,
  ctx: EvalContext,
  keys?: ProbeKeys,
): AsyncGenerator<Row[]> {
  // A DISTINCT narrowed to a subquery's keys may run once per key list: the lists' rows differ in
  // the key, so together they are the distinct rows. A join is narrowed by one list or range.
  const perList = !keys && node.keysOf !== undefined;
  keys ??= node.keysOf ? subqueryKeysOf(node.keysOf, ctx) : undefined;
  // No key to match: the IN above would keep nothing.
  if (keys?.values.length === 0) return;
  const positions = node.positions;
  const width = node.columns.length;
  const identity = !positions || (positions.length === width && positions.every((p, i) => p === i));
  const types = positions
    ? positions.map((p) => node.columns[p]?.type)
    : node.columns.map((c) => c.type);
  const typed: TypedPositions = {
    decimals: positionsOf(types, (t) => t === "decimal"),
    integers: positionsOf(types, isIntegerType),
  };
  for await (const batch of remoteRows(node, exec, typed, keys, perList)) {
    if (identity) {
      yield batch;
      continue;
    }
    yield batch.map((r) => {
      const row = new Array<Value>(width);
      for (let j = 0; j < positions.length; j++) row[positions[j] as number] = r[j];
      return row;
    });
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
  }
}

/**
 * A remote statement's rows; handed keys, the statement narrowed to them. A join would run whole
 * once per key list, so unless `perList` its keys past one list go as one array or a range
 * (`keyFilters`' `oneStatement`), and otherwise not at all.
 */
function remoteRows(
  node: Extract<PlanNode, { kind: "remote" }>,
  exec: Execution,
  typed: TypedPositions,
  keys: ProbeKeys | undefined,
  perList: boolean,
): AsyncGenerator<Row[]> {
  if (!keys) {
    return node.shared
      ? readShared(node, exec, typed)
      : exec.fetch(node.source, node.statement, exec.signal, typed);
  }
  const source = exec.catalog.source(node.source);
  const type = node.columns[keys.column]?.type ?? "unknown";
  const rows = perList ? node.keysOf?.presentIn : undefined;
  const present =
    rows && renderKeysPresent(rows, `c${keys.column}`, type, keys.values, source.dialect);
  if (present) return exec.fetch(node.source, present, exec.signal, typed);
  const filters = keyFilters(
    keys.column,
    type,
    keys.values,
    source,
    exec.limits,
    node.statement.params.length,
    !perList,
  );
  // Keys that go neither as one list, an array nor a range (text where the source orders it
  // otherwise) would run the statement once per list: it runs once, whole.
  if (filters.length > 1 && !perList)
    return exec.fetch(node.source, node.statement, exec.signal, typed);
  const streams = filters.map((f) => {
    const statement = renderKeyFiltered(node.statement, `c${keys.column}`, type, f, source);
    return () => exec.fetch(node.source, statement, exec.signal, typed);
  });
  return mergeBounded(streams, exec.limits.parallelChunks);
}

/**
 * A statement other parts of the plan send too (`RemoteNode.shared`). Its first use starts one
 * read, which runs on its own — a use that waits for another (a CTE joined with itself) cannot
 * stall it — and holds the rows for every use; the last use gives their memory back. Past
 * `SHARED_READ_ROWS` or the statement's memory the read stops holding: the first use to ask
 * takes what was held and the rest of the read, each other use reads its own.
 */
async function* readShared(
  node: Extract<PlanNode, { kind: "remote" }>,
  exec: Execution,
  typed: TypedPositions,
): AsyncGenerator<Row[]> {
  const key = statementKey(node.source, node.statement);
  const read = () => exec.fetch(node.source, node.statement, exec.signal, typed);
  let shared = exec.sharedReads.get(key);
  if (!shared) {
    shared = holdShared(read(), exec, node.shared ?? 1);
    exec.sharedReads.set(key, shared);
  }
  try {
    const held = await shared.held;
    const rest = held.rest;
    held.rest = undefined;
    // Each use gets batches of its own, so that no operator reorders another's.
    if (held.complete || rest) for (const batch of held.batches) yield batch.slice();
    if (rest) {
      held.batches = [];
      try {
        yield* rest;
      } finally {
        await rest.return(undefined);
      }
    } else if (!held.complete) yield* read();
  } finally {
    shared.used();
  }
}

/** A shared statement's rows: all of them, or those up to the bounds and the read still open. */
interface HeldRows {
  batches: Row[][];
  complete: boolean;
  /** The rest of the read, for the first use that takes it. */
  rest?: AsyncGenerator<Row[]> | undefined;
}

/** The rows held for a shared statement's `uses`, and how a use says it is done with them. */
interface SharedRead {
  held: Promise<HeldRows>;
  used(): void;
}

function holdShared(read: AsyncGenerator<Row[]>, exec: Execution, uses: number): SharedRead {
  const share = exec.memory.share("a statement's rows read once for several uses");
  let left = uses;
  const hold = async (): Promise<HeldRows> => {
    const batches: Row[][] = [];
    let rows = 0;
    for (;;) {
      const next = await read.next();
      if (next.done) return { batches, complete: true };
      const batch = next.value;
      let bytes = 0;
      for (const row of batch) bytes += rowHeapBytes(row) + SLOT_BYTES;
      rows += batch.length;
      batches.push(batch);
      if (rows > SHARED_READ_ROWS || !share.fits(batch.length, bytes)) {
        share.release();
        return { batches, complete: false, rest: read };
      }
      share.take(batch.length, bytes);
    }
  };
  return {
    held: hold(),
    used: () => {
      if (--left === 0) share.release();
    },
  };
}

async function* runFilter(
  input: PlanNode,
  pred: (r: Row) => boolean,
  exec: Execution,
  ctx: EvalContext,
) {
  for await (const batch of run(input, exec, ctx)) {
    const out = batch.filter(pred);
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    if (out.length > 0) yield out;
  }
}

async function* runProject(
  node: Extract<PlanNode, { kind: "project" }>,
  exec: Execution,
  ctx: EvalContext,
) {
  const fns = node.exprs.map((e) => compile(e, ctx));
  for await (const batch of run(node.input, exec, ctx)) {
    const out = batch.map((row) => fns.map((f) => f(row)));
    if (exec.pacer.due(batch.length)) await exec.pacer.pause();
    yield out;
  }
}

/** A scan: one statement, or IN-list chunks / a range when a join hands it keys. */
async function* runScan(
  scan: ScanNode,
  exec: Execution,
  ctx: EvalContext,
  keys?: ProbeKeys,
): AsyncGenerator<Row[]> {
  const source = exec.catalog.source(scan.table.source);
  const width = scan.columns.length;
  const local = scan.local.map((p) => compilePredicate(p, ctx));
  const controller = new AbortController();
  const abort = () => controller.abort(exec.signal.reason);
  exec.signal.addEventListener("abort", abort, { once: true });
  const shape = (fetched: number[]) => {
    // Every column fetched in order and nothing to check here: the source's rows are the rows.
    const whole = width > 0 && fetched.length === width && fetched.every((p, i) => p === i);
    if (whole && local.length === 0) return (batch: Row[]) => batch;
    return (batch: Row[]) => reshape(batch, fetched);
  };
  const reshape = (batch: Row[], fetched: number[]) => {
    const out: Row[] = [];
    for (const r of batch) {
      const row = new Array<Value>(width);
      for (let j = 0; j < fetched.length; j++) row[fetched[j] as number] = r[j];
      if (local.every((p) => p(row))) out.push(row);
    }
    return out;
  };
  try {
    const plain = renderScan(scan, source);
    // A join's keys and an IN subquery's both only narrow what the source sends: the fewer go.
    const listed = subqueryKeys(scan, source, ctx, keys?.values.length);
    if (!keys || listed) keys = listed;
    if (keys?.values.length === 0) return;
    // A table's own integer columns come as integers: only its decimals need reading.
    const types = plain.fetched.map((p) => scan.columns[p]?.type);
    const typed = { decimals: positionsOf(types, (t) => t === "decimal"), integers: [] };
    if (!keys) {
      const reshape = shape(plain.fetched);
      for await (const batch of exec.fetch(source.name, plain, controller.signal, typed)) {
        const out = reshape(batch);
        if (exec.pacer.due(batch.length)) await exec.pacer.pause();
        if (out.length > 0) yield out;
      }
      return;
    }
    const type = scan.columns[keys.column]?.type ?? "unknown";
    const filters = keyFilters(
      keys.column,
      type,
      keys.values,
      source,
      exec.limits,
      plain.params.length,
    );
    const statements = filters.map((f) => renderScan(scan, source, f));
    const reshape = shape(plain.fetched);
    const streams = statements.map(
      (s) => () => exec.fetch(source.name, s, controller.signal, typed),
    );
    for await (const batch of mergeBounded(streams, exec.limits.parallelChunks)) {
      const out = reshape(batch);
      if (exec.pacer.due(batch.length)) await exec.pacer.pause();
      if (out.length > 0) yield out;
    }
  } finally {
    exec.signal.removeEventListener("abort", abort);
    controller.abort();
  }
}

/** The distinct non-NULL first values of a subquery's rows, which ran before, as keys for `column`. */
function subqueryKeysOf(
  of: { sub: number; column: number },
  ctx: EvalContext,
): ProbeKeys | undefined {
  const result = ctx.subqueries[of.sub];
  if (!result) return undefined;
  const values = new Map<unknown, Value>();
  for (const row of result.rows) {
    const v = row[0];
    if (v !== null && v !== undefined) values.set(compositeKey([v]), v);
  }
  return { column: of.column, values: [...values.values()] };
}

/**
 * The keys of the scan's `column IN (subquery)` predicate, which ran before the statement: sent
 * to the source like a join's keys (the predicate still runs here too). No keys: no row can match.
 * Undefined when there are not fewer than `fewerThan`.
 */
function subqueryKeys(
  scan: ScanNode,
  source: SourceInfo,
  ctx: EvalContext,
  fewerThan = Number.POSITIVE_INFINITY,
): ProbeKeys | undefined {
  const filter = semiJoinFilter(scan, source);
  const result = filter && ctx.subqueries[filter.sub];
  if (!filter || !result || result.rows.length >= fewerThan) return undefined;
  const keys = subqueryKeysOf(filter, ctx);
  return keys && keys.values.length < fewerThan ? keys : undefined;
}

/** Reads several streams with at most `limit` open at once, batches in arrival order. */
async function* mergeBounded(
  makers: (() => AsyncGenerator<Row[]>)[],
  limit: number,
): AsyncGenerator<Row[]> {
  const queue: Row[][] = [];
  let waiting: (() => void) | undefined;
  let failure: unknown;
  let active = 0;
  let next = 0;
  let stopped = false;
  const wake = () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  let draining: (() => void)[] = [];
  const drained = () => new Promise<void>((resolve) => draining.push(resolve));
  const resume = () => {
    const ready = draining;
    draining = [];
    for (const r of ready) r();
  };
  const start = () => {
    while (!stopped && active < limit && next < makers.length) {
      const make = makers[next++] as () => AsyncGenerator<Row[]>;
      active++;
      (async () => {
        try {
          for await (const batch of make()) {
            if (stopped) break;
            queue.push(batch);
            wake();
            // Backpressure: a stream reads on only while the consumer keeps up.
            while (queue.length >= limit && !stopped) await drained();
          }
        } catch (err) {
          failure ??= err;
        } finally {
          active--;
          start();
          wake();
        }
      })();
    }
  };
  start();
  try {
    while (true) {
      if (failure) throw failure;
      const batch = queue.shift();
      if (batch) {
        resume();
        yield batch;
        continue;
      }
      if (active === 0 && next >= makers.length) return;
      await new Promise<void>((resolve) => {
        waiting = resolve;
      });
    }
  } finally {
    stopped = true;
    resume();
  }
}

// ---------------------------------------------------------------------------------------------
// Limit

async function* runLimit(
  node: Extract<PlanNode, { kind: "limit" }>,
  exec: Execution,
  ctx: EvalContext,
) {
  let skip = node.offset;
  let left = node.limit ?? Number.POSITIVE_INFINITY;
  if (left === 0) return;
  for await (const batch of run(node.input, exec, ctx)) {
    let b = batch;
    if (skip > 0) {
      const n = Math.min(skip, b.length);
      skip -= n;
      b = b.slice(n);
    }
    if (b.length === 0) continue;
    if (b.length >= left) {
      yield b.slice(0, left);
      return;
    }
    left -= b.length;
    yield b;
  }
}

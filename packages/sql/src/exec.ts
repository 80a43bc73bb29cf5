/**
 * The executor: runs a plan over sources it is handed. Scans stream batches; hash joins build
 * the smaller side (within limits) and push its keys into the other side's scan as IN lists run
 * in parallel chunks, or as a range when there are too many; aggregates, sorts and DISTINCT run
 * in memory. I/O comes in through `SourceRunner`, so this module needs no driver.
 */
import { EntenteError } from "@entente/protocol";
import type { Catalog } from "./catalog.ts";
import { compile, compilePredicate, type EvalContext, type SubqueryResult } from "./evaluate.ts";
import type { AggCall, JoinNode, PlanNode, QueryPlan, ScanNode } from "./plan.ts";
import { keyFilters, renderScan } from "./scan-sql.ts";
import type { Row, SourceStatement, Value } from "./types.ts";
import {
  compareForSort,
  compareValues,
  compositeKey,
  groupKey,
  keyOf,
  normalizeOutput,
  rowBytes,
} from "./values.ts";

export interface SourceRunner {
  /** Runs one statement on a source and streams its rows. */
  query(
    source: string,
    statement: SourceStatement,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Row[]>>;
}

export interface ExecLimits {
  /** A hash join's build side may hold at most this many rows … */
  maxBuildRows: number;
  /** … and about this many bytes. */
  maxBuildBytes: number;
  /** Up to this many distinct build keys go to the probe side as IN lists; above, a range. */
  dynamicFilterMaxKeys: number;
  /** Keys per IN list statement (also bounded by the source's parameter limit). */
  inListChunk: number;
  /** IN list statements in flight at once per scan. */
  parallelChunks: number;
  /** Rows per output batch. */
  batchRows: number;
}

export const DEFAULT_LIMITS: ExecLimits = {
  maxBuildRows: 2_000_000,
  maxBuildBytes: 512 * 1024 * 1024,
  dynamicFilterMaxKeys: 100_000,
  inListChunk: 5_000,
  parallelChunks: 4,
  batchRows: 5_000,
};

export interface SourceStats {
  rows: number;
  bytes: number;
  ms: number;
  queries: number;
}

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
  /** Keep at most this many statement texts for reporting. */
  private readonly maxSentLogged = 64;

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
  }

  /** Runs a statement on a source, counting rows, bytes, time and queries. */
  async *fetch(
    source: string,
    statement: SourceStatement,
    signal: AbortSignal,
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
      const batches = await this.runner.query(source, statement, signal);
      for await (const batch of batches) {
        stats.rows += batch.length;
        for (const row of batch) stats.bytes += rowBytes(row);
        yield batch;
      }
    } finally {
      stats.ms += performance.now() - started;
    }
  }
}

/**
 * What one operator holds in memory (a build side, a subquery, groups, rows to sort or to
 * deduplicate), failing with TOO_LARGE past the configured limits rather than exhausting the
 * worker.
 */
class MemoryBudget {
  private rows = 0;
  private bytes = 0;
  private readonly what: string;
  private readonly limits: ExecLimits;
  constructor(what: string, limits: ExecLimits) {
    this.what = what;
    this.limits = limits;
  }
  add(row: Row): void {
    this.rows++;
    this.bytes += rowBytes(row);
    const { maxBuildRows, maxBuildBytes } = this.limits;
    if (this.rows <= maxBuildRows && this.bytes <= maxBuildBytes) return;
    throw new EntenteError(
      "TOO_LARGE",
      `${this.what} exceeded its limit (${this.rows} rows, ~${Math.round(this.bytes / 1048576)} MiB; ` +
        `sqlJoin.maxBuildRows ${maxBuildRows}, sqlJoin.maxBuildBytes ${maxBuildBytes}): add a filter or raise the limit`,
      { details: { rows: this.rows, bytes: this.bytes } },
    );
  }
}

/** Runs the plan; yields result batches with output values normalized. */
export async function* executePlan(plan: QueryPlan, exec: Execution): AsyncGenerator<Row[]> {
  const ctx: EvalContext = { subqueries: [] };
  for (const sub of plan.subqueries) ctx.subqueries.push(await runSubquery(sub, exec, ctx));
  let out: Row[] = [];
  for await (const batch of run(plan.root, exec, ctx)) {
    for (const row of batch) {
      out.push(row.map(normalizeOutput));
      if (out.length >= exec.limits.batchRows) {
        yield out;
        out = [];
      }
    }
  }
  if (out.length > 0) yield out;
}

async function runSubquery(
  node: PlanNode,
  exec: Execution,
  ctx: EvalContext,
): Promise<SubqueryResult> {
  const rows: Row[] = [];
  const budget = new MemoryBudget("a subquery's result", exec.limits);
  for await (const batch of run(node, exec, ctx)) {
    for (const r of batch) {
      budget.add(r);
      rows.push(r);
    }
  }
  const keys = new Set<unknown>();
  let hasNull = false;
  for (const r of rows) {
    const k = compositeKey(r);
    if (k === undefined) hasNull = true;
    else keys.add(k);
  }
  return { rows, keys, hasNull };
}

export function run(node: PlanNode, exec: Execution, ctx: EvalContext): AsyncGenerator<Row[]> {
  switch (node.kind) {
    case "scan":
      return runScan(node, exec, ctx);
    case "remote":
      return runRemote(node, exec);
    case "values":
      return (async function* () {
        yield node.rows.map((r) => r.map((e) => compile(e, ctx)([])));
      })();
    case "filter":
      return runFilter(node.input, compilePredicate(node.predicate, ctx), exec, ctx);
    case "project":
      return runProject(node, exec, ctx);
    case "join":
      return runJoin(node, exec, ctx);
    case "aggregate":
      return runAggregate(node, exec, ctx);
    case "sort":
      return runSort(node, exec, ctx);
    case "limit":
      return runLimit(node, exec, ctx);
    case "distinct":
      return runDistinct(node, exec, ctx);
    case "union":
      return (async function* () {
        for (const input of node.inputs) yield* run(input, exec, ctx);
      })();
  }
}

async function* runRemote(
  node: Extract<PlanNode, { kind: "remote" }>,
  exec: Execution,
): AsyncGenerator<Row[]> {
  const positions = node.positions;
  const width = node.columns.length;
  const identity = !positions || (positions.length === width && positions.every((p, i) => p === i));
  for await (const batch of exec.fetch(node.source, node.statement, exec.signal)) {
    if (identity) {
      yield batch;
      continue;
    }
    yield batch.map((r) => {
      const row = new Array<Value>(width);
      for (let j = 0; j < positions.length; j++) row[positions[j] as number] = r[j];
      return row;
    });
  }
}

async function* runFilter(
  input: PlanNode,
  pred: (r: Row) => boolean,
  exec: Execution,
  ctx: EvalContext,
) {
  for await (const batch of run(input, exec, ctx)) {
    const out = batch.filter(pred);
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
    yield batch.map((row) => fns.map((f) => f(row)));
  }
}

/** The build side's keys a join hands to its probe scan, for that scan's `column`. */
interface ProbeKeys {
  column: number;
  values: Value[];
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
    if (!keys) {
      const reshape = shape(plain.fetched);
      for await (const batch of exec.fetch(source.name, plain, controller.signal)) {
        const out = reshape(batch);
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
    const streams = statements.map((s) => () => exec.fetch(source.name, s, controller.signal));
    for await (const batch of mergeBounded(streams, exec.limits.parallelChunks)) {
      const out = reshape(batch);
      if (out.length > 0) yield out;
    }
  } finally {
    exec.signal.removeEventListener("abort", abort);
    controller.abort();
  }
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
// Hash join

interface BuildTable {
  buckets: Map<unknown, Row[]>;
  rows: Row[];
  matched?: Set<Row>;
}

async function* runJoin(join: JoinNode, exec: Execution, ctx: EvalContext): AsyncGenerator<Row[]> {
  const buildLeft = join.build === "left";
  const buildNode = buildLeft ? join.left : join.right;
  const probeNode = buildLeft ? join.right : join.left;
  const buildKeys = (buildLeft ? join.leftKeys : join.rightKeys).map((k) => compile(k, ctx));
  const probeKeys = (buildLeft ? join.rightKeys : join.leftKeys).map((k) => compile(k, ctx));
  const leftWidth = join.left.columns.length;
  const rightWidth = join.right.columns.length;
  const residual = join.residual ? compilePredicate(join.residual, ctx) : undefined;
  const preserveBuild =
    join.type === "full" ||
    (join.type === "left" && buildLeft) ||
    (join.type === "right" && !buildLeft);
  const preserveProbe =
    join.type === "full" ||
    (join.type === "left" && !buildLeft) ||
    (join.type === "right" && buildLeft);

  // Without a dynamic filter the probe's query starts while the build side is read.
  let probe: AsyncGenerator<Row[]> | undefined;
  let firstProbe: Promise<IteratorResult<Row[]>> | undefined;
  if (!join.dynamicFilter) {
    probe = run(probeNode, exec, ctx);
    firstProbe = probe.next();
    firstProbe.catch(() => {});
  }
  let table: BuildTable;
  try {
    table = await buildSide(buildNode, buildKeys, exec, ctx, preserveBuild);
  } catch (err) {
    // The probe's statement already runs; end it so its connection goes back to the pool.
    await probe?.return(undefined).catch(() => {});
    throw err;
  }
  if (join.dynamicFilter && probeNode.kind === "scan") {
    if (table.rows.length === 0 && !preserveBuild) return;
    const keyFn = buildKeys[join.dynamicFilter.keyIndex];
    const distinct = new Map<unknown, Value>();
    for (const r of table.rows) {
      const v = keyFn ? keyFn(r) : undefined;
      if (v !== null && v !== undefined) distinct.set(keyOf(v), v);
    }
    probe =
      distinct.size === 0
        ? emptyStream()
        : runScan(probeNode, exec, ctx, {
            column: join.dynamicFilter.column,
            values: [...distinct.values()],
          });
  } else if (!probe) {
    probe = run(probeNode, exec, ctx);
  }

  const combine = buildLeft
    ? (b: Row | undefined, p: Row | undefined) => concatRows(b, leftWidth, p, rightWidth)
    : (b: Row | undefined, p: Row | undefined) => concatRows(p, leftWidth, b, rightWidth);
  const emit = (batch: Row[]): Row[] => {
    const out: Row[] = [];
    for (const p of batch) {
      const key = compositeKey(probeKeys.map((k) => k(p)));
      const matches = key === undefined ? undefined : table.buckets.get(key);
      let found = false;
      if (matches) {
        for (const b of matches) {
          const row = combine(b, p);
          if (residual && !residual(row)) continue;
          found = true;
          table.matched?.add(b);
          out.push(row);
        }
      }
      if (!found && preserveProbe) out.push(combine(undefined, p));
    }
    return out;
  };
  try {
    if (firstProbe) {
      const first = await firstProbe;
      if (!first.done) {
        const out = emit(first.value);
        if (out.length > 0) yield out;
      }
      if (first.done) probe = emptyStream();
    }
    for await (const batch of probe) {
      const out = emit(batch);
      if (out.length > 0) yield out;
    }
  } finally {
    await probe.return(undefined);
  }
  if (preserveBuild && table.matched) {
    const out: Row[] = [];
    for (const b of table.rows) if (!table.matched.has(b)) out.push(combine(b, undefined));
    if (out.length > 0) yield out;
  }
}

async function* emptyStream(): AsyncGenerator<Row[]> {}

function concatRows(l: Row | undefined, lw: number, r: Row | undefined, rw: number): Row {
  const row = new Array<Value>(lw + rw);
  if (l) for (let i = 0; i < lw; i++) row[i] = l[i];
  else for (let i = 0; i < lw; i++) row[i] = null;
  if (r) for (let i = 0; i < rw; i++) row[lw + i] = r[i];
  else for (let i = 0; i < rw; i++) row[lw + i] = null;
  return row;
}

async function buildSide(
  node: PlanNode,
  keys: ((r: Row) => Value)[],
  exec: Execution,
  ctx: EvalContext,
  trackMatches: boolean,
): Promise<BuildTable> {
  const buckets = new Map<unknown, Row[]>();
  const rows: Row[] = [];
  const budget = new MemoryBudget("a join's build side", exec.limits);
  for await (const batch of run(node, exec, ctx)) {
    for (const r of batch) {
      budget.add(r);
      rows.push(r);
      const key = compositeKey(keys.map((k) => k(r)));
      if (key === undefined) continue;
      const bucket = buckets.get(key);
      if (bucket) bucket.push(r);
      else buckets.set(key, [r]);
    }
  }
  return trackMatches ? { buckets, rows, matched: new Set() } : { buckets, rows };
}

// ---------------------------------------------------------------------------------------------
// Aggregation, sort, limit, distinct

interface AggState {
  n: number;
  sum: number | bigint | null;
  best: Value;
  seen?: Map<unknown, Value>;
}

async function* runAggregate(
  node: Extract<PlanNode, { kind: "aggregate" }>,
  exec: Execution,
  ctx: EvalContext,
) {
  const groupFns = node.groups.map((g) => compile(g, ctx));
  const argFns = node.aggs.map((a) => (a.arg ? compile(a.arg, ctx) : undefined));
  const groups = new Map<unknown, { values: Value[]; states: AggState[] }>();
  const budget = new MemoryBudget("GROUP BY's groups", exec.limits);
  const fresh = () =>
    node.aggs.map(
      (a) =>
        ({ n: 0, sum: null, best: null, ...(a.distinct ? { seen: new Map() } : {}) }) as AggState,
    );
  for await (const batch of run(node.input, exec, ctx)) {
    for (const row of batch) {
      const values = groupFns.map((f) => f(row));
      const key = groupKey(values);
      let g = groups.get(key);
      if (!g) {
        g = { values, states: fresh() };
        groups.set(key, g);
        budget.add(values);
      }
      for (let i = 0; i < node.aggs.length; i++) {
        const fn = argFns[i];
        const a = node.aggs[i] as AggCall;
        const st = g.states[i] as AggState;
        if (!fn) {
          st.n++;
          continue;
        }
        const v = fn(row);
        if (v === null || v === undefined) continue;
        if (st.seen) {
          const k = keyOf(v);
          if (st.seen.has(k)) continue;
          st.seen.set(k, v);
        }
        accumulate(a, st, v);
      }
    }
  }
  if (groups.size === 0 && node.groups.length === 0)
    groups.set("", { values: [], states: fresh() });
  const out: Row[] = [];
  for (const g of groups.values()) {
    out.push([...g.values, ...g.states.map((st, i) => finish(node.aggs[i] as AggCall, st))]);
  }
  if (out.length > 0) yield out;
}

function accumulate(a: AggCall, st: AggState, v: Value): void {
  st.n++;
  switch (a.fn) {
    case "sum":
    case "avg":
      st.sum = addNumbers(st.sum ?? 0, v as number | bigint);
      return;
    case "min":
      if (st.best === null || compareValues(v, st.best) < 0) st.best = v;
      return;
    case "max":
      if (st.best === null || compareValues(v, st.best) > 0) st.best = v;
      return;
    default:
      return;
  }
}

/** Exact in bigint while every addend is an integer; a fraction turns the sum into a double. */
function addNumbers(sum: number | bigint, v: number | bigint): number | bigint {
  if (typeof sum === "number" && typeof v === "number") return sum + v;
  const fraction =
    (typeof sum === "number" && !Number.isInteger(sum)) ||
    (typeof v === "number" && !Number.isInteger(v));
  return fraction ? Number(sum) + Number(v) : BigInt(sum) + BigInt(v);
}

function finish(a: AggCall, st: AggState): Value {
  switch (a.fn) {
    case "count":
      return st.n;
    case "sum":
      if (st.n === 0) return null;
      return a.type === "decimal" && typeof st.sum === "number" ? roundDecimal(st.sum) : st.sum;
    case "avg":
      return st.n === 0 ? null : roundDecimal(Number(st.sum) / st.n);
    default:
      return st.best;
  }
}

async function* runSort(
  node: Extract<PlanNode, { kind: "sort" }>,
  exec: Execution,
  ctx: EvalContext,
) {
  const keys = node.keys.map((k) => ({
    f: compile(k.expr, ctx),
    desc: k.desc,
    nullsFirst: k.nullsFirst,
  }));
  const rows: { row: Row; values: Value[] }[] = [];
  const budget = new MemoryBudget("ORDER BY's rows", exec.limits);
  for await (const batch of run(node.input, exec, ctx)) {
    for (const row of batch) {
      budget.add(row);
      rows.push({ row, values: keys.map((k) => k.f(row)) });
    }
  }
  rows.sort((a, b) => {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as (typeof keys)[number];
      const c = compareForSort(a.values[i], b.values[i], k.desc, k.nullsFirst);
      if (c !== 0) return c;
    }
    return 0;
  });
  for (let i = 0; i < rows.length; i += exec.limits.batchRows) {
    yield rows.slice(i, i + exec.limits.batchRows).map((r) => r.row);
  }
}

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

async function* runDistinct(
  node: Extract<PlanNode, { kind: "distinct" }>,
  exec: Execution,
  ctx: EvalContext,
) {
  const seen = new Set<unknown>();
  const budget = new MemoryBudget("DISTINCT's rows", exec.limits);
  for await (const batch of run(node.input, exec, ctx)) {
    const out: Row[] = [];
    for (const row of batch) {
      const k = groupKey(row);
      if (seen.has(k)) continue;
      budget.add(row);
      seen.add(k);
      out.push(row);
    }
    if (out.length > 0) yield out;
  }
}

/** Sums of decimals carry binary rounding noise; exact decimals have at most a few places. */
function roundDecimal(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e15) return x;
  return Number(x.toFixed(9));
}

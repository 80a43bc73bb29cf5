/** An in-memory source for the pure engine tests: tables as arrays, scans answered from them. */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collectSqlResult, EntenteError } from "@entente/protocol";
import { afterAll, beforeAll } from "vitest";
import {
  type CatalogTable,
  type ExecLimits,
  planSql,
  type Row,
  runPlan,
  type SourceCapabilities,
  type SourceInfo,
  type SourceRunner,
  type SqlDialect,
  StaticCatalog,
} from "../src/index.ts";

export const pgDialect: SqlDialect = {
  kind: "postgres",
  quoteIdentifier: (n) => `"${n.replaceAll('"', '""')}"`,
  placeholder: (i) => `$${i}`,
};

export const mysqlDialect: SqlDialect = {
  kind: "mysql",
  quoteIdentifier: (n) => `\`${n.replaceAll("`", "``")}\``,
  placeholder: () => "?",
};

export function capabilities(overrides: Partial<SourceCapabilities> = {}): SourceCapabilities {
  return {
    filters: true,
    textComparison: "binary",
    like: true,
    aggregates: true,
    countDistinct: true,
    joins: true,
    orderByNullsOrdering: true,
    limit: true,
    maxParams: 65535,
    ...overrides,
  };
}

/** Capabilities under which nothing is pushed: the memory runner then only projects. */
export const NOTHING_PUSHED = capabilities({ filters: false, aggregates: false, limit: false });

export interface MemoryTable {
  source: string;
  name: string;
  columns: CatalogTable["columns"];
  rows: Row[];
}

/** The EntenteError `f` throws; any other outcome fails the test. */
export function refusal(f: () => unknown): EntenteError {
  try {
    f();
  } catch (err) {
    if (err instanceof EntenteError) return err;
    throw err;
  }
  throw new Error("expected a refusal");
}

/** Columns `a integer, b integer, c text`, as several tests' tables have them. */
export const ABC_COLUMNS: MemoryTable["columns"] = [
  { name: "a", type: "integer" },
  { name: "b", type: "integer" },
  { name: "c", type: "text" },
];

/** Rows of ABC_COLUMNS with duplicates and all-NULL rows, for set operations and grouping. */
export const ABC_ROWS_WITH_DUPLICATES: Row[] = [
  [1, 10, "x"],
  [1, 10, "x"],
  [1, 40, "x"],
  [2, 20, "y"],
  [null, null, null],
  [null, null, null],
  [3, 30, "z"],
];

export function memoryCatalog(tables: MemoryTable[], sources: SourceInfo[]): StaticCatalog {
  return new StaticCatalog(
    tables.map((t) => ({
      source: t.source,
      schema: "main",
      name: t.name,
      columns: t.columns,
      rowCount: t.rows.length,
    })),
    sources,
  );
}

const SCAN = /^SELECT (.+) FROM "main"\."([^"]+)"$/;

/** Answers plain scans (projection only) from the tables. */
export function memoryRunner(tables: MemoryTable[]): SourceRunner & { statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    async query(source, statement) {
      statements.push(statement.sql);
      const m = SCAN.exec(statement.sql);
      if (!m) throw new Error(`memory source cannot run: ${statement.sql}`);
      const table = tables.find((t) => t.source === source && t.name === m[2]);
      if (!table) throw new Error(`no table ${m[2]} in ${source}`);
      const names = m[1] === "1" ? [] : (m[1] as string).split(", ").map((c) => c.slice(1, -1));
      const idx = names.map((n) => table.columns.findIndex((c) => c.name === n));
      const rows = table.rows.map((r) => idx.map((i) => r[i]));
      return (async function* () {
        for (let i = 0; i < rows.length; i += 7) yield rows.slice(i, i + 7);
      })();
    },
  };
}

/**
 * Answers each scan with its table's rows, whatever its WHERE: a WHERE only narrows, and the
 * engine still matches a join's rows by key — for plans whose sources take only join keys.
 */
export function keyedScanRunner(
  tables: readonly Pick<MemoryTable, "name" | "columns" | "rows">[],
): SourceRunner & { statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    async query(_source, statement) {
      statements.push(statement.sql);
      const m = /^SELECT (.+?) FROM "main"\."(\w+)"/.exec(statement.sql);
      const table = tables.find((t) => t.name === m?.[2]);
      if (!m || !table) throw new Error(`cannot run ${statement.sql}`);
      const idx = (m[1] as string)
        .split(", ")
        .map((c) => table.columns.findIndex((col) => `"${col.name}"` === c));
      const rows = table.rows.map((r) => idx.map((i) => r[i]));
      return (async function* () {
        yield rows;
      })();
    },
  };
}

export async function runSql(
  sql: string,
  catalog: StaticCatalog,
  runner: SourceRunner,
  params: unknown[] = [],
) {
  const { plan } = planSql(sql, catalog, params);
  const { execution, batches } = runPlan(plan, catalog, runner, new AbortController().signal, {
    batchRows: 5,
  });
  const items: unknown[] = [{ columns: plan.columns }];
  for await (const rows of batches) items.push({ rows });
  return { ...collectSqlResult(items), execution };
}

/** A statement's rows over in-memory tables under `limits` (spilling, memory), 300 to a batch. */
export async function rowsUnder(
  tables: MemoryTable[],
  sources: SourceInfo[],
  sql: string,
  limits: Partial<ExecLimits>,
): Promise<Row[]> {
  const catalog = memoryCatalog(tables, sources);
  const { plan } = planSql(sql, catalog);
  const { batches } = runPlan(plan, catalog, memoryRunner(tables), new AbortController().signal, {
    batchRows: 300,
    ...limits,
  });
  const out: Row[] = [];
  for await (const b of batches) out.push(...b);
  return out;
}

/**
 * The rows a statement gives over in-memory tables, every operator run in the engine: each
 * source named by the tables, nothing pushed to it.
 */
export function rowsOver(tables: MemoryTable[]): (sql: string) => Promise<unknown[][]> {
  const sources = [...new Set(tables.map((t) => t.source))].map((name) => ({
    name,
    dialect: pgDialect,
    capabilities: NOTHING_PUSHED,
  }));
  const catalog = memoryCatalog(tables, sources);
  return async (sql) => (await runSql(sql, catalog, memoryRunner(tables))).rows;
}

/**
 * A spill directory of the test file's own, made before its tests and removed after them, and
 * the run files left anywhere under it (an operator must remove its own).
 */
export function spillDirectory(): {
  limits(maxBytes: number): { dir: string; maxBytes: number };
  runFiles(): Promise<string[]>;
} {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "entente-spill-test-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return {
    limits: (maxBytes) => ({ dir, maxBytes }),
    async runFiles() {
      const all = await readdir(dir, { recursive: true });
      return all.filter((f) => f.endsWith(".msgpack"));
    },
  };
}

/** A runner that knows which of its scans are still open. */
export function watchedRunner(tables: MemoryTable[]): SourceRunner & { open: Set<unknown> } {
  const inner = memoryRunner(tables);
  const open = new Set<unknown>();
  return {
    open,
    async query(source, statement, signal) {
      const rows = await inner.query(source, statement, signal);
      return (async function* () {
        open.add(statement);
        try {
          yield* rows;
        } finally {
          open.delete(statement);
        }
      })();
    },
  };
}

/**
 * A statement's rows over in-memory tables as sorted JSON text (bigints written out), to compare
 * answers whose order is any order — a spilled operator's and the in-memory one's.
 */
export async function sortedRows(
  tables: MemoryTable[],
  sources: SourceInfo[],
  sql: string,
  limits: Partial<ExecLimits> = {},
  runner: SourceRunner = memoryRunner(tables),
): Promise<string[]> {
  const catalog = memoryCatalog(tables, sources);
  const { plan } = planSql(sql, catalog);
  const { batches } = runPlan(plan, catalog, runner, new AbortController().signal, {
    batchRows: 300,
    ...limits,
  });
  const out: string[] = [];
  for await (const b of batches) {
    for (const r of b) out.push(JSON.stringify(r, (_, v) => (typeof v === "bigint" ? `${v}n` : v)));
  }
  return out.sort();
}

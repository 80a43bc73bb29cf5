/**
 * A statement the plan sends more than once is read once, its rows handed to every use: within
 * the bounds, past them (the first use reads on, the others their own) and where one use waits
 * for another (a CTE joined with itself).
 */
import { describe, expect, it } from "vitest";
import {
  type ColumnDef,
  type PlanNode,
  type QueryPlan,
  type RemoteNode,
  type Row,
  runPlan,
  type SourceRunner,
  StaticCatalog,
} from "../src/index.ts";
import { markSharedReads } from "../src/shared-reads.ts";
import { capabilities, pgDialect } from "./helpers.ts";

const COLUMNS: ColumnDef[] = [{ name: "a", type: "integer" }];
const catalog = new StaticCatalog(
  [],
  [{ name: "s", dialect: pgDialect, capabilities: capabilities() }],
);

/** A source whose one statement answers 1..n in batches of 7, counting the times it runs. */
function counting(n: number): SourceRunner & { runs: number } {
  const runner = {
    runs: 0,
    async query() {
      runner.runs++;
      return (async function* () {
        for (let i = 1; i <= n; i += 7) {
          yield Array.from({ length: Math.min(7, n - i + 1) }, (_, k) => [i + k]);
        }
      })();
    },
  };
  return runner;
}

const read = (): RemoteNode => ({
  kind: "remote",
  source: "s",
  statement: { sql: "SELECT a FROM t", params: [] },
  columns: COLUMNS,
  describes: "t",
  estimate: 50,
});

async function rowsOf(root: PlanNode, runner: SourceRunner, maxBuildRows = 1_000) {
  const plan: QueryPlan = markSharedReads({ root, subqueries: [], columns: root.columns });
  const { batches } = runPlan(plan, catalog, runner, new AbortController().signal, {
    maxBuildRows,
  });
  const out: Row[] = [];
  for await (const b of batches) out.push(...b);
  return out.map((r) => r[0] as number).sort((x, y) => x - y);
}

const twice = (): PlanNode => ({
  kind: "union",
  inputs: [read(), read()],
  columns: COLUMNS,
  estimate: 100,
});

describe("a statement sent twice", () => {
  it("runs once, each use handed all of its rows", async () => {
    const runner = counting(30);
    const rows = await rowsOf(twice(), runner);
    expect(rows).toEqual(Array.from({ length: 30 }, (_, i) => [i + 1, i + 1]).flat());
    expect(runner.runs).toBe(1);
  });

  it("runs once more, and no more, when its rows go past the memory it may hold", async () => {
    const runner = counting(30);
    const rows = await rowsOf(twice(), runner, 10);
    expect(rows).toEqual(Array.from({ length: 30 }, (_, i) => [i + 1, i + 1]).flat());
    expect(runner.runs).toBe(2);
  });

  it("serves a join of the statement with itself, whichever side asks first", async () => {
    const runner = counting(30);
    const key = { k: "col", i: 0, type: "integer", name: "a" } as const;
    const join: PlanNode = {
      kind: "join",
      type: "inner",
      left: read(),
      right: read(),
      leftKeys: [key],
      rightKeys: [key],
      build: "right",
      columns: [...COLUMNS, ...COLUMNS],
      estimate: 30,
    };
    const rows = await rowsOf(join, runner);
    expect(rows).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(runner.runs).toBe(1);
  });
});

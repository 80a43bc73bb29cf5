/**
 * The statement's limits over in-memory sources: a deadline that ends CPU-bound work, one memory
 * budget for every operator of a plan, join output in bounded batches, and an event loop that
 * keeps turning while a statement works.
 */
import { EntenteError } from "@entente/protocol";
import {
  DEFAULT_PACE,
  Pacer,
  paceVerdict,
  SORT_RUN,
  sortPaced,
  stopReason,
} from "@entente/runtime/pace";
import { describe, expect, it } from "vitest";
import { memoryVerdict, StatementMemory } from "../src/budget.ts";
import {
  type ExecLimits,
  Execution,
  type PlanNode,
  planSql,
  type Row,
  run,
  runPlan,
  type SourceInfo,
  type StaticCatalog,
} from "../src/index.ts";
import {
  capabilities,
  type MemoryTable,
  memoryCatalog,
  memoryRunner,
  pgDialect,
} from "./helpers.ts";

/** One source that runs plain scans only, so every join runs in the engine. */
const sources: SourceInfo[] = [
  {
    name: "a",
    dialect: pgDialect,
    capabilities: capabilities({ filters: false, aggregates: false, limit: false, joins: false }),
  },
];

const ID_K = [
  { name: "id", type: "integer" as const },
  { name: "k", type: "integer" as const },
];

function table(name: string, rows: number, kinds = rows): MemoryTable {
  return {
    source: "a",
    name,
    columns: ID_K,
    rows: Array.from({ length: rows }, (_, i) => [i, i % kinds]),
  };
}

/** The demo's shape: 1,000 users and 5,000 orders. */
const demo = [table("users", 1000), table("orders", 5000)];
const CROSS3 = "SELECT count(*) FROM users u CROSS JOIN orders o CROSS JOIN users u2";

/** Twenty ten-row tables whose keys take two values: each join multiplies the rows by five. */
const chain = Array.from({ length: 20 }, (_, i) => table(`t${i}`, 10, 2));
const chainJoin = (select: string) =>
  `SELECT ${select} FROM t0 ${chain
    .slice(1)
    .map((_, i) => `JOIN t${i + 1} ON t${i + 1}.k = t${i}.k`)
    .join(" ")}`;

/** A statement that should end on its memory limit ends on this one if it does not. */
const BOUNDED = { timeoutMs: 5000 };

interface Outcome {
  rows: Row[];
  error?: EntenteError;
}

async function execute(
  sql: string,
  tables: MemoryTable[],
  limits: Partial<ExecLimits> = {},
  signal: AbortSignal = new AbortController().signal,
): Promise<Outcome> {
  const catalog = memoryCatalog(tables, sources);
  const { plan } = planSql(sql, catalog);
  const { batches } = runPlan(plan, catalog, memoryRunner(tables), signal, limits);
  const rows: Row[] = [];
  try {
    for await (const batch of batches) rows.push(...batch);
  } catch (err) {
    if (err instanceof EntenteError) return { rows, error: err };
    throw err;
  }
  return { rows };
}

function findJoin(node: PlanNode): PlanNode {
  if (node.kind === "join") return node;
  if ("input" in node) return findJoin(node.input);
  throw new Error(`no join under ${node.kind}`);
}

/** The batches a plan's topmost join hands on, read up to `most` batches. */
async function joinBatches(
  sql: string,
  tables: MemoryTable[],
  limits: Partial<ExecLimits>,
  most = Number.POSITIVE_INFINITY,
): Promise<{ sizes: number[]; peakRowsHeld: number; exec: Execution }> {
  const catalog: StaticCatalog = memoryCatalog(tables, sources);
  const { plan } = planSql(sql, catalog);
  const exec = new Execution(catalog, memoryRunner(tables), new AbortController().signal, limits);
  const sizes: number[] = [];
  let peakRowsHeld = 0;
  for await (const batch of run(findJoin(plan.root), exec, { subqueries: [] })) {
    sizes.push(batch.length);
    peakRowsHeld = Math.max(peakRowsHeld, exec.memory.held.rows);
    if (sizes.length >= most) break;
  }
  return { sizes, peakRowsHeld, exec };
}

describe("the statement's deadline", () => {
  it("ends a three-way cross join under count(*) when its signal times out", async () => {
    const out = await execute(CROSS3, demo, {}, AbortSignal.timeout(100));
    expect(out.error?.code).toBe("DEADLINE_EXCEEDED");
  });

  it("ends it on its own clock when the signal has no timer", async () => {
    const out = await execute(CROSS3, demo, { timeoutMs: 100 });
    expect(out.error?.code).toBe("DEADLINE_EXCEEDED");
  });

  it("ends a deep join tree of tiny tables that would run for ages", async () => {
    const out = await execute(chainJoin("count(*)"), chain, { timeoutMs: 100 });
    expect(out.error?.code).toBe("DEADLINE_EXCEEDED");
  });

  it("ends a join whose residual rejects every pair, so it yields nothing", async () => {
    const out = await execute(
      "SELECT count(*) FROM users u JOIN orders o ON u.k = o.k AND u.id + o.id < 0 CROSS JOIN users u2",
      [table("users", 1000, 1), table("orders", 5000, 1)],
      { timeoutMs: 100 },
    );
    expect(out.error?.code).toBe("DEADLINE_EXCEEDED");
  });

  it("lets timers fire while it works, and stops when one cancels it", async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 50);
    const out = await execute(CROSS3, demo, {}, controller.signal);
    clearTimeout(timer);
    expect(out.error?.code).toBe("CANCELLED");
  });

  it("answers a small statement while a heavy one runs", async () => {
    const order: string[] = [];
    const heavy = execute(CROSS3, demo, {}, AbortSignal.timeout(1000)).then((out) => {
      order.push("heavy");
      return out;
    });
    const small = await execute("SELECT count(*) FROM orders", demo);
    order.push("small");
    expect(small.rows).toEqual([[5000]]);
    expect((await heavy).error?.code).toBe("DEADLINE_EXCEEDED");
    expect(order).toEqual(["small", "heavy"]);
  });
});

describe("the statement's memory budget", () => {
  it("counts every build side of a deep join tree together", async () => {
    // Nineteen build sides of ten rows each: none is over 150 rows, all of them together are.
    const out = await execute(chainJoin("count(*)"), chain, { ...BOUNDED, maxBuildRows: 150 });
    expect(out.error?.code).toBe("TOO_LARGE");
    expect(out.error?.message).toContain("a join's build side took the statement over");
    expect(out.error?.message).toContain("sqlJoin.maxBuildRows 150");
    expect(out.error?.details?.operatorRows).toBeLessThanOrEqual(10);
    expect(out.error?.details?.rows).toBeGreaterThan(150);
  });

  it("ends ORDER BY over a deep join of tiny tables at the byte limit", async () => {
    const out = await execute(`${chainJoin("t0.id, t19.id")} ORDER BY 2`, chain, {
      ...BOUNDED,
      maxBuildBytes: 4 * 1024 * 1024,
    });
    expect(out.error?.code).toBe("TOO_LARGE");
    expect(out.error?.message).toContain("ORDER BY's rows");
    expect(out.error?.message).toContain("sqlJoin.maxBuildBytes 4194304");
  });

  it("ends a build side made of a join once it is over", async () => {
    const out = await execute(
      "SELECT count(*) FROM t0 CROSS JOIN (SELECT t1.id FROM t1, t2, t3, t4, t5) s",
      chain,
      { ...BOUNDED, maxBuildRows: 50_000 },
    );
    expect(out.error?.code).toBe("TOO_LARGE");
    expect(out.error?.message).toContain("a join's build side");
  });

  it("takes back what operators held once they are done", async () => {
    const { exec } = await joinBatches(
      "SELECT * FROM users u JOIN orders o ON u.id = o.k",
      demo,
      {},
    );
    expect(exec.memory.held).toEqual({ rows: 0, bytes: 0 });
  });

  it("holds a share per operator and says which one went over", () => {
    const memory = new StatementMemory({ maxRows: 3, maxBytes: 1000 });
    const build = memory.share("a join's build side");
    const groups = memory.share("GROUP BY's groups");
    build.take(2, 100);
    groups.take(1, 100);
    expect(memory.held).toEqual({ rows: 3, bytes: 200 });
    expect(() => groups.take(0, 900)).toThrow(/GROUP BY's groups took the statement over/);
    build.release();
    groups.release();
    expect(memory.held).toEqual({ rows: 0, bytes: 0 });
    expect(memoryVerdict({ rows: 4, bytes: 0 }, memory.limits)).toBe("too many rows");
    expect(memoryVerdict({ rows: 0, bytes: 1001 }, memory.limits)).toBe("too many bytes");
  });
});

describe("join output", () => {
  it("goes out in batches of at most batchRows whatever a probe row matches", async () => {
    // A cross join builds its right side: one probe row meets all 1,000 build rows.
    const tables = [table("one", 1), table("many", 1000)];
    const { sizes } = await joinBatches("SELECT * FROM one CROSS JOIN many", tables, {
      batchRows: 64,
    });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it("streams a deep join tree in bounded batches, holding only its build sides", async () => {
    const { sizes, peakRowsHeld, exec } = await joinBatches(
      chainJoin("*"),
      chain,
      { batchRows: 100 },
      50,
    );
    expect(sizes).toHaveLength(50);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(peakRowsHeld).toBe(19 * 10);
    expect(exec.memory.held.rows).toBe(0);
  });
});

describe("pacing", () => {
  const never = new AbortController().signal;

  it("goes on within a slice, yields after it, and stops when aborted or late", () => {
    expect(paceVerdict(5, 0, 10, undefined, false)).toBe("go on");
    expect(paceVerdict(10, 0, 10, undefined, false)).toBe("yield");
    expect(paceVerdict(5, 0, 10, 5, false)).toBe("stop");
    expect(paceVerdict(5, 0, 10, undefined, true)).toBe("stop");
  });

  it("reads the clock once per stride of work", () => {
    let now = 0;
    let reads = 0;
    const pacer = new Pacer(never, undefined, { sliceMs: 10, stride: 100 }, () => {
      reads++;
      return now;
    });
    reads = 0;
    now = 50;
    expect(pacer.due(99)).toBe(false);
    expect(reads).toBe(0);
    expect(pacer.due(1)).toBe(true);
    expect(reads).toBe(1);
  });

  it("throws the reason a statement ends with", async () => {
    let now = 0;
    const late = new Pacer(never, 100, DEFAULT_PACE, () => now);
    now = 100;
    expect(late.due(DEFAULT_PACE.stride)).toBe(true);
    await expect(late.pause()).rejects.toMatchObject({ code: "DEADLINE_EXCEEDED" });
    const cancelled = new AbortController();
    cancelled.abort();
    expect(stopReason(cancelled.signal).code).toBe("CANCELLED");
    expect(stopReason(AbortSignal.abort(new DOMException("t", "TimeoutError"))).code).toBe(
      "DEADLINE_EXCEEDED",
    );
    const given = new EntenteError("SHUTTING_DOWN", "bye");
    expect(stopReason(AbortSignal.abort(given))).toBe(given);
  });

  it("sorts in paced runs exactly as a stable sort does", async () => {
    const pacer = new Pacer(never, undefined, { sliceMs: 0, stride: 1 });
    for (const n of [0, 1, SORT_RUN - 1, SORT_RUN, 3 * SORT_RUN + 17]) {
      const items = Array.from({ length: n }, (_, i) => ({ key: (i * 7919) % 97, at: i }));
      const expected = [...items].sort((a, b) => a.key - b.key);
      const sorted = await sortPaced(items, (a, b) => a.key - b.key, pacer);
      expect(sorted).toEqual(expected);
    }
  });
});

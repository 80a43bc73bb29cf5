/**
 * OR conditions rewritten so the planner can use them, as TPC-H Q19 needs:
 *
 * - A conjunct every branch shares moves out: `(k = k' AND x) OR (k = k' AND y)` is
 *   `k = k' AND (x OR y)` (AND and OR distribute in SQL's three-valued logic too), so a join key
 *   written inside every branch is a join key.
 * - Each table whose columns every branch constrains gets the OR of those constraints as an
 *   extra filter of its own (`(p_brand = 'a' AND …) OR (p_brand = 'b' AND …)` for `part`): it is
 *   implied by the whole OR, so it removes no row the statement keeps, and it can go to the
 *   table's source. The original OR still decides.
 *
 * Pure: expressions in, expressions out, for WHERE clauses (whose rows must be TRUE).
 */
import type { Expr } from "./plan.ts";

export interface Factored {
  conjuncts: Expr[];
  /**
   * The implied filters among them: new expressions, whose column references nothing has counted
   * yet (a scan fetches the columns its predicates read unless its source evaluates them).
   */
  implied: Set<Expr>;
}

export function factorDisjunctions(
  conjuncts: Expr[],
  tablesOf: (e: Expr) => ReadonlySet<number>,
  hasSubquery: (e: Expr) => boolean,
): Factored {
  const out: Expr[] = [];
  const implied = new Set<Expr>();
  for (const c of conjuncts) {
    if (c.k !== "or") {
      out.push(c);
      continue;
    }
    const { common, rest } = commonConjuncts(c.args.map(conjunctsOf));
    out.push(...common);
    // A branch left with nothing is TRUE once the common part holds: the OR adds nothing.
    if (rest.some((b) => b.length === 0)) continue;
    const or: Expr = common.length > 0 ? { k: "or", args: rest.map(and), type: "boolean" } : c;
    const filters = impliedFilters(rest, tablesOf, hasSubquery);
    for (const f of filters) implied.add(f);
    out.push(or, ...filters);
  }
  return { conjuncts: out, implied };
}

function conjunctsOf(e: Expr): Expr[] {
  return e.k === "and" ? e.args.flatMap(conjunctsOf) : [e];
}

function and(parts: Expr[]): Expr {
  return parts.length === 1 ? (parts[0] as Expr) : { k: "and", args: parts, type: "boolean" };
}

/** A structural identity for expressions (bigints included). */
function keyOf(e: Expr): string {
  return JSON.stringify(e, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
}

function commonConjuncts(branches: Expr[][]): { common: Expr[]; rest: Expr[][] } {
  const keyed = branches.map((b) => b.map((e) => ({ e, key: keyOf(e) })));
  const [first, ...others] = keyed;
  const shared = new Set(
    (first ?? []).map((x) => x.key).filter((k) => others.every((b) => b.some((x) => x.key === k))),
  );
  if (shared.size === 0) return { common: [], rest: branches };
  const common = (first ?? []).filter((x) => shared.has(x.key)).map((x) => x.e);
  const uniqueCommon = common.filter(
    (e, i) => common.findIndex((f) => keyOf(f) === keyOf(e)) === i,
  );
  return {
    common: uniqueCommon,
    rest: keyed.map((b) => b.filter((x) => !shared.has(x.key)).map((x) => x.e)),
  };
}

/** Per table that every branch constrains alone: the OR of those constraints. */
function impliedFilters(
  branches: Expr[][],
  tablesOf: (e: Expr) => ReadonlySet<number>,
  hasSubquery: (e: Expr) => boolean,
): Expr[] {
  const tables = new Set(branches.flat().flatMap((e) => [...tablesOf(e)]));
  if (tables.size < 2) return [];
  const implied: Expr[] = [];
  for (const t of tables) {
    const own = branches.map((b) =>
      b.filter((e) => {
        const ts = tablesOf(e);
        return ts.size === 1 && ts.has(t) && !hasSubquery(e);
      }),
    );
    if (own.every((o) => o.length > 0))
      implied.push({ k: "or", args: own.map(and), type: "boolean" });
  }
  return implied;
}

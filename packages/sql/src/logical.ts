/**
 * Logical tables: one name over several physical tables — shards by a key (ranges, a hash, or
 * the region bits of a region-aware id) or hot and cold tiers by a time column. The planner
 * reads only the members a statement's predicates can match, and a tier's boundary is applied
 * as a predicate so a row is read from exactly one tier.
 */
import { regionOf } from "@entente/protocol";
import type { Expr } from "./plan.ts";
import type { CatalogTable, ColumnDef, SqlType, Value } from "./types.ts";
import { compareValues } from "./values.ts";

export type MemberConstraint =
  /** Rows with `from <= column < to` (either end open). `enforce`: also filter by it. */
  | { kind: "range"; column: string; from?: Value; to?: Value; enforce: boolean }
  /** Rows whose key hashes to `bucket` of `buckets` (see hashBucket). */
  | { kind: "hash"; column: string; buckets: number; bucket: number }
  /** Rows whose region-aware id belongs to one of `regions`. */
  | { kind: "region"; column: string; regions: number[] };

export interface LogicalMember {
  label: string;
  table: CatalogTable;
  constraint: MemberConstraint;
}

export interface LogicalTable {
  name: string;
  columns: ColumnDef[];
  members: LogicalMember[];
  /** `sharded` or `tiered`, for EXPLAIN. */
  kind: "sharded" | "tiered";
}

/** The bucket of a shard key: integers modulo `buckets`, text by 32-bit FNV-1a modulo `buckets`. */
export function hashBucket(v: Value, buckets: number): number | undefined {
  if (typeof v === "number" && Number.isInteger(v)) return ((v % buckets) + buckets) % buckets;
  if (typeof v === "bigint") {
    const b = BigInt(buckets);
    return Number(((v % b) + b) % b);
  }
  if (typeof v === "string") {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(v)) {
      h ^= byte;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h % buckets;
  }
  return undefined;
}

interface KeyFacts {
  values?: Value[];
  lo?: { v: Value; inclusive: boolean };
  hi?: { v: Value; inclusive: boolean };
}

/** What the conjuncts say about column `i`: an equality set and bounds (literals only). */
export function factsAbout(conjuncts: Expr[], i: number): KeyFacts {
  const facts: KeyFacts = {};
  const isCol = (e: Expr) => e.k === "col" && e.i === i;
  const lit = (e: Expr): e is Extract<Expr, { k: "lit" }> => e.k === "lit" && e.v !== null;
  const setValues = (vs: Value[]) => {
    facts.values = facts.values
      ? facts.values.filter((v) => vs.some((w) => compareValues(v, w) === 0))
      : vs;
  };
  const lower = (v: Value, inclusive: boolean) => {
    const c = facts.lo ? compareValues(v, facts.lo.v) : 1;
    if (c > 0 || (c === 0 && !inclusive)) facts.lo = { v, inclusive };
  };
  const upper = (v: Value, inclusive: boolean) => {
    const c = facts.hi ? compareValues(v, facts.hi.v) : -1;
    if (c < 0 || (c === 0 && !inclusive)) facts.hi = { v, inclusive };
  };
  for (const e of conjuncts) {
    if (e.k === "cmp") {
      let { op } = e;
      let col = e.l;
      let val = e.r;
      if (!isCol(col) && isCol(e.r)) {
        col = e.r;
        val = e.l;
        op =
          ({ "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as Record<string, typeof op>)[op] ?? op;
      }
      if (!isCol(col) || !lit(val)) continue;
      if (op === "=") setValues([val.v]);
      else if (op === ">") lower(val.v, false);
      else if (op === ">=") lower(val.v, true);
      else if (op === "<") upper(val.v, false);
      else if (op === "<=") upper(val.v, true);
    } else if (e.k === "in" && !e.not && isCol(e.e) && e.list.every(lit)) {
      setValues(e.list.map((x) => (x as Extract<Expr, { k: "lit" }>).v));
    } else if (e.k === "between" && !e.not && isCol(e.e) && lit(e.lo) && lit(e.hi)) {
      lower(e.lo.v, true);
      upper(e.hi.v, true);
    }
  }
  return facts;
}

function inRange(v: Value, c: Extract<MemberConstraint, { kind: "range" }>): boolean {
  if (c.from !== undefined && c.from !== null && compareValues(v, c.from) < 0) return false;
  if (c.to !== undefined && c.to !== null && compareValues(v, c.to) >= 0) return false;
  return true;
}

function withinFacts(v: Value, f: KeyFacts): boolean {
  if (f.lo) {
    const c = compareValues(v, f.lo.v);
    if (c < 0 || (c === 0 && !f.lo.inclusive)) return false;
  }
  if (f.hi) {
    const c = compareValues(v, f.hi.v);
    if (c > 0 || (c === 0 && !f.hi.inclusive)) return false;
  }
  return true;
}

/** Whether a member may hold rows matching the conjuncts (over the logical columns). */
export function memberMayMatch(
  member: LogicalMember,
  columns: ColumnDef[],
  conjuncts: Expr[],
): boolean {
  const c = member.constraint;
  const i = columns.findIndex((col) => col.name === c.column);
  if (i < 0) return true;
  const f = factsAbout(conjuncts, i);
  const values = f.values?.filter((v) => withinFacts(v, f));
  if (values && values.length === 0) return false;
  switch (c.kind) {
    case "range": {
      if (values) return values.some((v) => inRange(v, c));
      if (f.hi && c.from !== undefined && c.from !== null) {
        const x = compareValues(f.hi.v, c.from);
        if (x < 0 || (x === 0 && !f.hi.inclusive)) return false;
      }
      if (f.lo && c.to !== undefined && c.to !== null && compareValues(f.lo.v, c.to) >= 0)
        return false;
      return true;
    }
    case "hash":
      return values ? values.some((v) => hashBucket(v, c.buckets) === c.bucket) : true;
    case "region":
      return values
        ? values.some((v) => {
            try {
              return c.regions.includes(regionOf(v as bigint));
            } catch {
              return false;
            }
          })
        : true;
  }
}

/** The predicate a tier's scan applies so each row is read from one tier only. */
export function enforcedPredicate(member: LogicalMember, columns: ColumnDef[]): Expr[] {
  const c = member.constraint;
  if (c.kind !== "range" || !c.enforce) return [];
  const i = columns.findIndex((col) => col.name === c.column);
  if (i < 0) return [];
  const type = columns[i]?.type as SqlType;
  const col: Expr = { k: "col", i, type, name: c.column };
  const out: Expr[] = [];
  if (c.from !== undefined && c.from !== null) {
    out.push({ k: "cmp", op: ">=", l: col, r: { k: "lit", v: c.from, type }, type: "boolean" });
  }
  if (c.to !== undefined && c.to !== null) {
    out.push({ k: "cmp", op: "<", l: col, r: { k: "lit", v: c.to, type }, type: "boolean" });
  }
  return out;
}

/** The members (tiers or shards) whose constraint holds a row with `column = at`. */
export function membersFor(table: LogicalTable, at: Value): LogicalMember[] {
  return table.members.filter((m) => {
    const c = m.constraint;
    if (c.kind === "range") return inRange(at, c);
    if (c.kind === "hash") return hashBucket(at, c.buckets) === c.bucket;
    try {
      return c.regions.includes(regionOf(at as bigint));
    } catch {
      return false;
    }
  });
}

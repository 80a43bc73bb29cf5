/**
 * Logical tables: one name over several physical tables — shards by a key (ranges, a hash, or
 * the region bits of a region-aware id) or hot and cold tiers by a time column. The planner
 * reads only the members a statement's predicates can match, and a tier's boundary is applied
 * as a predicate so a row is read from exactly one tier.
 */
import { type IdInput, regionOf, SEQUENCE_BITS } from "@entente/protocol";
import type { Expr } from "./plan.ts";
import type { CatalogTable, ColumnDef, SqlType, Value } from "./types.ts";
import { compareValues } from "./values.ts";

export type MemberConstraint =
  /**
   * Rows with `from <= column < to` (either end open). `enforce`: also filter by it.
   * `nulls`: rows whose column is NULL are this member's too (a hot tier's: no boundary moves them).
   */
  | { kind: "range"; column: string; from?: Value; to?: Value; enforce: boolean; nulls?: true }
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

/** Whether a member is read or pruned for a statement, and why, in words for EXPLAIN. */
export interface MemberVerdict {
  read: boolean;
  why: string;
}

/** Whether a member may hold rows matching the conjuncts (over the logical columns). */
export function memberMayMatch(
  member: LogicalMember,
  columns: ColumnDef[],
  conjuncts: Expr[],
): boolean {
  return judgeMember(member, columns, conjuncts).read;
}

/** Whether a member may hold rows matching the conjuncts, and the reason. */
export function judgeMember(
  member: LogicalMember,
  columns: ColumnDef[],
  conjuncts: Expr[],
): MemberVerdict {
  const c = member.constraint;
  const i = columns.findIndex((col) => col.name === c.column);
  if (i < 0) return { read: true, why: `no column ${c.column}` };
  const f = factsAbout(conjuncts, i);
  const values = f.values?.filter((v) => withinFacts(v, f));
  if (values && values.length === 0) {
    return { read: false, why: `no value of ${c.column} satisfies the predicates` };
  }
  const asked = values ? valuesText(c.column, values) : undefined;
  switch (c.kind) {
    case "range": {
      if (values) {
        const held = values.filter((v) => inRange(v, c));
        return held.length > 0
          ? { read: true, why: `holds ${asked}` }
          : { read: false, why: `outside its range: ${asked}` };
      }
      if (f.hi && c.from !== undefined && c.from !== null) {
        const x = compareValues(f.hi.v, c.from);
        if (x < 0 || (x === 0 && !f.hi.inclusive))
          return { read: false, why: `${c.column} ends before its range` };
      }
      if (f.lo && c.to !== undefined && c.to !== null && compareValues(f.lo.v, c.to) >= 0)
        return { read: false, why: `${c.column} starts after its range` };
      return { read: true, why: `its range may hold rows` };
    }
    case "hash":
      if (!values) return { read: true, why: `no equality on ${c.column}` };
      return values.some((v) => hashBucket(v, c.buckets) === c.bucket)
        ? { read: true, why: `bucket of ${asked}` }
        : { read: false, why: `no ${asked} hashes here` };
    case "region":
      return judgeRegionMember(c, values, f);
  }
}

function valuesText(column: string, values: Value[]): string {
  return values.length === 1
    ? `${column} = ${String(values[0])}`
    : `${column} IN (${values.length} values)`;
}

/** The region bits of a value as an id, or undefined when it is no region-aware id. */
function regionOfValue(v: Value): number | undefined {
  try {
    return regionOf(v as IdInput);
  } catch {
    return undefined;
  }
}

/** Regions `[lo, hi]` whose ids a range of ids may hold (region 0: below every region's ids). */
function regionSpan(f: KeyFacts): { lo: number; hi: number } | undefined {
  if (!f.lo && !f.hi) return undefined;
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  if (f.lo) {
    const first = boundId(f.lo.v, f.lo.inclusive, "lower");
    if (first === undefined) return undefined;
    lo = first <= 0n ? 0 : Number(first >> SEQUENCE_BITS);
  }
  if (f.hi) {
    const last = boundId(f.hi.v, f.hi.inclusive, "upper");
    if (last === undefined) return undefined;
    hi = last < 0n ? -1 : Number(last >> SEQUENCE_BITS);
  }
  return { lo, hi };
}

/** The first (lower) or last (upper) whole id within a bound, or undefined for a non-number. */
function boundId(v: Value, inclusive: boolean, side: "lower" | "upper"): bigint | undefined {
  const step = side === "lower" ? 1n : -1n;
  if (typeof v === "bigint") return inclusive ? v : v + step;
  if (typeof v !== "number" || !Number.isFinite(v)) return undefined;
  if (!Number.isInteger(v)) return BigInt(side === "lower" ? Math.ceil(v) : Math.floor(v));
  return inclusive ? BigInt(v) : BigInt(v) + step;
}

function judgeRegionMember(
  c: Extract<MemberConstraint, { kind: "region" }>,
  values: Value[] | undefined,
  f: KeyFacts,
): MemberVerdict {
  const regions = c.regions.join(", ");
  if (values) {
    const owned = values.filter((v) => {
      const r = regionOfValue(v);
      return r !== undefined && c.regions.includes(r);
    });
    const asked = valuesText(c.column, values);
    if (owned.length === 0) return { read: false, why: `owns none of ${asked}` };
    return {
      read: true,
      why:
        values.length === 1
          ? `${asked} → owner region ${regions}`
          : `${asked}: owns ${owned.length} → owner region ${regions}`,
    };
  }
  const span = regionSpan(f);
  if (!span) return { read: true, why: `no id predicate limits the regions` };
  const text = `${c.column} range spans regions ${span.lo}–${Number.isFinite(span.hi) ? span.hi : "65535"}`;
  return c.regions.some((r) => r >= span.lo && r <= span.hi)
    ? { read: true, why: text }
    : { read: false, why: text };
}

/**
 * The keys a member may hold, of keys for the logical column `column` (a join's dynamic filter):
 * a region's members get only the ids they own, so each region is asked for its own.
 */
export function keysForMember(
  constraint: MemberConstraint,
  column: string,
  keys: readonly Value[],
): Value[] {
  if (constraint.column !== column) return [...keys];
  switch (constraint.kind) {
    case "range":
      return keys.filter((k) => inRange(k, constraint));
    case "hash":
      return keys.filter((k) => hashBucket(k, constraint.buckets) === constraint.bucket);
    case "region":
      return keys.filter((k) => {
        const r = regionOfValue(k);
        return r !== undefined && constraint.regions.includes(r);
      });
  }
}

/**
 * A conjunct as one member reads it: an IN list on the member's key keeps only the values the
 * member may hold (a region's member, only the ids it owns), since its rows have no others.
 */
export function narrowForMember(member: LogicalMember, columns: ColumnDef[], e: Expr): Expr {
  const c = member.constraint;
  if (e.k !== "in" || e.not || e.e.k !== "col") return e;
  if (columns[e.e.i]?.name !== c.column) return e;
  const held = (x: Expr) =>
    x.k === "lit" && (x.v === null || keysForMember(c, c.column, [x.v]).length > 0);
  if (!e.list.every((x) => x.k === "lit")) return e;
  const kept = e.list.filter(held);
  return kept.length === 0 || kept.length === e.list.length ? e : { ...e, list: kept };
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
    const from: Expr = {
      k: "cmp",
      op: ">=",
      l: col,
      r: { k: "lit", v: c.from, type },
      type: "boolean",
    };
    out.push(
      c.nulls
        ? {
            k: "or",
            args: [from, { k: "isnull", e: col, not: false, type: "boolean" }],
            type: "boolean",
          }
        : from,
    );
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

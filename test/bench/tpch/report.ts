/**
 * The benchmark's summary: a row per query with each system's median and the two ratios, the
 * geometric means, and whether the targets are met — Entente/PostgreSQL at most 1.5 in geometric
 * mean, and Entente faster than the fdw coordinator on every query.
 */

export const SYSTEMS = ["Entente", "fdw", "PostgreSQL"] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** One system's runs of one query. */
export interface Measure {
  times: number[];
  /** Why there is no median: the query ran past the timeout, failed, or the system is missing. */
  problem?: { kind: "timeout" | "failed" | "unavailable"; detail: string };
}

export interface QueryResult {
  id: number;
  measures: Record<SystemName, Measure>;
  /** An answer (Entente's or fdw's) that differs from the reference's. */
  mismatches: { system: SystemName; detail: string }[];
}

const TARGET_GEOMEAN = 1.5;

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const medianOf = (m: Measure) => (m.problem ? undefined : median(m.times));

export function geometricMean(values: readonly number[]): number {
  return Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
}

export const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtRatio = (r: number) => (r >= 10 ? r.toFixed(1) : r.toFixed(2));

function cell(m: Measure, timeoutMs: number): string {
  const ms = medianOf(m);
  if (ms !== undefined) return fmtMs(ms);
  if (m.problem?.kind === "timeout") return `>${fmtMs(timeoutMs)}`;
  return m.problem?.kind === "unavailable" ? "n/a" : "FAILED";
}

/** Entente's median over another's; a bound when the other ran past the timeout. */
function ratioCell(entente: Measure, other: Measure, timeoutMs: number): string {
  const e = medianOf(entente);
  const o = medianOf(other);
  if (e !== undefined && o !== undefined) return fmtRatio(e / o);
  if (e !== undefined && other.problem?.kind === "timeout") return `<${fmtRatio(e / timeoutMs)}`;
  return "-";
}

const COLUMNS = ["query", "Entente ms", "fdw ms", "PostgreSQL ms", "Ent/PG", "Ent/fdw", ""];
const WIDTHS = [6, 11, 11, 14, 8, 8, 0];

const line = (cells: string[]) =>
  cells
    .map((c, i) => (i === 0 ? c.padEnd(WIDTHS[i]!) : c.padStart(WIDTHS[i]!)))
    .join("  ")
    .trimEnd();

function noteOf(result: QueryResult): string {
  const notes = result.mismatches.map((m) => `${m.system} ANSWER DIFFERS`);
  for (const system of SYSTEMS) {
    const problem = result.measures[system].problem;
    if (problem && problem.kind !== "unavailable") notes.push(`${system} ${problem.kind}`);
  }
  return notes.join("; ");
}

/** The geometric means over the queries every available system answered in time. */
function printGeometricMeans(results: readonly QueryResult[], fdwAvailable: boolean): number {
  const wanted: SystemName[] = fdwAvailable ? [...SYSTEMS] : ["Entente", "PostgreSQL"];
  const complete = results.filter((r) =>
    wanted.every((s) => medianOf(r.measures[s]) !== undefined),
  );
  const of = (s: SystemName) => complete.map((r) => medianOf(r.measures[s])!);
  const mean = (s: SystemName) => (fdwAvailable || s !== "fdw" ? geometricMean(of(s)) : Number.NaN);
  const ratio = (other: SystemName) =>
    geometricMean(
      complete.map((r) => medianOf(r.measures.Entente)! / medianOf(r.measures[other])!),
    );
  const entPg = complete.length > 0 ? ratio("PostgreSQL") : Number.NaN;
  const entFdw = complete.length > 0 && fdwAvailable ? ratio("fdw") : Number.NaN;
  const show = (v: number, f: (v: number) => string) => (Number.isNaN(v) ? "-" : f(v));
  console.log(
    line([
      "geomean",
      show(complete.length > 0 ? mean("Entente") : Number.NaN, fmtMs),
      show(complete.length > 0 ? mean("fdw") : Number.NaN, fmtMs),
      show(complete.length > 0 ? mean("PostgreSQL") : Number.NaN, fmtMs),
      show(entPg, fmtRatio),
      show(entFdw, fmtRatio),
      `over ${complete.length} of ${results.length} queries`,
    ]),
  );
  const left = results.filter((r) => !complete.includes(r)).map((r) => `Q${r.id}`);
  if (left.length > 0)
    console.log(`  (left out, some system has no time for them: ${left.join(", ")})`);
  return entPg;
}

function printTargets(results: readonly QueryResult[], entPg: number, fdwAvailable: boolean) {
  const ententeMissing = results.filter((r) => medianOf(r.measures.Entente) === undefined);
  const geomeanMet = ententeMissing.length === 0 && entPg <= TARGET_GEOMEAN;
  console.log(
    `  geometric mean of Entente/PostgreSQL ≤ ${TARGET_GEOMEAN}: ${geomeanMet ? "MET" : "NOT MET"} (${Number.isNaN(entPg) ? "no ratio" : fmtRatio(entPg)}${ententeMissing.length > 0 ? `; Entente has no time for ${ententeMissing.map((r) => `Q${r.id}`).join(", ")}` : ""})`,
  );
  if (!fdwAvailable) {
    console.log("  Entente faster than fdw on every query: NOT CHECKED (no fdw baseline)");
    return;
  }
  const slower = results.filter((r) => {
    const e = medianOf(r.measures.Entente);
    const f = medianOf(r.measures.fdw);
    if (e === undefined) return true;
    if (f === undefined) return r.measures.fdw.problem?.kind !== "timeout";
    return e >= f;
  });
  console.log(
    `  Entente faster than fdw on every query: ${slower.length === 0 ? "MET" : `NOT MET (not faster on ${slower.map((r) => `Q${r.id}`).join(", ")})`}`,
  );
}

/** Every answer that differs from the reference's, and every run that failed or timed out. */
function printProblems(results: readonly QueryResult[]): void {
  const problems = results.flatMap((r) =>
    SYSTEMS.flatMap((system) => {
      const problem = r.measures[system].problem;
      return problem && problem.kind !== "unavailable"
        ? [`Q${r.id}, ${system}: ${problem.kind}: ${problem.detail}`]
        : [];
    }),
  );
  console.log(
    problems.length === 0
      ? "  failures and timeouts: none"
      : `  failures and timeouts:\n${problems.map((p) => `    ${p}`).join("\n")}`,
  );
  const all = results.flatMap((r) => r.mismatches.map((m) => ({ id: r.id, ...m })));
  if (all.length === 0) {
    console.log("  answers: every answer checked equals the reference's");
    return;
  }
  console.log(`\n!!! ${all.length} ANSWER(S) DIFFER FROM THE REFERENCE !!!`);
  for (const m of all) console.log(`\nQ${m.id}, ${m.system}:\n${m.detail}`);
}

export function printReport(
  results: readonly QueryResult[],
  timeoutMs: number,
  fdwAvailable: boolean,
): void {
  console.log(`\n${line(COLUMNS)}`);
  for (const r of results) {
    const { Entente, fdw, PostgreSQL } = r.measures;
    console.log(
      line([
        `Q${r.id}`,
        cell(Entente, timeoutMs),
        cell(fdw, timeoutMs),
        cell(PostgreSQL, timeoutMs),
        ratioCell(Entente, PostgreSQL, timeoutMs),
        ratioCell(Entente, fdw, timeoutMs),
        noteOf(r),
      ]),
    );
  }
  const entPg = printGeometricMeans(results, fdwAvailable);
  console.log("\ntargets:");
  printTargets(results, entPg, fdwAvailable);
  printProblems(results);
}

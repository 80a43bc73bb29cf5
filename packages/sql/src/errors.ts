import { EntenteError } from "@entente/protocol";

export function badRequest(message: string, details?: Record<string, unknown>): EntenteError {
  return new EntenteError("BAD_REQUEST", message, details ? { details } : {});
}

export function notFound(message: string, details?: Record<string, unknown>): EntenteError {
  return new EntenteError("NOT_FOUND", message, details ? { details } : {});
}

export function unsupported(message: string, details?: Record<string, unknown>): EntenteError {
  return new EntenteError("UNSUPPORTED", message, details ? { details } : {});
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[n] ?? 0;
}

/** The known name closest to `name`, when it is close enough to be a plausible typo. */
export function nearest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = name.toLowerCase();
  const within = Math.max(2, Math.ceil(name.length / 2));
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    // Lengths further apart than `within` put the distance past it: skipping them keeps a
    // megabyte-long name from costing a distance table per candidate.
    if (Math.abs(other.length - lower.length) > within) continue;
    const d = editDistance(lower, other);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best === undefined) return undefined;
  return bestDistance <= within ? best : undefined;
}

export function didYouMean(name: string, known: Iterable<string>): string {
  const suggestion = nearest(name, known);
  return suggestion === undefined ? "" : ` (did you mean "${suggestion}"?)`;
}

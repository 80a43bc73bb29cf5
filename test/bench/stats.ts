/** Percentiles and formatting for benchmark reports. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export interface RunResult {
  label: string;
  inFlight: number;
  requests: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function summarize(
  label: string,
  inFlight: number,
  latencies: number[],
  seconds: number,
): RunResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    label,
    inFlight,
    requests: latencies.length,
    seconds,
    perSecond: latencies.length / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}

export function formatRow(result: RunResult, baseline?: RunResult): string {
  const ratio = baseline ? `${(result.perSecond / baseline.perSecond).toFixed(2)}x` : "";
  return [
    result.label.padEnd(34),
    String(result.inFlight).padStart(4),
    Math.round(result.perSecond).toString().padStart(9),
    result.p50Ms.toFixed(3).padStart(9),
    result.p99Ms.toFixed(3).padStart(9),
    ratio.padStart(7),
  ].join("  ");
}

export const HEADER = [
  "run".padEnd(34),
  "in-flight".padStart(4),
  "req/s".padStart(9),
  "p50 ms".padStart(9),
  "p99 ms".padStart(9),
  "ratio".padStart(7),
].join("  ");

/** Per-instance figures: queries, errors, average and p99 latency, circuit state. */
import type { CircuitState } from "./breaker.ts";

const SAMPLES = 1024;

export interface InstanceStatsView {
  queries: number;
  errors: number;
  avgLatencyMs: number;
  p99LatencyMs: number;
  circuit: CircuitState;
  lastError?: string;
}

export class InstanceStats {
  queries = 0;
  errors = 0;
  lastError: string | undefined;
  private totalMs = 0;
  /** The latest latencies, a ring: p99 over recent calls, in bounded memory. */
  private readonly recent = new Float64Array(SAMPLES);
  private filled = 0;
  private next = 0;

  record(latencyMs: number, error?: string): void {
    this.queries += 1;
    this.totalMs += latencyMs;
    this.recent[this.next] = latencyMs;
    this.next = (this.next + 1) % SAMPLES;
    this.filled = Math.min(SAMPLES, this.filled + 1);
    if (error !== undefined) {
      this.errors += 1;
      this.lastError = error;
    }
  }

  view(circuit: CircuitState): InstanceStatsView {
    const sorted = Array.from(this.recent.subarray(0, this.filled)).sort((a, b) => a - b);
    const p99 = sorted.length === 0 ? 0 : (sorted[Math.ceil(sorted.length * 0.99) - 1] as number);
    return {
      queries: this.queries,
      errors: this.errors,
      avgLatencyMs: this.queries === 0 ? 0 : round(this.totalMs / this.queries),
      p99LatencyMs: round(p99),
      circuit,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

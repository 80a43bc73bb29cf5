/**
 * Per-instance figures: queries, errors, average and p99 latency, circuit state; and for
 * instances that take ingest, what this worker accepted, stored and dead-lettered.
 */
import type { IngestFigures } from "@entente/protocol";
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

export class IngestStats {
  private readonly byInstance = new Map<string, IngestFigures>();

  /** The instance's figures, to count into; created at zero on first use. */
  of(instance: string): IngestFigures {
    let figures = this.byInstance.get(instance);
    if (!figures) {
      figures = {
        accepted: 0,
        rejected: 0,
        applied: 0,
        points: 0,
        skipped: 0,
        writeFailures: 0,
        deadLettered: 0,
        watermark: 0,
      };
      this.byInstance.set(instance, figures);
    }
    return figures;
  }

  view(): Record<string, IngestFigures> {
    return Object.fromEntries([...this.byInstance].map(([name, f]) => [name, { ...f }]));
  }
}

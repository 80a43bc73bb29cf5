/**
 * Where a two-phase transfer's time goes inside the worker, from the spans it exports (the
 * request's server span and, under it, each participant's prepare and commit and the logged
 * decision): statements (parse, bind, pool, BEGIN/XA START and both UPDATEs), prepare (both
 * participants at once), the decision's KV write, commit (both at once), and the tail after the
 * last commit (the decision marked done: a KV get and put) up to the reply.
 */
import type { ReceivedSpan } from "@entente/testkit";
import { percentile } from "../stats.ts";

export const PHASES = ["statements", "prepare", "to decide", "decide", "commit", "tail"] as const;
export type Phase = (typeof PHASES)[number];

export interface Breakdown {
  transactions: number;
  /** The server span: the request inside the worker. */
  server: number[];
  phases: Record<Phase, number[]>;
  /** Span names seen, with counts, for the reader. */
  names: Map<string, number>;
}

const ms = (ns: bigint) => Number(ns) / 1e6;

/** The smallest of some nanosecond times (bigint, which Math.min does not take). */
function earliest(times: bigint[]): bigint {
  let min = times[0] ?? 0n;
  for (const t of times) if (t < min) min = t;
  return min;
}

export function breakdown(spans: readonly ReceivedSpan[]): Breakdown {
  const byTrace = new Map<string, ReceivedSpan[]>();
  const names = new Map<string, number>();
  for (const span of spans) {
    names.set(span.name, (names.get(span.name) ?? 0) + 1);
    const list = byTrace.get(span.traceId) ?? [];
    list.push(span);
    byTrace.set(span.traceId, list);
  }
  const result: Breakdown = {
    transactions: 0,
    server: [],
    phases: Object.fromEntries(PHASES.map((p) => [p, [] as number[]])) as Record<Phase, number[]>,
    names,
  };
  for (const trace of byTrace.values()) {
    const prepares = trace.filter((s) => s.name === "transaction prepare");
    const commits = trace.filter((s) => s.name === "transaction commit prepared");
    const decide = trace.find((s) => s.name === "transaction decide");
    const server = trace
      .filter((s) => s.kindName === "SERVER")
      .sort((a, b) => Number(a.startTimeUnixNano - b.startTimeUnixNano))[0];
    if (prepares.length !== 2 || commits.length !== 2 || !decide || !server) continue;
    const first = (list: ReceivedSpan[]) => earliest(list.map((s) => s.startTimeUnixNano));
    const last = (list: ReceivedSpan[]) => -earliest(list.map((s) => -s.endTimeUnixNano));
    result.transactions++;
    result.server.push(ms(server.endTimeUnixNano - server.startTimeUnixNano));
    const p = result.phases;
    p.statements.push(ms(first(prepares) - server.startTimeUnixNano));
    p.prepare.push(ms(last(prepares) - first(prepares)));
    p["to decide"].push(ms(decide.startTimeUnixNano - last(prepares)));
    p.decide.push(ms(decide.endTimeUnixNano - decide.startTimeUnixNano));
    p.commit.push(ms(last(commits) - first(commits)));
    p.tail.push(ms(server.endTimeUnixNano - last(commits)));
  }
  return result;
}

/** Lines: each phase's p50 and p99 and its share of the server span's mean. */
export function formatBreakdown(label: string, b: Breakdown, clientP50: number): string[] {
  const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const serverMean = mean(b.server);
  const lines = [
    `  ${label}: ${b.transactions} traced transfers; client p50 ${clientP50.toFixed(2)} ms, in the worker (server span) p50 ${percentile(sorted(b.server), 50).toFixed(2)} ms, mean ${serverMean.toFixed(2)} ms`,
    `    ${"phase".padEnd(12)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"mean ms".padStart(9)}${"share".padStart(8)}`,
  ];
  for (const phase of PHASES) {
    const xs = b.phases[phase];
    lines.push(
      `    ${phase.padEnd(12)}${percentile(sorted(xs), 50).toFixed(2).padStart(9)}${percentile(sorted(xs), 99).toFixed(2).padStart(9)}${mean(xs).toFixed(2).padStart(9)}${`${((100 * mean(xs)) / serverMean).toFixed(0)}%`.padStart(8)}`,
    );
  }
  return lines;
}

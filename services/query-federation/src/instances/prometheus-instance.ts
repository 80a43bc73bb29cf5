/**
 * A Prometheus server, or anything speaking its HTTP API (Thanos, VictoriaMetrics, Mimir).
 * PromQL parts are pushed down as they are; raw reads (`entente.query`) are range selectors
 * evaluated at the query's end, and partials are reduced here from those raw points.
 */
import {
  type EvalRange,
  type LabelMatcher,
  type Labels,
  labelsKey,
  MAX_POINTS_PER_SERIES,
  printExpr,
  type Series,
  type Value,
} from "@entente/promql";
import { EntenteError } from "@entente/protocol";
import { Pacer, sortPaced } from "@entente/runtime/pace";
import { partialsOfOrdered } from "../paced-merge.ts";
import { byTimestamp } from "../partials.ts";
import type { Point } from "../points.ts";
import { type FederatedQuery, type Matcher, matchesAll } from "../query.ts";
import {
  callPrometheus,
  durationOf,
  isPlainLabelName,
  labelSetsOf,
  type PrometheusEndpoint,
  resultValueOf,
  SampleAllowance,
  secondsOf,
  selectorText,
} from "./prometheus-http.ts";
import type {
  FetchOptions,
  MetricInstance,
  PartialsResult,
  PromqlEvaluation,
  PromqlInstance,
  PromqlPartsResult,
  RawResult,
} from "./types.ts";

export interface PrometheusInstanceOptions {
  name: string;
  /** Base URL, e.g. http://127.0.0.1:9090; the API is under `<url>/api/v1/`. */
  url: string;
  /** Sent with every call, e.g. `authorization`. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Longest any call may take, below the query's own time. */
  timeoutMs?: number | undefined;
}

const NS_PER_MS = 1_000_000n;

export class PrometheusInstance implements MetricInstance, PromqlInstance {
  readonly name: string;
  readonly kind = "prometheus" as const;
  private readonly endpoint: PrometheusEndpoint;

  constructor(options: PrometheusInstanceOptions) {
    this.name = options.name;
    this.endpoint = {
      instance: options.name,
      url: options.url,
      headers: options.headers,
      timeoutMs: options.timeoutMs,
    };
  }

  /** Each part in its own call, all at once; the first failure stops the others. */
  async evaluatePromql(
    { parts, lookbackMs }: PromqlEvaluation,
    options: FetchOptions,
  ): Promise<PromqlPartsResult> {
    const texts = parts.map((part) => ({ text: printExpr(part.expr), range: part.range }));
    const siblings = new AbortController();
    const shared = { ...options, signal: AbortSignal.any([options.signal, siblings.signal]) };
    // One allowance for the whole answer: maxPoints bounds what this call holds.
    const allowance = new SampleAllowance(this.name, options.maxPoints);
    try {
      const values = await Promise.all(
        texts.map(({ text, range }) =>
          this.evaluateText(text, range, lookbackMs, shared, allowance),
        ),
      );
      return { values };
    } catch (err) {
      siblings.abort();
      if (options.signal.aborted) throw options.signal.reason;
      throw err;
    }
  }

  private async evaluateText(
    text: string,
    range: EvalRange,
    lookbackMs: number,
    options: FetchOptions,
    allowance: SampleAllowance,
  ): Promise<Value> {
    // Prometheus refuses more steps than this in one call: a longer part is asked in pieces.
    const span = MAX_POINTS_PER_SERIES * range.step;
    if (range.step > 0 && range.end - range.start > span) {
      const pieces: Series[] = [];
      for (let start = range.start; start <= range.end; start += span + range.step) {
        const piece = { start, end: Math.min(range.end, start + span), step: range.step };
        const value = await this.evaluateText(text, piece, lookbackMs, options, allowance);
        if (value.type !== "matrix") return value;
        pieces.push(...value.value);
      }
      return { type: "matrix", value: joinPieces(pieces) };
    }
    const params = new URLSearchParams({ query: text });
    // Servers that do not know the parameter use their own --query.lookback-delta.
    params.set("lookback_delta", durationOf(lookbackMs));
    const instant = range.start === range.end;
    if (instant) {
      params.set("time", secondsOf(range.start));
    } else {
      params.set("start", secondsOf(range.start));
      params.set("end", secondsOf(range.end));
      params.set("step", secondsOf(range.step));
    }
    const path = instant ? "/api/v1/query" : "/api/v1/query_range";
    const data = await callPrometheus(this.endpoint, path, params, options);
    return resultValueOf(this.name, data, allowance);
  }

  async seriesLabels(
    matchers: LabelMatcher[],
    startMs: number,
    endMs: number,
    options: FetchOptions,
  ): Promise<Labels[]> {
    const params = new URLSearchParams({
      "match[]": selectorText(matchers),
      start: secondsOf(startMs),
      end: secondsOf(endMs),
    });
    const data = await callPrometheus(this.endpoint, "/api/v1/series", params, options);
    return labelSetsOf(this.name, data, new SampleAllowance(this.name, options.maxPoints));
  }

  async fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult> {
    const points = await this.readPoints(query, options, pacerOf(options));
    return { points: query.limit === undefined ? points : points.slice(0, query.limit) };
  }

  async fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult> {
    const aggregation = query.aggregation;
    if (!aggregation) throw new EntenteError("BAD_REQUEST", "partials need an aggregation");
    const pacer = pacerOf(options);
    const points = await this.readPoints(query, options, pacer);
    return { partials: await partialsOfOrdered(points, aggregation, pacer) };
  }

  /**
   * The query's points in time order. Prometheus stores milliseconds: the query's [start, end)
   * in nanoseconds holds the milliseconds [first, last]. The selector `[last - first + 1 ms]`
   * at `last` reads them; Prometheus 2.x also reads a sample at `first - 1 ms` (its ranges are
   * closed on the left), which is dropped here.
   */
  private async readPoints(
    query: FederatedQuery,
    options: FetchOptions,
    pacer: Pacer,
  ): Promise<Point[]> {
    const first = ceilDiv(query.start, NS_PER_MS);
    const last = ceilDiv(query.end, NS_PER_MS) - 1n;
    if (last < first) return [];
    const { pushed, local } = splitForPrometheus(query.matchers);
    const selector = selectorText([
      { name: "__name__", op: "=", value: query.metric },
      ...pushed.map((m) => ({ name: m.tag, op: m.op, value: m.value })),
    ]);
    const params = new URLSearchParams({
      query: `${selector}[${durationOf(Number(last - first + 1n))}]`,
      time: secondsOf(Number(last)),
    });
    const data = await callPrometheus(this.endpoint, "/api/v1/query", params, options);
    const value = resultValueOf(this.name, data, new SampleAllowance(this.name, options.maxPoints));
    if (value.type !== "matrix") {
      throw new EntenteError(
        "BAD_RESPONSE",
        `instance ${this.name}: a range selector answered a ${value.type}`,
        { details: { instance: this.name } },
      );
    }
    const points: Point[] = [];
    for (const series of value.value) {
      const tags = tagsOf(series);
      if (local.length > 0 && !matchesAll(local, tags)) continue;
      for (const { t, v } of series.samples) {
        if (t < Number(first)) continue;
        points.push({ metric: query.metric, tags, timestamp: BigInt(t) * NS_PER_MS, value: v });
        if (pacer.due()) await pacer.pause();
      }
    }
    // Series come one after another; a stable sort keeps their order at one timestamp.
    return sortPaced(points, byTimestamp, pacer);
  }

  async close(): Promise<void> {}
}

function pacerOf(options: FetchOptions): Pacer {
  return new Pacer(options.signal, performance.now() + options.timeoutMs);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b > 0n ? q + 1n : q;
}

/** One tag object per series (partials cache per tag object); the metric name is not a tag. */
function tagsOf(series: Series): Record<string, string> {
  const { __name__: _name, ...tags } = series.labels;
  return tags;
}

/**
 * Matchers Prometheus can take: every one on a plain label name. A tag named otherwise (with
 * '.', ':' or '-', or `__name__`, which is the metric here) is matched here against the
 * series' labels, where it is absent (or present on servers with UTF-8 names).
 */
function splitForPrometheus(matchers: Matcher[]): { pushed: Matcher[]; local: Matcher[] } {
  const pushed: Matcher[] = [];
  const local: Matcher[] = [];
  for (const m of matchers) {
    (isPlainLabelName(m.tag) && m.tag !== "__name__" ? pushed : local).push(m);
  }
  return { pushed, local };
}

/** A series answered in several pieces of a range, as one series. */
function joinPieces(pieces: readonly Series[]): Series[] {
  const joined = new Map<string, Series>();
  for (const piece of pieces) {
    const key = labelsKey(piece.labels);
    const held = joined.get(key);
    if (held) held.samples.push(...piece.samples);
    else joined.set(key, { labels: piece.labels, samples: [...piece.samples] });
  }
  return [...joined.values()];
}

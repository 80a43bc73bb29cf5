/**
 * PromQL on an instance that holds points (a SQL or DuckDB store, another federation read for
 * raw points): the worker next to it reads each selector's samples and evaluates the pushed
 * parts itself, so only the parts' answers leave for the merge.
 */

import {
  evaluate,
  type LabelMatcher,
  type Labels,
  labelsKey,
  readAll,
  type Series,
  type SeriesSource,
  selectorReads,
} from "@entente/promql";
import { EntenteError, INSTANCE_TAG } from "@entente/protocol";
import type {
  FetchOptions,
  MetricInstance,
  PromqlEvaluation,
  PromqlInstance,
  PromqlPartsResult,
} from "../instances/types.ts";
import type { Point } from "../points.ts";
import { type FederatedQuery, matches } from "../query.ts";
import { promqlError } from "./request.ts";
import { toMatcher } from "./routing.ts";

const NS_PER_MS = 1_000_000n;

export class LocalPromql implements PromqlInstance {
  private readonly instance: MetricInstance;

  constructor(instance: MetricInstance) {
    this.instance = instance;
  }

  async evaluatePromql(
    evaluation: PromqlEvaluation,
    options: FetchOptions,
  ): Promise<PromqlPartsResult> {
    const { lookbackMs, maxSamples } = evaluation;
    // Every read of this call shares one allowance of samples.
    const budget = { ...options };
    const source: SeriesSource = {
      select: (matchers, hints) => this.select(matchers, hints.start, hints.end, budget),
    };
    // Parts often read the same selector over the same range: all are read at once, each once.
    const selections = evaluation.parts.flatMap(({ expr, range }) =>
      selectorReads(expr, range, { lookbackMs }),
    );
    const reads = await readAll(source, selections, options.signal);
    const values = [];
    for (const { expr: part, range } of evaluation.parts) {
      // A PromQL error in a part is the query's, not this instance's: it ends the query.
      const value = await evaluate(part, range, reads, {
        lookbackMs,
        maxSamples,
        signal: options.signal,
      }).catch((err: unknown) => {
        throw options.signal.aborted ? options.signal.reason : promqlError(err);
      });
      values.push(value);
    }
    return { values };
  }

  async seriesLabels(
    matchers: LabelMatcher[],
    startMs: number,
    endMs: number,
    options: FetchOptions,
  ): Promise<Labels[]> {
    if (!this.instance.readTagSets) {
      const series = await this.select(matchers, startMs, endMs, options);
      return series.map((s) => s.labels);
    }
    const labels: Labels[] = [];
    for (const query of await this.queriesFor(matchers, startMs, endMs, options.signal)) {
      for (const tags of await this.instance.readTagSets(query, options)) {
        labels.push(labelsOf(query.metric, tags));
      }
    }
    return labels;
  }

  /**
   * The series matching every matcher, samples in [startMs, endMs], in time order; what they
   * hold is taken from `options.maxPoints`, which the caller may share between reads.
   */
  async select(
    matchers: LabelMatcher[],
    startMs: number,
    endMs: number,
    options: FetchOptions,
  ): Promise<Series[]> {
    const series: Series[] = [];
    for (const query of await this.queriesFor(matchers, startMs, endMs, options.signal)) {
      const { metric } = query;
      if (this.instance.readSeries) {
        for (const { tags, samples } of await this.instance.readSeries(query, options)) {
          series.push({ labels: labelsOf(metric, tags), samples });
          options.maxPoints -= samples.length;
        }
      } else {
        const { points } = await this.instance.fetchRaw(query, options);
        series.push(...seriesOfPoints(metric, points));
        options.maxPoints -= points.length;
      }
    }
    return series;
  }

  /** A selector's read as federated queries, one per metric name it matches. */
  private async queriesFor(
    matchers: LabelMatcher[],
    startMs: number,
    endMs: number,
    signal: AbortSignal,
  ): Promise<FederatedQuery[]> {
    const names = await this.metricNamesFor(matchers, signal);
    const tagMatchers = matchers
      .filter((m) => m.name !== "__name__" && m.name !== INSTANCE_TAG)
      .map(toMatcher);
    return names.map((metric) => ({
      metric,
      start: BigInt(startMs) * NS_PER_MS,
      // `end` is exclusive in a federated query; PromQL's reads include it.
      end: BigInt(endMs + 1) * NS_PER_MS,
      matchers: tagMatchers,
      instanceMatchers: [],
      partial: "deny",
    }));
  }

  /** The metric names a selector reads: its `=` name, else those the instance lists that match. */
  private async metricNamesFor(matchers: LabelMatcher[], signal: AbortSignal): Promise<string[]> {
    // Each name matcher compiled once, then tried on every name.
    const byName = matchers.filter((m) => m.name === "__name__").map(toMatcher);
    const fits = (name: string) => byName.every((m) => matches(m, name));
    const exact = byName.find((m) => m.op === "=");
    if (exact) return fits(exact.value) ? [exact.value] : [];
    if (!this.instance.metricNames) {
      throw new EntenteError(
        "UNSUPPORTED",
        `instance ${this.instance.name} cannot list its metric names: give the selector a metric name`,
      );
    }
    const names = await this.instance.metricNames(signal);
    return names.filter(fits);
  }
}

/** Points of one metric, in time order, as series: tags plus `__name__`, times in milliseconds. */
function seriesOfPoints(metric: string, points: readonly Point[]): Series[] {
  const bySeries = new Map<Record<string, string>, Series>();
  const byKey = new Map<string, Series>();
  for (const point of points) {
    // Points of one series usually share their tags object; look it up by identity first.
    let series = bySeries.get(point.tags);
    if (!series) {
      const labels = labelsOf(metric, point.tags);
      const key = labelsKey(labels);
      series = byKey.get(key);
      if (!series) {
        series = { labels, samples: [] };
        byKey.set(key, series);
      }
      bySeries.set(point.tags, series);
    }
    const t = Number(point.timestamp / NS_PER_MS);
    const last = series.samples[series.samples.length - 1];
    // Two points within one millisecond are one PromQL sample: the later one stands.
    if (last && last.t === t) last.v = point.value;
    else series.samples.push({ t, v: point.value });
  }
  return [...byKey.values()];
}

/** A series' labels: its tags but empty ones (PromQL has no empty labels), and its name. */
function labelsOf(metric: string, tags: Record<string, string>): Record<string, string> {
  const labels: Record<string, string> = { __name__: metric };
  for (const [tag, value] of Object.entries(tags)) {
    if (value !== "" && tag !== INSTANCE_TAG) labels[tag] = value;
  }
  return labels;
}

/**
 * Merging the instances' answers to a pushdown's parts into the values of its `external` node
 * (see federate.ts). Pure.
 */
import { executionError } from "./errors.ts";
import type { Pushdown } from "./federate.ts";
import {
  formatLabels,
  type Labels,
  labelsKey,
  type Sample,
  type Series,
  type Value,
} from "./values.ts";

/** One instance's (or replica group's) answer: a value per part of the plan. */
export interface InstanceValues {
  instance: string;
  values: readonly Value[];
}

/** Any value as series: a vector's samples become one-sample series, a scalar one without labels. */
export function seriesOf(value: Value): Series[] {
  switch (value.type) {
    case "matrix":
      return value.value;
    case "vector":
      return value.value.map((s) => ({ labels: s.labels, samples: [{ t: s.t, v: s.v }] }));
    case "scalar":
      return [{ labels: {}, samples: [{ t: value.t, v: value.v }] }];
    case "string":
      return [];
  }
}

export function mergePushdown(pushdown: Pushdown, answers: readonly InstanceValues[]): Series[] {
  if (pushdown.parts.length === 0) return [];
  const partOf = (answer: InstanceValues, n: number): Series[] => {
    const value = answer.values[pushdown.parts[n] as number];
    return value === undefined ? [] : seriesOf(value);
  };
  switch (pushdown.merge) {
    case "concat":
      return answers.flatMap((answer) => partOf(answer, 0));
    case "union":
      return unite(
        answers.map((answer) => ({ instance: answer.instance, series: partOf(answer, 0) })),
      );
    case "stdvar":
    case "stddev":
      return mergeMoments(
        answers.map((answer) => ({
          count: partOf(answer, 0),
          mean: partOf(answer, 1),
          variance: partOf(answer, 2),
        })),
        pushdown.merge,
      );
  }
}

interface Held {
  labels: Labels;
  samples: Map<number, { v: number; instance: string }>;
}

/**
 * Series of several instances united by label set. A series may continue in another instance
 * at other times; the same series at the same time from two instances means they do not hold
 * disjoint series, which Prometheus itself would refuse as a vector with a repeated label set.
 */
export function unite(parts: ReadonlyArray<{ instance: string; series: Series[] }>): Series[] {
  return collect(parts, (labels, before, instance) => {
    if (before.instance === instance) return true;
    throw executionError(
      `vector cannot contain metrics with the same labelset: series ${formatLabels(labels)} is answered by instances ${before.instance} and ${instance}; instances must hold disjoint series, or be declared replicas of one group`,
    );
  });
}

/** Replicas' answers to one part: the same series from several replicas counted once. */
export function dedupeReplicas(answers: readonly Series[][]): Series[] {
  if (answers.length === 1) return answers[0] as Series[];
  // The first replica to have a sample at a time gives its value.
  const parts = answers.map((series, replica) => ({ instance: String(replica), series }));
  return collect(parts, () => false);
}

/**
 * Samples gathered by series and time; `replace` decides about a time already held (it may
 * throw), answering whether the later sample takes its place.
 */
function collect(
  parts: ReadonlyArray<{ instance: string; series: Series[] }>,
  replace: (labels: Labels, before: { instance: string }, instance: string) => boolean,
): Series[] {
  const held = new Map<string, Held>();
  for (const { instance, series } of parts) {
    for (const s of series) {
      const key = labelsKey(s.labels);
      let entry = held.get(key);
      if (!entry) {
        entry = { labels: s.labels, samples: new Map() };
        held.set(key, entry);
      }
      for (const sample of s.samples) {
        const before = entry.samples.get(sample.t);
        if (before && !replace(s.labels, before, instance)) continue;
        entry.samples.set(sample.t, { v: sample.v, instance });
      }
    }
  }
  return [...held.values()].map((entry) => ({
    labels: entry.labels,
    samples: sortedSamples(entry.samples),
  }));
}

function sortedSamples(samples: Map<number, { v: number }>): Sample[] {
  return [...samples.entries()].sort((a, b) => a[0] - b[0]).map(([t, { v }]) => ({ t, v }));
}

interface Moments {
  n: number;
  mean: number;
  /** Sum of squared deviations from the mean. */
  m2: number;
}

/**
 * Count, mean and variance per group and time from each instance, merged by Chan et al.'s
 * parallel formula: the spread between the instances' means is added to their own spreads,
 * with no sum of squares that large values would cancel.
 */
export function mergeMoments(
  parts: ReadonlyArray<{ count: Series[]; mean: Series[]; variance: Series[] }>,
  output: "stdvar" | "stddev",
): Series[] {
  const groups = new Map<string, { labels: Labels; at: Map<number, Moments> }>();
  for (const part of parts) {
    const means = valuesByKey(part.mean);
    const variances = valuesByKey(part.variance);
    for (const series of part.count) {
      const key = labelsKey(series.labels);
      let group = groups.get(key);
      if (!group) {
        group = { labels: series.labels, at: new Map() };
        groups.set(key, group);
      }
      for (const { t, v: n } of series.samples) {
        const mean = means.get(key)?.get(t);
        const variance = variances.get(key)?.get(t);
        if (mean === undefined || variance === undefined || n === 0) continue;
        const next = { n, mean, m2: variance * n };
        const before = group.at.get(t);
        group.at.set(t, before ? combine(before, next) : next);
      }
    }
  }
  return [...groups.values()].map(({ labels, at }) => ({
    labels,
    samples: [...at.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([t, m]) => {
        const variance = m.m2 / m.n;
        return { t, v: output === "stddev" ? Math.sqrt(variance) : variance };
      }),
  }));
}

function combine(a: Moments, b: Moments): Moments {
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  return {
    n,
    mean: a.mean + (delta * b.n) / n,
    m2: a.m2 + b.m2 + (delta * delta * a.n * b.n) / n,
  };
}

function valuesByKey(series: Series[]): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  for (const s of series) {
    out.set(labelsKey(s.labels), new Map(s.samples.map((sample) => [sample.t, sample.v])));
  }
  return out;
}

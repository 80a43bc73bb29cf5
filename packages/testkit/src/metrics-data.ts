/**
 * Deterministic metric series for PromQL differential tests and benchmarks: counters with
 * resets, gauges (some negative), a classic histogram, scrape gaps longer than the lookback,
 * series that start or stop mid-range, and jittered millisecond scrape times.
 *
 * Stale markers are left out: they cannot be backfilled through OpenMetrics (promtool would
 * store them as ordinary NaN samples), so both sides of a comparison would disagree on them.
 */
import { seededRandom } from "./random.ts";

export interface MetricSample {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}

export interface MetricSeries {
  labels: Record<string, string>;
  samples: MetricSample[];
}

export interface MetricsDataOptions {
  seed?: number;
  /** First scrape time, ms; default 2024-01-01T00:00:00Z. */
  start?: number;
  /** Length of the data; default 1 hour. */
  durationMs?: number;
  /** Scrape interval; default 15 s. */
  intervalMs?: number;
  /** Each scrape lands up to this far before or after its slot; default 3 s. */
  jitterMs?: number;
  /**
   * About how many series to make; rounded to whole targets (every target has the same set of
   * series). Default 120.
   */
  seriesCount?: number;
  /** Adds `edge_values`, a gauge holding NaN, ±Inf, zero, huge and tiny numbers. */
  specialValues?: boolean;
}

/** Where the irregular parts of the data are, for choosing interesting query times. */
export interface MetricsLayout {
  start: number;
  end: number;
  intervalMs: number;
  /** Targets with no samples in [from, to): longer than the default 5-minute lookback. */
  longGap: { from: number; to: number };
  /** A gap shorter than the lookback, so instant selectors still see the last sample. */
  shortGap: { from: number; to: number };
  /** Targets that appear only from this time on. */
  lateStart: number;
  /** Targets that vanish at this time. */
  earlyStop: number;
}

const DEFAULT_START = Date.UTC(2024, 0, 1);
const MINUTE = 60_000;

const JOBS = ["api-server", "Batch.Worker", "node-exporter"] as const;
const METHODS = ["GET", "POST"] as const;
const CODES = ["200", "500"] as const;
const QUEUES = ["orders", "Emails.High"] as const;
const BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"];

/** Series one target exposes: counters, gauges and the histogram's buckets, sum and count. */
const SERIES_PER_TARGET = METHODS.length * CODES.length + 1 + QUEUES.length + BUCKETS.length + 2;

type TargetShape = "regular" | "longGap" | "shortGap" | "lateStart" | "earlyStop";

// Every fifth target or so has an irregularity; the first few cover each kind at small sizes.
const SHAPES: readonly TargetShape[] = [
  "regular",
  "longGap",
  "regular",
  "lateStart",
  "shortGap",
  "earlyStop",
  "regular",
];

export function metricsLayout(options: MetricsDataOptions = {}): MetricsLayout {
  const start = options.start ?? DEFAULT_START;
  const durationMs = options.durationMs ?? 60 * MINUTE;
  const intervalMs = options.intervalMs ?? 15_000;
  const at = (fraction: number) => start + Math.round((durationMs * fraction) / 1000) * 1000;
  const longFrom = at(0.4);
  const shortFrom = at(0.55);
  return {
    start,
    end: start + durationMs,
    intervalMs,
    longGap: { from: longFrom, to: longFrom + Math.min(10 * MINUTE, durationMs / 4) },
    shortGap: { from: shortFrom, to: shortFrom + Math.min(3 * MINUTE, durationMs / 8) },
    lateStart: at(0.25),
    earlyStop: at(0.7),
  };
}

/** The series, sorted by family, each with samples in time order. Same options, same data. */
export function generateMetrics(options: MetricsDataOptions = {}): MetricSeries[] {
  const random = seededRandom(options.seed ?? 1);
  const layout = metricsLayout(options);
  const jitterMs = options.jitterMs ?? 3_000;
  const targets = Math.max(1, Math.round((options.seriesCount ?? 120) / SERIES_PER_TARGET));
  const families = {
    requests: [] as MetricSeries[],
    temperature: [] as MetricSeries[],
    queue: [] as MetricSeries[],
    buckets: [] as MetricSeries[],
    sums: [] as MetricSeries[],
    counts: [] as MetricSeries[],
  };
  for (let index = 0; index < targets; index++) {
    const job = JOBS[index % JOBS.length] as string;
    const instance = instanceName(index);
    const shape = SHAPES[index % SHAPES.length] as TargetShape;
    const times = scrapeTimes(layout, shape, jitterMs, random);
    const target = { job, instance };

    for (const method of METHODS) {
      for (const code of CODES) {
        const rate = (code === "500" ? 0.2 : 5) * (1 + random() * 3);
        families.requests.push({
          labels: { __name__: "http_requests_total", ...target, method, code },
          samples: counterSamples(times, rate, random),
        });
      }
    }
    const base = 35 + random() * 30;
    families.temperature.push({
      labels: { __name__: "node_temperature", ...target },
      samples: times.map((t, i) => ({ t, v: round(base + 8 * Math.sin(i / 20) + random(), 3) })),
    });
    for (const queue of QUEUES) {
      // A depth that crosses zero: a backlog measured against a target level.
      const amplitude = 20 + Math.floor(random() * 80);
      families.queue.push({
        labels: { __name__: "queue_depth", ...target, queue },
        samples: times.map((t, i) => ({
          t,
          v: Math.round(amplitude * Math.sin(i / 15 + index) + (random() - 0.5) * 10),
        })),
      });
    }
    const histogram = histogramSamples(times, random);
    BUCKETS.forEach((le, b) => {
      families.buckets.push({
        labels: { __name__: "request_duration_seconds_bucket", ...target, le },
        samples: histogram.buckets[b] as MetricSample[],
      });
    });
    families.sums.push({
      labels: { __name__: "request_duration_seconds_sum", ...target },
      samples: histogram.sum,
    });
    families.counts.push({
      labels: { __name__: "request_duration_seconds_count", ...target },
      samples: histogram.count,
    });
  }
  const series = [
    ...families.requests,
    ...families.temperature,
    ...families.queue,
    ...families.buckets,
    ...families.sums,
    ...families.counts,
  ];
  if (options.specialValues) series.push(...edgeValues(layout));
  return series;
}

/** Stable shard of a series by its labels, so federation tests split data the same each run. */
export function shardSeries<S extends { labels: Record<string, string> }>(
  series: readonly S[],
  shards: number,
): S[][] {
  const result: S[][] = Array.from({ length: shards }, () => []);
  for (const one of series) {
    (result[fnv1a(labelsText(one.labels)) % shards] as S[]).push(one);
  }
  return result;
}

/** OpenMetrics text: one `# TYPE … unknown` family per metric name, then `# EOF`. */
export function toOpenMetrics(series: readonly MetricSeries[]): string {
  const byName = new Map<string, MetricSeries[]>();
  for (const one of series) {
    const name = one.labels.__name__;
    if (name === undefined) throw new Error("every series needs a __name__ label");
    const family = byName.get(name);
    if (family === undefined) byName.set(name, [one]);
    else family.push(one);
  }
  const lines: string[] = [];
  for (const [name, family] of byName) {
    lines.push(`# TYPE ${name} unknown`);
    for (const one of family) {
      const labels = Object.entries(one.labels)
        .filter(([label]) => label !== "__name__")
        .map(([label, value]) => `${label}="${escapeLabelValue(value)}"`)
        .join(",");
      const head = labels === "" ? name : `${name}{${labels}}`;
      for (const { t, v } of one.samples) {
        lines.push(`${head} ${formatValue(v)} ${formatTimestamp(t)}`);
      }
    }
  }
  lines.push("# EOF");
  return `${lines.join("\n")}\n`;
}

function instanceName(index: number): string {
  const host = index % 3 === 2 ? `Web-${index}.EU-West.example.com` : `host-${index}.example.com`;
  return `${host}:${9100 + (index % 3)}`;
}

function scrapeTimes(
  layout: MetricsLayout,
  shape: TargetShape,
  jitterMs: number,
  random: () => number,
): number[] {
  // Each target scrapes at its own millisecond offset, each scrape jittered around its slot.
  const millis = Math.floor(random() * 1000);
  const times: number[] = [];
  for (let slot = layout.start; slot < layout.end; slot += layout.intervalMs) {
    const t = slot + jitterMs + Math.round((random() * 2 - 1) * jitterMs) + millis;
    if (shape === "longGap" && t >= layout.longGap.from && t < layout.longGap.to) continue;
    if (shape === "shortGap" && t >= layout.shortGap.from && t < layout.shortGap.to) continue;
    if (shape === "lateStart" && t < layout.lateStart) continue;
    if (shape === "earlyStop" && t >= layout.earlyStop) continue;
    times.push(t);
  }
  return times;
}

/** A counter growing by about `rate` per scrape, reset to near zero now and then. */
function counterSamples(
  times: readonly number[],
  rate: number,
  random: () => number,
): MetricSample[] {
  let value = Math.floor(random() * 1000);
  return times.map((t, i) => {
    if (i > 0 && random() < 0.01) value = Math.floor(random() * 3);
    else value += Math.floor(random() * rate * 2);
    return { t, v: value };
  });
}

function histogramSamples(
  times: readonly number[],
  random: () => number,
): { buckets: MetricSample[][]; sum: MetricSample[]; count: MetricSample[] } {
  const bucketCounts = BUCKETS.map(() => 0);
  let sum = 0;
  const buckets: MetricSample[][] = BUCKETS.map(() => []);
  const sums: MetricSample[] = [];
  const counts: MetricSample[] = [];
  const bounds = BUCKETS.map((le) => (le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le)));
  times.forEach((t, i) => {
    if (i > 0 && random() < 0.008) {
      bucketCounts.fill(0);
      sum = 0;
    }
    const observations = Math.floor(random() * 12);
    for (let o = 0; o < observations; o++) {
      // Skewed towards fast requests, with a long tail.
      const seconds = round(0.002 * Math.exp(random() * 8), 4);
      sum += seconds;
      bounds.forEach((bound, b) => {
        if (seconds <= bound) bucketCounts[b] = (bucketCounts[b] as number) + 1;
      });
    }
    bucketCounts.forEach((count, b) => {
      (buckets[b] as MetricSample[]).push({ t, v: count });
    });
    sums.push({ t, v: round(sum, 4) });
    counts.push({ t, v: bucketCounts[bucketCounts.length - 1] as number });
  });
  return { buckets, sum: sums, count: counts };
}

function edgeValues(layout: MetricsLayout): MetricSeries[] {
  const kinds: Record<string, number> = {
    nan: Number.NaN,
    pos_inf: Number.POSITIVE_INFINITY,
    neg_inf: Number.NEGATIVE_INFINITY,
    zero: 0,
    huge: 1.7e308,
    tiny: 5e-324,
  };
  return Object.entries(kinds).map(([kind, v]) => {
    const samples: MetricSample[] = [];
    for (let t = layout.start; t < layout.end; t += 4 * layout.intervalMs) samples.push({ t, v });
    return { labels: { __name__: "edge_values", kind }, samples };
  });
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Numbers as OpenMetrics reads them back exactly: JS' shortest round-trip form. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  // toString drops the sign of negative zero, which division by it would expose.
  if (Object.is(v, -0)) return "-0";
  return v.toString();
}

/** Seconds with the milliseconds as a fraction, e.g. 1704067200.123. */
function formatTimestamp(ms: number): string {
  if (!Number.isInteger(ms)) throw new Error(`timestamps must be whole milliseconds: ${ms}`);
  const seconds = Math.floor(ms / 1000);
  const fraction = ms - seconds * 1000;
  return fraction === 0 ? String(seconds) : `${seconds}.${String(fraction).padStart(3, "0")}`;
}

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function labelsText(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((name) => `${name}\xff${labels[name]}\xfe`)
    .join("");
}

/** 32-bit FNV-1a over UTF-16 code units: small and stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

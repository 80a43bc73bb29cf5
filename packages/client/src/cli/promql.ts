/**
 * `entente promql '<expr>'`: a PromQL query over the query federation's instances, instant or
 * range, printed as Prometheus' UI shows it (`name{a="b"}` and the value) or as the JSON answer;
 * `entente promql series` and `entente promql labels` list what the instances hold.
 */
import type {
  PartialInfo,
  PromqlAnswer,
  PromqlLabelsRequest,
  PromqlRequest,
  PromqlSeriesRequest,
  PromSample,
} from "@entente/protocol";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { PromqlCallOptions } from "../entente.ts";
import { formatOption, positiveInteger, print, withClient } from "./common.ts";
import { formatTimestamp, renderTable } from "./table.ts";

interface PromqlOptions {
  at?: string;
  start?: string;
  end?: string;
  step?: string;
  timeout?: number;
  partial?: "allow" | "deny";
  subject?: string;
  format: string;
}

interface ListOptions {
  start?: string;
  end?: string;
  match: string[];
  timeout?: number;
  subject?: string;
  format: string;
}

// ---- times and steps -------------------------------------------------------------------------

const DURATION_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;
const DURATION_PART = /(\d+)(ms|s|m|h|d|w|y)/g;
const UNIX_SECONDS = /^[+-]?\d+(?:\.\d+)?$/;
const RELATIVE = /^(?:now)?([+-])(.+)$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** A Prometheus duration (`1m30s`) or float seconds, in milliseconds; undefined if neither. */
export function durationMs(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!DURATION.test(trimmed)) return undefined;
  let ms = 0;
  for (const [, count, unit] of trimmed.matchAll(DURATION_PART)) {
    ms += Number(count) * (DURATION_MS[unit as string] as number);
  }
  return ms;
}

/**
 * A time as the command line takes it, in Unix seconds (what the endpoint takes): Unix seconds,
 * RFC 3339, `now`, or relative to now (`-1h`, `now-30m`, `+5m`), the clock read to the second.
 */
export function cliTimeSeconds(text: string, nowMs: number): number {
  const trimmed = text.trim();
  if (UNIX_SECONDS.test(trimmed)) return Number(trimmed);
  // Whole seconds, so a range from the clock has steps a person reads at a glance.
  const now = Math.floor(nowMs / 1000) * 1000;
  if (trimmed === "now") return now / 1000;
  const relative = RELATIVE.exec(trimmed);
  if (relative) {
    const span = durationMs(relative[2] as string);
    if (span !== undefined) return (relative[1] === "-" ? now - span : now + span) / 1000;
  }
  if (RFC3339.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  throw new InvalidArgumentError(
    `${JSON.stringify(text)} is not a time: use RFC 3339, Unix seconds, now, or relative such as -1h`,
  );
}

/** Steps a person reads at a glance, the default step is the first giving at most 250 points. */
const NICE_STEPS: Array<[number, string]> = [
  [1, "1s"],
  [2, "2s"],
  [5, "5s"],
  [10, "10s"],
  [15, "15s"],
  [30, "30s"],
  [60, "1m"],
  [120, "2m"],
  [300, "5m"],
  [600, "10m"],
  [900, "15m"],
  [1_800, "30m"],
  [3_600, "1h"],
  [7_200, "2h"],
  [10_800, "3h"],
  [21_600, "6h"],
  [43_200, "12h"],
  [86_400, "1d"],
  [604_800, "1w"],
];

/** Points of a range drawn without a given step, as Grafana aims for. */
export const DEFAULT_POINTS = 250;

/** The step of a range `seconds` long that gives about `DEFAULT_POINTS` points. */
export function defaultStep(seconds: number): string {
  const wanted = seconds / DEFAULT_POINTS;
  const nice = NICE_STEPS.find(([step]) => step >= wanted);
  if (nice) return nice[1];
  return `${Math.ceil(wanted / 86_400)}d`;
}

/** The body of `entente.promql` the command line describes, its times in Unix seconds. */
export function promqlBody(
  expr: string,
  options: Omit<PromqlOptions, "format" | "subject">,
  nowMs: number = Date.now(),
): PromqlRequest {
  const body: PromqlRequest = { query: expr };
  if (options.start === undefined) {
    if (options.end !== undefined || options.step !== undefined) {
      throw new InvalidArgumentError("--end and --step belong to a range: give --start too");
    }
    // The clock's second rather than the server's millisecond: the answer's time reads cleanly.
    body.time = cliTimeSeconds(options.at ?? "now", nowMs);
  } else {
    if (options.at !== undefined) {
      throw new InvalidArgumentError("--at is an instant; --start, --end and --step a range");
    }
    const start = cliTimeSeconds(options.start, nowMs);
    const end = cliTimeSeconds(options.end ?? "now", nowMs);
    if (end < start) throw new InvalidArgumentError("--end must not be before --start");
    if (options.step !== undefined && !((durationMs(options.step) ?? 0) > 0)) {
      throw new InvalidArgumentError(
        `--step ${JSON.stringify(options.step)}: use a duration such as 15s or 1m, or seconds`,
      );
    }
    body.start = start;
    body.end = end;
    body.step = options.step?.trim() ?? defaultStep(end - start);
  }
  if (options.timeout !== undefined) body.timeoutMs = options.timeout;
  if (options.partial !== undefined) body.partial = options.partial;
  return body;
}

/** A listing's `--start`, `--end` (in Unix seconds) and `--timeout`, as its request takes them. */
function listRange(options: ListOptions, nowMs: number) {
  return {
    ...(options.start === undefined ? {} : { start: cliTimeSeconds(options.start, nowMs) }),
    ...(options.end === undefined ? {} : { end: cliTimeSeconds(options.end, nowMs) }),
    ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
  };
}

// ---- what a person reads ---------------------------------------------------------------------

/** A series as Prometheus writes it: `name{a="b", c="d"}`, `{a="b"}` without a name. */
export function seriesText(metric: Record<string, string>): string {
  const { __name__: name, ...labels } = metric;
  const pairs = Object.keys(labels)
    .sort()
    .map((key) => `${key}=${JSON.stringify(labels[key])}`);
  if (name !== undefined && pairs.length === 0) return name;
  return `${name ?? ""}{${pairs.join(", ")}}`;
}

/** Unix seconds (fractions to the millisecond) as RFC 3339. */
function timeText(seconds: number): string {
  return formatTimestamp(BigInt(Math.round(seconds * 1000)) * 1_000_000n);
}

const plural = (n: number, word: string, words = `${word}s`) => `${n} ${n === 1 ? word : words}`;

/**
 * An answer as a table: a vector one row per series; a matrix one block per series with a row
 * per step; a scalar or string its value alone.
 */
export function renderPromql(answer: PromqlAnswer): string {
  switch (answer.resultType) {
    case "scalar":
    case "string":
      return answer.result[1];
    case "vector": {
      const rows = answer.result.map((e) => [seriesText(e.metric), e.value[1]]);
      const at = answer.result[0] ? ` at ${timeText(answer.result[0].value[0])}` : "";
      return `${renderTable(["series", "value"], rows)}\n(${plural(rows.length, "series", "series")}${at})`;
    }
    case "matrix": {
      const blocks = answer.result.map(
        (e) => `${seriesText(e.metric)}\n${renderTable(["time", "value"], sampleRows(e.values))}`,
      );
      const samples = answer.result.reduce((n, e) => n + e.values.length, 0);
      const count = `(${plural(answer.result.length, "series", "series")}, ${plural(samples, "sample")})`;
      return [...blocks, count].join("\n\n");
    }
  }
}

function sampleRows(values: PromSample[]): string[][] {
  return values.map(([t, v]) => [timeText(t), v]);
}

/** The lines for stderr: which instances failed, then any other warnings. */
export function promqlNotes(answer: { warnings?: string[]; partial?: PartialInfo }): string[] {
  const notes: string[] = [];
  const told = new Set<string>();
  if (answer.partial) {
    const { succeeded, total, errors } = answer.partial;
    notes.push(`partial: ${succeeded} of ${total} instances answered`);
    for (const e of errors) {
      notes.push(`  ${e.instance}: ${e.code}: ${e.message}`);
      // The endpoint repeats each failure as a warning in Prometheus' words: say it once.
      told.add(`instance ${e.instance}: ${e.code}: ${e.message}`);
    }
  }
  for (const warning of answer.warnings ?? []) {
    if (!told.has(warning)) notes.push(`warning: ${warning}`);
  }
  return notes;
}

function printNotes(format: string, answer: { warnings?: string[]; partial?: PartialInfo }) {
  if (format === "json") return;
  for (const note of promqlNotes(answer)) process.stderr.write(`${note}\n`);
}

// ---- the commands ----------------------------------------------------------------------------

const TIME_HELP = "RFC 3339, Unix seconds, now, or relative such as -1h";

function callOptionsOf(options: { timeout?: number; subject?: string }): PromqlCallOptions {
  return {
    ...(options.subject === undefined ? {} : { subject: options.subject }),
    ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout }),
  };
}

const subjectOption = () =>
  new Option(
    "--subject <subject>",
    "the federation's PromQL subject (default: <deployment>.promql)",
  );

/**
 * The options of `promql series` or `promql labels`. The program reads options of every command
 * on the way anywhere on the line, so those written after `series` that `promql` knows by the
 * same name (--start, --format, …) may have been taken by `promql`: such values count as the
 * subcommand's; an option only `promql` knows is refused.
 */
export function subcommandOptions<T extends object>(command: Command): T {
  const options: Record<string, unknown> = { ...command.opts() };
  const parent = command.parent;
  if (!parent) return options as T;
  const own = new Set(command.options.map((o) => o.attributeName()));
  for (const option of parent.options) {
    const key = option.attributeName();
    if (parent.getOptionValueSource(key) !== "cli") continue;
    if (!own.has(key)) {
      throw new InvalidArgumentError(`${option.long} does not apply to promql ${command.name()}`);
    }
    if (command.getOptionValueSource(key) !== "cli") options[key] = parent.getOptionValue(key);
  }
  return options as T;
}

export function registerPromqlCommand(program: Command): void {
  const promql = program
    .command("promql")
    .description(
      "evaluate PromQL across every instance (query-federation); `promql series` and `promql labels` list what they hold",
    )
    .argument("<expr>", "a PromQL expression, such as 'sum by (region) (rate(x[5m]))'")
    .option("--at <time>", `evaluation time of an instant query: ${TIME_HELP} (default: now)`)
    .option("--start <time>", `start of a range query: ${TIME_HELP}`)
    .option("--end <time>", `end of a range query: ${TIME_HELP} (default: now)`)
    .option(
      "--step <duration>",
      `resolution of a range query, such as 15s or 1m (default: about ${DEFAULT_POINTS} points)`,
    )
    .option("--timeout <ms>", "time budget of the whole query in milliseconds", positiveInteger)
    .addOption(
      new Option("--partial <policy>", "deny: fail when any instance fails").choices([
        "allow",
        "deny",
      ]),
    )
    .addOption(subjectOption())
    .addOption(formatOption())
    .action(async (expr: string, options: PromqlOptions, command: Command) => {
      const body = promqlBody(expr, options);
      await withClient(command, async (entente) => {
        const answer = await entente.promql(body, callOptionsOf(options));
        print(options.format, answer, () => renderPromql(answer));
        printNotes(options.format, answer);
      });
    });

  promql
    .command("series")
    .description("label sets of the series matching any of the selectors")
    .argument("<selector...>", "series selectors, such as 'cpu_usage{region=\"eu-west\"}'")
    .option("--start <time>", `${TIME_HELP} (default: an hour before end)`)
    .option("--end <time>", `${TIME_HELP} (default: now)`)
    .option("--timeout <ms>", "time budget in milliseconds", positiveInteger)
    .addOption(subjectOption())
    .addOption(formatOption())
    .action(async (selectors: string[], _options: ListOptions, command: Command) => {
      const options = subcommandOptions<ListOptions>(command);
      const request: PromqlSeriesRequest = {
        match: selectors,
        ...listRange(options, Date.now()),
      };
      await withClient(command, async (entente) => {
        const answer = await entente.promqlSeries(request, callOptionsOf(options));
        print(options.format, answer, () =>
          [
            ...answer.series.map(seriesText),
            `(${plural(answer.series.length, "series", "series")})`,
          ].join("\n"),
        );
        printNotes(options.format, answer);
      });
    });

  promql
    .command("labels")
    .description("label names of the series; with a name, the values that label takes")
    .argument("[name]", "a label name, such as region or __name__")
    .addOption(
      new Option("--match <selector>", "only series matching this selector (repeat)")
        .argParser((value: string, previous: string[] = []) => [...previous, value])
        .default([]),
    )
    .option("--start <time>", `${TIME_HELP} (default: an hour before end)`)
    .option("--end <time>", `${TIME_HELP} (default: now)`)
    .option("--timeout <ms>", "time budget in milliseconds", positiveInteger)
    .addOption(subjectOption())
    .addOption(formatOption())
    .action(async (name: string | undefined, _options: ListOptions, command: Command) => {
      const options = subcommandOptions<ListOptions>(command);
      const request: Omit<PromqlLabelsRequest, "name"> = {
        ...(options.match.length > 0 ? { match: options.match } : {}),
        ...listRange(options, Date.now()),
      };
      await withClient(command, async (entente) => {
        const answer =
          name === undefined
            ? await entente.promqlLabels(request, callOptionsOf(options))
            : await entente.promqlValues(name, request, callOptionsOf(options));
        print(options.format, answer, () => answer.values.join("\n"));
        printNotes(options.format, answer);
      });
    });
}

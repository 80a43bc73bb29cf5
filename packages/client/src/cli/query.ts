/**
 * `entente query <metric>`: one federated metric query (query-federation), printed as a table
 * or as the JSON answer `{ points, partial? }`.
 */
import { AGGREGATION_FUNCTIONS, type QueryRequest } from "@entente/protocol";
import { type Command, Option } from "commander";
import { formatOption, positiveInteger, print, withClient } from "./common.ts";
import { formatTimestamp, renderTable } from "./table.ts";

interface QueryOptions {
  start?: string;
  end?: string;
  tag: string[];
  agg?: string;
  window?: string;
  by: string[];
  limit?: number;
  timeout?: number;
  partial?: string;
  subject?: string;
  format: string;
}

const TAG = /^([A-Za-z_][A-Za-z0-9_.:-]*)(=~|!~|!=|=)(.*)$/s;

type TagFilter = string | string[] | Record<string, string>;

/** `k=v`, `k!=v`, `k=~regex`, `k!~regex` → the query's `tags`; `k=a` twice means a or b. */
export function parseTagFilters(filters: string[]): Record<string, TagFilter> {
  const tags: Record<string, TagFilter> = {};
  for (const filter of filters) {
    const match = TAG.exec(filter);
    if (!match) {
      throw new Error(
        `--tag ${JSON.stringify(filter)}: write it as name=value, name!=value, name=~regex or name!~regex`,
      );
    }
    const [, name, op, value] = match as unknown as [string, string, string, string];
    const seen = tags[name];
    if (op === "=") {
      if (seen === undefined) tags[name] = value;
      else if (typeof seen === "string") tags[name] = [seen, value];
      else if (Array.isArray(seen)) seen.push(value);
      else throw new Error(`--tag ${name}: mix = with other matchers through =~ instead`);
      continue;
    }
    if (seen === undefined) tags[name] = { [op]: value };
    else if (typeof seen === "object" && !Array.isArray(seen) && !(op in seen)) seen[op] = value;
    else throw new Error(`--tag ${name}: ${op} given twice or mixed with =`);
  }
  return tags;
}

/** The JSON body of `entente.query` the options describe. */
export function queryBody(metric: string, options: QueryOptions): QueryRequest {
  const body: QueryRequest = { metric };
  if (options.start !== undefined) body.start = options.start;
  if (options.end !== undefined) body.end = options.end;
  if (options.tag.length > 0) body.tags = parseTagFilters(options.tag);
  if (options.agg !== undefined) {
    body.aggregation = {
      function: options.agg,
      ...(options.window !== undefined ? { window: options.window } : {}),
      ...(options.by.length > 0 ? { by: options.by } : {}),
    };
  } else if (options.window !== undefined || options.by.length > 0) {
    throw new Error("--window and --by need --agg <function>");
  }
  if (options.limit !== undefined) body.limit = options.limit;
  if (options.timeout !== undefined) body.timeoutMs = options.timeout;
  if (options.partial !== undefined) body.partial = options.partial as QueryRequest["partial"];
  return body;
}

function tagText(tags: Record<string, string>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(",");
}

const repeatable = (flags: string, description: string) =>
  new Option(flags, description)
    .argParser((value: string, previous: string[] = []) => [
      ...previous,
      ...(flags.startsWith("--by") ? value.split(",").filter(Boolean) : [value]),
    ])
    .default([]);

export function registerQueryCommand(program: Command): void {
  program
    .command("query")
    .description("query a metric across every instance (query-federation)")
    .argument("<metric>", "metric name")
    .option(
      "--start <time>",
      "RFC 3339, nanoseconds, or relative such as -1h (default: an hour before end)",
    )
    .option("--end <time>", "RFC 3339, nanoseconds, or relative (default: now)")
    .addOption(
      repeatable("--tag <filter>", "name=value, name!=value, name=~regex or name!~regex (repeat)"),
    )
    .addOption(
      new Option("--agg <function>", "aggregate per window").choices(AGGREGATION_FUNCTIONS),
    )
    .option(
      "--window <duration>",
      // Windows start at multiples of their length since the epoch (the server's choice), so a
      // window as long as the range usually straddles a boundary: say so rather than promise one.
      "window of the aggregation, such as 1m or 5m (default: as long as the range, aligned to the epoch, so the range can span two windows)",
    )
    .addOption(
      repeatable("--by <tag>", "group the aggregation by this tag (repeat or comma-separate)"),
    )
    .option("--limit <n>", "at most this many points", positiveInteger)
    .option("--timeout <ms>", "time budget of the query in milliseconds", positiveInteger)
    .addOption(
      new Option("--partial <policy>", "deny: fail when any instance fails").choices([
        "allow",
        "deny",
      ]),
    )
    .option("--subject <subject>", "the federation's query subject (default: <deployment>.query)")
    .addOption(formatOption())
    .action(async (metric: string, options: QueryOptions, command: Command) => {
      const body = queryBody(metric, options);
      await withClient(command, async (entente) => {
        const answer = await entente.query(body, {
          ...(options.subject !== undefined ? { subject: options.subject } : {}),
          ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
        });
        print(options.format, answer, () => {
          const rows = answer.points.map((p) => [
            formatTimestamp(p.timestamp),
            p.metric,
            tagText(p.tags),
            p.value,
          ]);
          return [
            renderTable(["time", "metric", "tags", "value"], rows),
            `(${rows.length} point${rows.length === 1 ? "" : "s"})`,
          ].join("\n");
        });
        if (options.format === "json") return;
        if (answer.partial) {
          const { succeeded, total, errors } = answer.partial;
          process.stderr.write(`partial: ${succeeded} of ${total} instances answered\n`);
          for (const e of errors)
            process.stderr.write(`  ${e.instance}: ${e.code}: ${e.message}\n`);
        }
      });
    });
}

/** `entente sql "<statement>"`: one SQL statement across the configured databases. */
import { toJson } from "@entente/protocol";
import { type Command, Option } from "commander";
import { formatOption, positiveInteger, withClient } from "./common.ts";
import { formatTimestamp, renderTable } from "./table.ts";

interface SqlOptions {
  format: string;
  param: string[];
  explain?: boolean;
  timeout?: number;
  /** false with --no-pushdown. */
  pushdown: boolean;
}

/** A `--param` value: JSON when it parses (numbers, booleans, null, quoted strings), else text. */
function paramValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function registerSqlCommand(program: Command): void {
  program
    .command("sql")
    .description("run one read-only SQL statement across the configured databases (sql-join)")
    .argument("<statement>", "a SELECT (or EXPLAIN SELECT) statement; $1, $2, … for parameters")
    .addOption(formatOption())
    .addOption(
      new Option("--param <value>", "a parameter value for $1, $2, … (repeat in order)")
        .argParser((value: string, previous: string[] = []) => [...previous, value])
        .default([]),
    )
    .option("--explain", "show the plan and the SQL sent to each source instead of rows")
    .option("--timeout <ms>", "time budget of the statement in milliseconds", positiveInteger)
    .option(
      "--no-pushdown",
      "let the sources only read columns; the engine runs every filter, join and aggregate",
    )
    .action(async (statement: string, options: SqlOptions, command: Command) => {
      await withClient(command, async (entente) => {
        const result = await entente.sql(statement, {
          params: options.param.map(paramValue),
          ...(options.explain ? { explain: true } : {}),
          ...(options.pushdown ? {} : { pushdown: false }),
          ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
        });
        const names = result.columns.map((c) => c.name);
        if (options.format === "json") {
          const out: Record<string, unknown> = { columns: names, rows: result.rows };
          if (result.plan !== undefined) out.sources = result.sources;
          process.stdout.write(`${toJson(out)}\n`);
          return;
        }
        // Timestamps travel as nanoseconds since the epoch; a person reads RFC 3339.
        const timestamps = result.columns.map((c) => c.type === "timestamp");
        const rows = result.rows.map((row) =>
          row.map((value, i) =>
            timestamps[i] && value !== null && value !== undefined
              ? formatTimestamp(value as string | bigint | number)
              : value,
          ),
        );
        const lines = [renderTable(names, rows)];
        if (result.plan === undefined) {
          lines.push(
            `(${result.rows.length} row${result.rows.length === 1 ? "" : "s"}${result.stats ? `, ${result.stats.ms} ms` : ""})`,
          );
        } else {
          for (const s of result.sources ?? [])
            lines.push(`${s.source}: ${s.sql}  params ${toJson(s.params)}`);
        }
        process.stdout.write(`${lines.join("\n")}\n`);
      });
    });
}

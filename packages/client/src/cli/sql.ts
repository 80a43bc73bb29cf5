/**
 * `entente sql "<statement>" ["<statement>" …]`: one SQL statement across the configured
 * databases, or several run as one transaction.
 */
import { type SqlResult, toJson } from "@entente/protocol";
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
  session?: string;
  idempotencyKey?: string;
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
    .description(
      "run one SQL statement across the configured databases, or several as one transaction (sql-join)",
    )
    .argument(
      "<statements...>",
      "a SELECT (or EXPLAIN SELECT), INSERT, UPDATE or DELETE; $1, $2, … for parameters. Several run as one transaction, all or nothing",
    )
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
    .option("--session <id>", "run the statement in the interactive transaction BEGIN opened")
    .option("--idempotency-key <key>", "apply the write at most once for this key")
    .action(async (statements: string[], options: SqlOptions, command: Command) => {
      if (statements.length > 1 && options.param.length > 0) {
        command.error("--param binds one statement's $1, $2, …; give one statement with it");
      }
      await withClient(command, async (entente) => {
        const budget = options.timeout !== undefined ? { timeoutMs: options.timeout } : {};
        const key = options.idempotencyKey;
        const result =
          statements.length > 1
            ? await entente.transaction(
                statements.map((sql) => ({ sql })),
                { ...budget, ...(key === undefined ? {} : { idempotencyKey: key }) },
              )
            : await entente.sql(statements[0] as string, {
                params: options.param.map(paramValue),
                ...(options.explain ? { explain: true } : {}),
                ...(options.pushdown ? {} : { pushdown: false }),
                ...(options.session === undefined ? {} : { session: options.session }),
                ...(key === undefined ? {} : { idempotencyKey: key }),
                ...budget,
              });
        if (isTransactionReply(result)) {
          process.stdout.write(`${transactionText(result, options.format)}\n`);
          return;
        }
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

/** A reply that is about a transaction rather than rows: BEGIN, COMMIT, ROLLBACK, a list. */
export function isTransactionReply(result: SqlResult): boolean {
  return (
    result.session !== undefined ||
    result.results !== undefined ||
    (result.transaction !== undefined && result.columns.length === 0) ||
    result.alreadyApplied === true
  );
}

export function transactionText(result: SqlResult, format: string): string {
  if (format === "json") {
    const { session, results, transaction, alreadyApplied } = result;
    return toJson({ session, results, transaction, alreadyApplied });
  }
  if (result.alreadyApplied)
    return "already applied: this idempotency key was used; nothing changed";
  if (result.session) {
    return `transaction open: ${result.session.id} (rolled back after ${result.session.idleTimeoutMs} ms idle)\nsend its statements with --session ${result.session.id}, then COMMIT or ROLLBACK`;
  }
  const lines = (result.results ?? []).map((r, i) =>
    r.affectedRows !== undefined
      ? `${i + 1}: ${r.affectedRows} row${r.affectedRows === 1 ? "" : "s"} affected`
      : `${i + 1}: ${r.rows?.length ?? 0} row${r.rows?.length === 1 ? "" : "s"}`,
  );
  const t = result.transaction;
  if (t) {
    lines.push(
      `${t.outcome}: transaction ${t.id}${t.twoPhase ? ` (two-phase commit across ${t.participants.join(", ")})` : t.participants.length > 0 ? ` (${t.participants.join(", ")})` : ""}`,
    );
  }
  return lines.join("\n");
}

/**
 * `entente get <table> <id>...`: rows of a table by their 64-bit region-owned ids, read from
 * whichever regions own them (`entente.data.get`).
 */
import { type DataGetReply, toJson } from "@entente/protocol";
import { type Command, InvalidArgumentError } from "commander";
import { formatOption, positiveInteger, withClient } from "./common.ts";
import { renderTable } from "./table.ts";

interface GetOptions {
  format: string;
  /** Parsed by `columnsArgument`. */
  columns?: string[];
  timeout?: number;
}

/** `--columns a,b`: the names, blanks left out. */
export function columnsArgument(value: string): string[] {
  const names = value
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (names.length === 0) throw new InvalidArgumentError("name at least one column");
  return names;
}

/** The rows as a table; the ids with no row, no answer, and the regions that failed as notes. */
export function renderDataGet(reply: DataGetReply): { table: string; notes: string[] } {
  const found = reply.rows.filter((row): row is unknown[] => row !== null);
  const notes: string[] = [];
  if (reply.missing.length > 0) notes.push(`missing: ${reply.missing.join(" ")}`);
  if (reply.unanswered.length > 0) notes.push(`unanswered: ${reply.unanswered.join(" ")}`);
  if (reply.partial) {
    const { succeeded, total, errors } = reply.partial;
    notes.push(`partial: ${succeeded} of ${total} regions answered`);
    for (const e of errors) notes.push(`  region ${e.region}: ${e.code} ${e.message}`);
  }
  const count = `(${found.length} row${found.length === 1 ? "" : "s"})`;
  return { table: `${renderTable(reply.columns, found)}\n${count}`, notes };
}

export function registerGetCommand(program: Command): void {
  program
    .command("get")
    .description("read rows of a table by their region-owned ids, from the regions that own them")
    .argument("<table>", "a table of the tables: section that declares an id column")
    .argument("<id...>", "64-bit ids, in decimal")
    .option("--columns <a,b>", "only these columns", columnsArgument)
    .option("--timeout <ms>", "time budget in milliseconds", positiveInteger)
    .addOption(formatOption())
    .action(async (table: string, ids: string[], options: GetOptions, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = await entente.data.get(table, ids, {
          ...(options.columns ? { columns: options.columns } : {}),
          ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
        });
        if (options.format === "json") {
          process.stdout.write(`${toJson(reply)}\n`);
          return;
        }
        const { table: text, notes } = renderDataGet(reply);
        process.stdout.write(`${text}\n`);
        for (const note of notes) process.stderr.write(`${note}\n`);
      });
    });
}

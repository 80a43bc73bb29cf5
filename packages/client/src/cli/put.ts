/**
 * `entente put <table> <json-row>...`: inserts or updates rows of a writable table by their
 * 64-bit region-owned ids, each in the region that owns it (`entente.data.put`).
 */
import { type DataPutReply, toJson } from "@entente/protocol";
import { type Command, InvalidArgumentError } from "commander";
import { formatOption, positiveInteger, withClient } from "./common.ts";

interface PutOptions {
  format: string;
  timeout?: number;
}

/** One row argument: a JSON object of column → value. */
export function rowArgument(text: string, index: number): Record<string, unknown> {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`row ${index + 1} is not JSON: ${(err as Error).message}`);
  }
  if (row === null || typeof row !== "object" || Array.isArray(row)) {
    throw new InvalidArgumentError(
      `row ${index + 1} is not a JSON object of column → value: ${text}`,
    );
  }
  return row as Record<string, unknown>;
}

/** What each region wrote, and what failed, as lines. */
export function renderDataPut(reply: DataPutReply): { lines: string[]; notes: string[] } {
  const lines = reply.written.map(
    (w) =>
      `region ${w.region} (${w.from}): wrote ${w.ids.length} row${w.ids.length === 1 ? "" : "s"}`,
  );
  const notes: string[] = [];
  if (reply.unwritten.length > 0) notes.push(`unwritten: ${reply.unwritten.join(" ")}`);
  if (reply.partial) {
    const { succeeded, total, errors } = reply.partial;
    notes.push(`partial: ${succeeded} of ${total} regions wrote their rows`);
    for (const e of errors) notes.push(`  region ${e.region}: ${e.code} ${e.message}`);
  }
  return { lines, notes };
}

export function registerPutCommand(program: Command): void {
  program
    .command("put")
    .description("insert or update rows by their region-owned ids, in the regions that own them")
    .argument("<table>", "a table of the tables: section with an id column and writable: true")
    .argument("<row...>", 'rows as JSON objects, e.g. \'{"id": "281474976710657", "name": "Ada"}\'')
    .option("--timeout <ms>", "time budget in milliseconds", positiveInteger)
    .addOption(formatOption())
    .action(async (table: string, rows: string[], options: PutOptions, command: Command) => {
      const parsed = rows.map((text, i) => rowArgument(text, i));
      await withClient(command, async (entente) => {
        const reply = await entente.data.put(table, parsed, {
          ...(options.timeout !== undefined ? { timeoutMs: options.timeout } : {}),
        });
        if (options.format === "json") {
          process.stdout.write(`${toJson(reply)}\n`);
        } else {
          const { lines, notes } = renderDataPut(reply);
          for (const line of lines) process.stdout.write(`${line}\n`);
          for (const note of notes) process.stderr.write(`${note}\n`);
        }
        if (reply.partial) process.exitCode = 1;
      });
    });
}

/**
 * `entente tx list | commit <id> | rollback <id>`: distributed transactions in doubt — prepared
 * at a source, their coordinator's decision not carried out — resolved by hand as a database
 * administrator would.
 */
import type { TxListReply, TxResolveReply } from "@entente/protocol";
import { toJson } from "@entente/protocol";
import type { Command } from "commander";
import { formatOption, withClient } from "./common.ts";
import { renderTable } from "./table.ts";

export function registerTxCommands(program: Command): void {
  const tx = program
    .command("tx")
    .description("distributed transactions in doubt: list them, commit or roll one back");
  tx.command("list")
    .description("transactions prepared at a source and not yet finished, with their decision")
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = (await entente.tx({ op: "list" })) as TxListReply;
        if (options.format === "json") {
          process.stdout.write(`${toJson(reply)}\n`);
          return;
        }
        const rows = reply.transactions.map((t) => [
          t.id,
          t.sources.join(", "),
          t.decision ?? "none (presumed abort)",
          t.region,
          t.worker,
          new Date(t.startedAtMs).toISOString(),
        ]);
        const lines = [
          renderTable(["id", "prepared at", "decision", "region", "worker", "started"], rows),
        ];
        lines.push(`(${rows.length} in doubt)`);
        for (const e of reply.errors) lines.push(`${e.source}: not searched: ${e.message}`);
        process.stdout.write(`${lines.join("\n")}\n`);
      });
    });
  for (const op of ["commit", "rollback"] as const) {
    tx.command(op)
      .description(
        op === "commit"
          ? "commit a transaction whose coordinator logged commit (the only safe commit)"
          : "roll back a transaction, unless its coordinator logged commit",
      )
      .argument("<id>", "the transaction id, as tx list shows it")
      .addOption(formatOption())
      .action(async (id: string, options: { format: string }, command: Command) => {
        await withClient(command, async (entente) => {
          const reply = (await entente.tx({ op, id })) as TxResolveReply;
          process.stdout.write(
            options.format === "json"
              ? `${toJson(reply)}\n`
              : `${reply.outcome}: ${reply.id}${reply.sources.length > 0 ? ` at ${reply.sources.join(", ")}` : " (nothing was left prepared)"}\n`,
          );
        });
      });
  }
}

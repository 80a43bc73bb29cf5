/** `entente bridge …`: broker bridge links, their status, and changes at run time. */
import type { LinkDefinition, LinkInput } from "@entente/protocol";
import type { Command } from "commander";
import { formatOption, print, readJsonArgument, withClient } from "./common.ts";
import { renderTable } from "./table.ts";

function sideText(side: LinkDefinition["upstream"] | LinkDefinition["downstream"]): string {
  const where =
    "subjects" in side
      ? side.subjects.join(",")
      : "stream" in side && side.stream !== undefined
        ? `stream ${side.stream}`
        : "exchange" in side && side.exchange !== undefined
          ? `exchange ${side.exchange}`
          : "queue" in side && side.queue !== undefined
            ? `queue ${side.queue}`
            : "";
  return `${side.kind} ${side.url}${where ? ` ${where}` : ""}`;
}

function ageText(iso: string | undefined): string {
  if (iso === undefined) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`;
}

/** A definition given inline as JSON, or as `@file` holding JSON. */

export function registerBridgeCommand(program: Command): void {
  const bridge = program.command("bridge").description("broker bridge links between brokers");

  bridge
    .command("status")
    .description("every link with its status, lag, rates and owner")
    .argument("[link]", "only this link")
    .addOption(formatOption())
    .action(async (link: string | undefined, options: { format: string }, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = await entente.bridge.list();
        const links = reply.links.filter((l) => link === undefined || l.link === link);
        if (link !== undefined && links.length === 0)
          throw new Error(`no link named ${JSON.stringify(link)}`);
        print(
          options.format,
          links.map((l) => ({ link: l.link, ...(l.status ?? { status: "unknown" }) })),
          () =>
            links.length === 0
              ? "no links"
              : renderTable(
                  [
                    "link",
                    "status",
                    "since",
                    "lag",
                    "fwd/s",
                    "forwarded",
                    "last forwarded",
                    "owner",
                    "reason",
                  ],
                  links.map((l) => [
                    l.link,
                    l.status?.status ?? "unknown",
                    ageText(l.status?.since),
                    l.status?.lag,
                    l.status?.rates.forwarded,
                    l.status?.counters.forwarded,
                    ageText(l.status?.lastForwardedAt),
                    l.status?.owner,
                    l.status?.reason ?? l.status?.lastProblem ?? "",
                  ]),
                ),
        );
      });
    });

  bridge
    .command("list")
    .description("every link with its definition and where it came from")
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      await withClient(command, async (entente) => {
        const reply = await entente.bridge.list();
        print(
          options.format,
          reply.links.map(({ link, source, definition }) => ({ link, source, definition })),
          () =>
            reply.links.length === 0
              ? "no links"
              : renderTable(
                  ["link", "source", "upstream", "downstream", "max hops", "prefetch"],
                  reply.links.map((l) => [
                    l.link,
                    l.source,
                    sideText(l.definition.upstream),
                    sideText(l.definition.downstream),
                    l.definition.maxHops,
                    l.definition.prefetch,
                  ]),
                ),
        );
      });
    });

  bridge
    .command("add")
    .description("add a link, or change one, on every bridge worker without a restart")
    .argument("<link>", "link name: letters, digits, '-' and '_'")
    .argument("<json>", "the link definition as JSON, or @file holding it")
    .action(async (link: string, json: string, _options, command: Command) => {
      const definition = readJsonArgument(json, "the link definition");
      await withClient(command, async (entente) => {
        await entente.bridge.add(link, definition as LinkInput);
        process.stdout.write(`link ${link} added\n`);
      });
    });

  bridge
    .command("remove")
    .description("remove a link (configured or added at run time) from every bridge worker")
    .argument("<link>")
    .action(async (link: string, _options, command: Command) => {
      await withClient(command, async (entente) => {
        await entente.bridge.remove(link);
        process.stdout.write(`link ${link} removed\n`);
      });
    });
}

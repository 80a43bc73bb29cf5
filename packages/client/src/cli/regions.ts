/**
 * `entente regions`, `entente regions links` and `entente route <region>`: the region tree, this
 * region's links and the path to another region, as the region router of this region sees them.
 */
import {
  type DataTraffic,
  type LinksReply,
  type RegionsReply,
  type RouteReply,
  subjectsOf,
  type TrafficReply,
} from "@entente/protocol";
import type { Command } from "commander";
import { formatOption, print, withClient } from "./common.ts";
import { numberText, renderTable } from "./table.ts";

type RegionRow = RegionsReply["regions"][number];
type LinkRow = LinksReply["links"][number];

/** A region argument: digits are an id, anything else a name. */
export function regionArgument(value: string): string | number {
  const text = value.trim();
  if (text === "") throw new Error("a region is a name or an id, got nothing");
  return /^\d+$/.test(text) ? Number(text) : text;
}

/** Milliseconds rounded the way a person reads them: 0.31, 4.2, 37, 1204. */
export function msText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  const abs = Math.abs(ms);
  const digits = abs < 1 ? 2 : abs < 100 ? 1 : 0;
  return numberText(Number(ms.toFixed(digits)));
}

/** A clock offset with its sign, `+1.3 ms` or `-12 ms`; blank when not measured. */
export function offsetText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "";
  const text = msText(ms);
  return `${ms > 0 && text !== "0" ? "+" : ""}${text} ms`;
}

/** A link or route cost: null is infinite. */
export function costText(cost: number | null | undefined): string {
  if (cost === null) return "∞";
  if (cost === undefined) return "";
  return numberText(Number(cost.toFixed(Math.abs(cost) < 10 ? 2 : 1)));
}

/** A busy fraction (0..1) as a percentage. */
export function loadText(load: number | undefined): string {
  return load === undefined ? "" : `${Math.round(load * 100)}%`;
}

const yesNo = (value: boolean) => (value ? "yes" : "no");

/**
 * The regions in tree order, each with its depth: a parent before its children (by id), the
 * root(s) first; a region whose parent is not listed (or a loop) is shown at the top level.
 */
export function treeOrder(
  regions: readonly RegionRow[],
): Array<{ region: RegionRow; depth: number }> {
  const byId = new Map(regions.map((r) => [r.id, r]));
  const children = new Map<number, RegionRow[]>();
  const tops: RegionRow[] = [];
  for (const region of regions) {
    if (region.parent !== undefined && byId.has(region.parent) && region.parent !== region.id) {
      const list = children.get(region.parent) ?? [];
      list.push(region);
      children.set(region.parent, list);
    } else {
      tops.push(region);
    }
  }
  const out: Array<{ region: RegionRow; depth: number }> = [];
  const placed = new Set<number>();
  const visit = (region: RegionRow, depth: number) => {
    if (placed.has(region.id)) return;
    placed.add(region.id);
    out.push({ region, depth });
    for (const child of [...(children.get(region.id) ?? [])].sort((a, b) => a.id - b.id)) {
      visit(child, depth + 1);
    }
  };
  for (const top of [...tops].sort((a, b) => a.id - b.id)) visit(top, 0);
  // Regions on a parent loop are reached from no top: show them at the top level.
  for (const region of [...regions].sort((a, b) => a.id - b.id)) visit(region, 0);
  return out;
}

/** `entente regions` for a person: the tree, this region marked with `*`. */
export function regionsTable(reply: RegionsReply): string {
  const names = new Map(reply.regions.map((r) => [r.id, r.name]));
  const rows = treeOrder(reply.regions).map(({ region, depth }) => [
    region.id,
    `${"  ".repeat(depth)}${depth > 0 ? "└ " : ""}${region.name}${region.id === reply.self ? " *" : ""}`,
    region.parent === undefined ? "" : (names.get(region.parent) ?? String(region.parent)),
    region.status,
    region.id === reply.self ? "self" : yesNo(region.reachable),
    offsetText(region.clockOffsetMs),
  ]);
  const self = names.get(reply.self) ?? String(reply.self);
  const count = reply.regions.length;
  return [
    renderTable(["id", "name", "parent", "status", "reachable", "clock offset"], rows),
    `(${count} region${count === 1 ? "" : "s"} seen from ${self} (${reply.self}) *, registry revision ${reply.revision})`,
  ].join("\n");
}

/** `entente regions links` for a person. */
export function linksTable(reply: LinksReply): string {
  if (reply.links.length === 0) return `region ${reply.self} has no links`;
  const rows = reply.links.map((link: LinkRow) => [
    link.name === undefined ? String(link.to) : `${link.name} (${link.to})`,
    link.up ? (link.open ? "yes" : "yes, held back") : "no",
    msText(link.latencyMs),
    msText(link.setupMs),
    loadText(link.load),
    costText(link.cost),
    offsetText(link.clockOffsetMs),
  ]);
  return renderTable(["to", "up", "latency ms", "setup ms", "load", "cost", "clock offset"], rows);
}

/** A region's name from the registry, else its id. */
function nameOf(regions: RegionsReply | undefined, id: number): string {
  return regions?.regions.find((r) => r.id === id)?.name ?? String(id);
}

/** `entente route` for a person: `leaf → mid → root (cost 2.5)`, or why there is no path. */
export function routeText(reply: RouteReply, regions?: RegionsReply): string {
  const from = nameOf(regions, reply.from);
  const to = nameOf(regions, reply.to);
  if (!reply.reachable || reply.path.length === 0) {
    return `${to} (${reply.to}) is unreachable from ${from} (${reply.from}): no path`;
  }
  if (reply.path.length === 1) return `${to} is this region (cost 0)`;
  const hops = reply.path.length - 1;
  return `${reply.path.map((id) => nameOf(regions, id)).join(" → ")}  (cost ${costText(reply.cost)}, ${hops} hop${hops === 1 ? "" : "s"})`;
}

/**
 * The `--format` of `regions links`: the parent command parses a `--format` given after the
 * subcommand's name too (options are not positional), so the one given wins wherever it is.
 */
/** Bytes as a person reads them. */
export function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Each region's traffic to each other, one line per pair; regions that did not answer noted. */
export function trafficTable(
  replies: TrafficReply[],
  regions: RegionsReply,
  unanswered: number[],
): string {
  const rows = replies.flatMap((reply) =>
    reply.to.map((t) => [
      nameOf(regions, reply.self),
      nameOf(regions, t.region),
      t.requests,
      bytesText(t.requestBytes),
      bytesText(t.replyBytes),
      ...dataColumns(t.data),
    ]),
  );
  const lines = [
    rows.length === 0
      ? "no cross-region requests yet"
      : renderTable(
          [
            "from",
            "to",
            "requests",
            "sent",
            "received",
            "reads by id",
            "read bytes",
            "replica hits",
            "replicas",
            "replica bytes",
            "evictions",
            "staleness",
          ],
          rows,
        ),
  ];
  if (unanswered.length > 0) {
    lines.push(`not answered: ${unanswered.map((id) => nameOf(regions, id)).join(", ")}`);
  }
  return lines.join("\n");
}

/** A pair's reads by id and replicas, or dashes where the region's workers read none by id. */
function dataColumns(data: DataTraffic | undefined): Array<string | number> {
  if (!data) return ["-", "-", "-", "-", "-", "-", "-"];
  return [
    data.requests,
    bytesText(data.bytes),
    data.replicaHits,
    data.replicas,
    bytesText(data.replicaBytes),
    data.evictions,
    data.stalenessMs === null ? "-" : `${(data.stalenessMs / 1000).toFixed(1)} s`,
  ];
}

function subcommandFormat(command: Command): string {
  const own = command.opts<{ format: string }>().format;
  if (command.getOptionValueSource("format") !== "default") return own;
  const parent = command.parent;
  return parent?.getOptionValueSource("format") === "cli"
    ? parent.opts<{ format: string }>().format
    : own;
}

export function registerRegionsCommands(program: Command): void {
  const regions = program
    .command("regions")
    .description("the region tree as this region's region router sees it")
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      await withClient(command, async ({ client }, config) => {
        const subjects = subjectsOf(config.config.deployment);
        const reply = await client.request<RegionsReply>(subjects.router.regions, {});
        print(options.format, reply, () => regionsTable(reply));
      });
    });

  regions
    .command("links")
    .description("this region's links: latency, setup, load, cost and clock offset")
    .addOption(formatOption())
    .action(async (_options: { format: string }, command: Command) => {
      const format = subcommandFormat(command);
      await withClient(command, async ({ client }, config) => {
        const subjects = subjectsOf(config.config.deployment);
        const reply = await client.request<LinksReply>(subjects.router.links, {});
        print(format, reply, () => linksTable(reply));
      });
    });

  regions
    .command("traffic")
    .description(
      "requests and bytes between each pair of regions as each region's router counts them, with reads by id and replicas as its sql-join workers count them",
    )
    .addOption(formatOption())
    .action(async (_options: { format: string }, command: Command) => {
      const format = subcommandFormat(command);
      await withClient(command, async ({ client }, config) => {
        const subjects = subjectsOf(config.config.deployment);
        const registry = await client.request<RegionsReply>(subjects.router.regions, {});
        const active = registry.regions.filter((r) => r.status === "active").map((r) => r.id);
        const answers = await Promise.allSettled(
          active.map((id) =>
            client.request<TrafficReply>(
              subjects.router.traffic,
              {},
              { region: id, timeoutMs: 5_000 },
            ),
          ),
        );
        const replies = answers.flatMap((a) => (a.status === "fulfilled" ? [a.value] : []));
        const unanswered = active.filter((_, i) => answers[i]?.status === "rejected");
        print(format, { regions: replies, unanswered }, () =>
          trafficTable(replies, registry, unanswered),
        );
      });
    });

  regions
    .command("leave")
    .description(
      "take this region out of the hierarchy: the root marks it departed, and it serves no cross-region request until its router restarts",
    )
    .action(async (_options: unknown, command: Command) => {
      await withClient(command, async ({ client }, config) => {
        const subjects = subjectsOf(config.config.deployment);
        const reply = await client.request<{ left: boolean; region: number; unconfirmed?: string }>(
          subjects.router.depart,
          {},
          { timeoutMs: 15_000 },
        );
        process.stdout.write(
          reply.unconfirmed
            ? `region ${reply.region} left, but the root was not told: ${reply.unconfirmed}\n`
            : `region ${reply.region} left the hierarchy\n`,
        );
      });
    });

  program
    .command("route")
    .description("the path and cost from this region to another (exits 1 when unreachable)")
    .argument("<region>", "a region's name or id")
    .addOption(formatOption())
    .action(async (region: string, options: { format: string }, command: Command) => {
      const to = regionArgument(region);
      await withClient(command, async ({ client }, config) => {
        const subjects = subjectsOf(config.config.deployment);
        const reply = await client.request<RouteReply>(subjects.router.route, { to });
        if (options.format === "json") {
          print(options.format, reply, () => "");
        } else {
          // Names for the path's ids; the path is still worth printing without them.
          const registry = await client
            .request<RegionsReply>(subjects.router.regions, {})
            .catch(() => undefined);
          print(options.format, reply, () => routeText(reply, registry));
        }
        if (!reply.reachable) process.exitCode = 1;
      });
    });
}

/** The routing options of `entente request`, checked: one of a region or an owner id. */
export function routingOptions(options: { region?: string; owner?: string }): {
  region?: string | number;
  owner?: string;
} {
  if (options.region !== undefined && options.owner !== undefined) {
    throw new Error("give --region or --owner, not both");
  }
  if (options.region !== undefined) return { region: regionArgument(options.region) };
  if (options.owner !== undefined) {
    const owner = options.owner.trim();
    if (!/^\d+$/.test(owner)) {
      throw new Error(`--owner is a 64-bit id in decimal, got ${JSON.stringify(options.owner)}`);
    }
    return { owner };
  }
  return {};
}

import { readFileSync } from "node:fs";
import {
  DEFAULT_DEPLOYMENT,
  decodeId,
  encodeId,
  type IngestFigures,
  toJson,
} from "@entente/protocol";
import { Command } from "commander";
import { discover } from "../discovery.ts";
import { registerBridgeCommand } from "./bridge.ts";
import { formatOption, positiveInteger, print, withClient } from "./common.ts";
import { registerGetCommand } from "./get.ts";
import { registerPromqlCommand } from "./promql.ts";
import { registerPutCommand } from "./put.ts";
import { registerQueryCommand } from "./query.ts";
import { registerRegionsCommands, routingOptions } from "./regions.ts";
import { registerSagaCommands } from "./saga.ts";
import { registerSqlCommand } from "./sql.ts";
import { renderTable } from "./table.ts";
import { registerTiersCommands } from "./tiers.ts";
import { registerTxCommands } from "./tx.ts";

/**
 * The command line's client commands. The `entente` executable (@entente/server) adds
 * `serve`, which is the only command that loads services and their database drivers.
 */
export function buildProgram(): Command {
  const program = new Command("entente")
    .description("Entente: one answer from many databases, brokers and regions, over NATS")
    .version(clientVersion(), "-V, --version", "print the version")
    .option("-c, --config <file>", "configuration file (default: $ENTENTE_CONFIG, else built-in)")
    .showHelpAfterError();

  program
    .command("status")
    .description(
      "list the running workers of this deployment and their endpoint stats (NATS services API)",
    )
    .option("-s, --service <name>", "only this service")
    .addOption(formatOption())
    .action(async (options: { service?: string; format: string }, command: Command) => {
      await withClient(command, async ({ client }, config) => {
        const { deployment } = config.config;
        const stats = (
          await discover<StatsResponse>(client.nc, "STATS", {
            ...(options.service ? { service: options.service } : {}),
          })
        ).filter((s) => inDeployment(s.metadata, deployment));
        const rows = stats.flatMap((s) =>
          s.endpoints.map((e) => [
            s.name,
            s.id,
            s.metadata?.region ?? "",
            e.subject,
            e.num_requests,
            e.num_errors,
            (e.average_processing_time / 1e6).toFixed(2),
            e.data?.in_flight ?? 0,
          ]),
        );
        print(options.format, stats, () =>
          rows.length === 0
            ? `no workers of deployment ${deployment} answered`
            : [
                renderTable(
                  [
                    "service",
                    "id",
                    "region",
                    "subject",
                    "requests",
                    "errors",
                    "avg ms",
                    "in flight",
                  ],
                  rows,
                ),
                ...ingestTable(stats),
              ].join("\n\n"),
        );
      });
    });

  program
    .command("request")
    .description("send a JSON request to a subject and print the reply (every item of a stream)")
    .argument("<subject>")
    .argument("[json]", "request body as JSON", "{}")
    .option("-t, --timeout <ms>", "time budget in milliseconds", positiveInteger, 30_000)
    .option("--region <name|id>", "send it to this region (the region routers carry it there)")
    .option("--owner <id>", "send it to the region that owns this 64-bit id")
    .action(
      async (
        subject: string,
        json: string,
        options: { timeout: number; region?: string; owner?: string },
        command: Command,
      ) => {
        const body: unknown = JSON.parse(json);
        const routing = routingOptions(options);
        await withClient(command, async ({ client }) => {
          for await (const item of client.stream(subject, body, {
            timeoutMs: options.timeout,
            ...routing,
          })) {
            process.stdout.write(`${toJson(item)}\n`);
          }
        });
      },
    );

  program
    .command("ping")
    .description("round trip to the diagnostics service")
    .addOption(formatOption())
    .action(async (options: { format: string }, command: Command) => {
      await withClient(command, async (entente) => {
        const started = performance.now();
        const info = await entente.diagnostics.info();
        const ms = Number((performance.now() - started).toFixed(2));
        print(
          options.format,
          { ...info, roundTripMs: ms },
          () =>
            `${info.region} (region ${info.regionId}) host ${info.host} pid ${info.pid} ` +
            `node ${info.node} up ${durationText(info.uptimeMs)}, round trip ${ms} ms`,
        );
      });
    });

  registerQueryCommand(program);
  registerPromqlCommand(program);
  registerSqlCommand(program);
  registerGetCommand(program);
  registerPutCommand(program);
  registerBridgeCommand(program);
  registerRegionsCommands(program);
  registerSagaCommands(program);
  registerTiersCommands(program);
  registerTxCommands(program);

  const id = program.command("id").description("region-aware 64-bit ids");
  id.command("decode")
    .argument("<id>", "decimal id")
    .action((value: string) => {
      const { region, sequence } = decodeId(value);
      process.stdout.write(`region ${region}, sequence ${sequence}\n`);
    });
  id.command("encode")
    .argument("<region>", "region id, 1..65535")
    .argument("<sequence>", "48-bit sequence")
    .action((region: string, sequence: string) => {
      process.stdout.write(`${encodeId(Number(region), BigInt(sequence))}\n`);
    });

  return program;
}

/** The version of @entente/client, read where the package's manifest sits next to src or dist. */
function clientVersion(): string {
  const manifest = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
}

/** Milliseconds as a person says them: `3m12s`, `2h5m`, `4d3h`, `850ms`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const total = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(total / 86_400), "d"],
    [Math.floor(total / 3600) % 24, "h"],
    [Math.floor(total / 60) % 60, "m"],
    [total % 60, "s"],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  // The two largest units are enough to read how long a worker has been up.
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join("");
}

interface StatsResponse {
  name: string;
  id: string;
  metadata?: Record<string, string>;
  endpoints: Array<{
    subject: string;
    num_requests: number;
    num_errors: number;
    average_processing_time: number;
    data?: { in_flight?: number; ingest?: Record<string, IngestFigures> };
  }>;
}

/** Each worker's ingest per instance (service figures repeat on every endpoint: one is read). */
function ingestTable(stats: StatsResponse[]): string[] {
  const rows = stats.flatMap((s) =>
    Object.entries(s.endpoints[0]?.data?.ingest ?? {}).map(([instance, f]) => [
      s.name,
      s.id,
      instance,
      f.accepted,
      f.rejected,
      f.points,
      f.deadLettered,
      f.lastDeadLetter
        ? `#${f.lastDeadLetter.sequence} ${f.lastDeadLetter.reason.slice(0, 80)}`
        : "",
    ]),
  );
  if (rows.length === 0) return [];
  const columns = ["service", "id", "instance", "accepted", "rejected", "stored", "dead-lettered"];
  return [renderTable([...columns, "last dead letter"], rows)];
}

/** Runs a command line; failures are printed as one line and the exit code set to 1. */
export async function main(argv: string[], program: Command = buildProgram()): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`entente: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}

/** A worker of `deployment`; one that names none is of the default deployment. */
function inDeployment(metadata: Record<string, string> | undefined, deployment: string): boolean {
  return (metadata?.deployment ?? DEFAULT_DEPLOYMENT) === deployment;
}

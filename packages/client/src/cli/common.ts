/** What every subcommand shares: the configuration, a short-lived client, output formats. */
import { readFileSync } from "node:fs";
import { toJson } from "@entente/protocol";
import { connectionOptions, EntenteClient, type LoadedConfig, loadConfig } from "@entente/runtime";
import { connect } from "@nats-io/transport-node";
import { type Command, InvalidArgumentError, Option } from "commander";
import { Entente } from "../entente.ts";

interface GlobalOptions {
  config?: string;
}

export function configOf(command: Command): LoadedConfig {
  const { config } = command.optsWithGlobals<GlobalOptions>();
  return loadConfig({ file: config });
}

/**
 * A short-lived connection for one command, found and authenticated the same way a worker's is
 * (credentials, TLS, and the inbox prefix that NATS permissions may require).
 */
export async function withClient<T>(
  command: Command,
  run: (entente: Entente, config: LoadedConfig) => Promise<T>,
): Promise<T> {
  const config = configOf(command);
  const nc = await connect({
    ...connectionOptions(config.config.nats, "entente cli"),
    name: "entente cli",
    // Unlike a worker, a command gives up when no server answers instead of waiting for one.
    waitOnFirstConnect: false,
    maxReconnectAttempts: 10,
  });
  try {
    return await run(
      new Entente(
        new EntenteClient(nc, {
          region: config.config.region.name,
          regionId: config.config.region.id,
          deployment: config.config.deployment,
        }),
        { deployment: config.config.deployment },
      ),
      config,
    );
  } finally {
    await nc.close();
  }
}

export function print(format: string, value: unknown, table: () => string): void {
  process.stdout.write(`${format === "json" ? toJson(value) : table()}\n`);
}

export const formatOption = () =>
  new Option("--format <format>", "output format").choices(["table", "json"]).default("table");

/** Parses an option that must be a whole number of at least 1, so `--limit abc` fails here. */
export function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(
      `expected a whole number of at least 1, got ${JSON.stringify(value)}`,
    );
  }
  return parsed;
}

/** A JSON argument given inline or as `@file`, as the command line takes definitions. */
export function readJsonArgument(text: string, what: string): unknown {
  const source = text.startsWith("@") ? readFileSync(text.slice(1), "utf8") : text;
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

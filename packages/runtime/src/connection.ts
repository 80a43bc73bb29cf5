import { readFileSync } from "node:fs";
import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { NatsSettings } from "./config/schema.ts";
import type { Logger } from "./logger.ts";

export interface ConnectOptions {
  /** Shown in the server's monitoring, e.g. `entente query-federation`. */
  name: string;
  logger?: Logger;
}

/** The nats.js options a worker connects with: reconnect for ever, cheap requests. */
export function connectionOptions(settings: NatsSettings, name: string): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: settings.servers ?? [],
    name: settings.name ?? name,
    maxReconnectAttempts: settings.maxReconnectAttempts,
    reconnectTimeWait: settings.reconnectTimeWaitMs,
    // A worker may start before its server: keep trying instead of failing at boot.
    waitOnFirstConnect: true,
    // nats.js builds an Error with a stack per request otherwise; it costs a third of throughput.
    noAsyncTraces: true,
  };
  if (settings.user !== undefined) options.user = settings.user;
  if (settings.pass !== undefined) options.pass = settings.pass;
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.inboxPrefix !== undefined) options.inboxPrefix = settings.inboxPrefix;
  if (settings.credsFile !== undefined) {
    const file = settings.credsFile;
    options.authenticator = credsAuthenticator(() => readFileSync(file));
  }
  if (settings.tls !== undefined) options.tls = { ...settings.tls };
  return options;
}

export async function connectNats(
  settings: NatsSettings,
  { name, logger }: ConnectOptions,
): Promise<NatsConnection> {
  const nc = await connect(connectionOptions(settings, name));
  logger?.info({ server: nc.getServer() }, "connected to NATS");
  if (logger) void logStatus(nc, logger);
  return nc;
}

async function logStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case "disconnect":
        logger.warn({ server: status.server }, "disconnected from NATS");
        break;
      case "reconnect":
        logger.info({ server: status.server }, "reconnected to NATS");
        break;
      case "error":
        logger.error({ err: status.error }, "NATS error");
        break;
      case "slowConsumer":
        logger.warn({ subject: status.sub.getSubject() }, "slow consumer: messages dropped");
        break;
      default:
        break;
    }
  }
}

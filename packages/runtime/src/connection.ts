import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Authenticator,
  type ConnectionOptions,
  credsAuthenticator,
  errors,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { NatsSettings } from "./config/schema.ts";
import { resolveSecret, type SecretReference } from "./config/secret.ts";
import type { Logger } from "./logger.ts";

export interface ConnectOptions {
  /** Shown in the server's monitoring, e.g. `entente query-federation`. */
  name: string;
  logger?: Logger;
  /**
   * While NATS cannot be reached (before the first connection or after losing it), a warning is
   * repeated this often, with the servers tried and the last error; default 5 s.
   */
  waitLogIntervalMs?: number;
}

const WAIT_LOG_INTERVAL_MS = 5_000;

/**
 * How a process proves who it is to NATS and checks the server: user and password, token, NKey
 * seed file, credentials file, TLS (mutual with a client certificate), and the inbox prefix its
 * permissions allow. Workers, the command line and the broker bridge's own connections all go
 * through `natsAuthOptions`.
 */
export interface NatsAuthSettings {
  user?: string | undefined;
  /** Already read, or still a reference (bridge endpoints are read when they connect). */
  pass?: SecretReference | undefined;
  token?: SecretReference | undefined;
  nkeySeedFile?: string | undefined;
  credsFile?: string | undefined;
  /** Reply inboxes under this prefix: permissions that name it need it on every connection. */
  inboxPrefix?: string | undefined;
  tls?:
    | {
        caFile?: string | undefined;
        certFile?: string | undefined;
        keyFile?: string | undefined;
      }
    | undefined;
}

export type NatsAuthOptions = Pick<
  ConnectionOptions,
  "user" | "pass" | "token" | "authenticator" | "tls" | "inboxPrefix"
>;

/**
 * The nats.js options for `settings`' credentials and TLS. Secret references are read now (a
 * `SecretError` names what is missing); files of seeds and credentials are read at each
 * (re)connection, so a rotated file is picked up.
 */
export function natsAuthOptions(
  settings: NatsAuthSettings,
  env: NodeJS.ProcessEnv = process.env,
): NatsAuthOptions {
  const options: NatsAuthOptions = {};
  const authenticators: Authenticator[] = [];
  if (settings.user !== undefined) options.user = settings.user;
  if (settings.pass !== undefined) options.pass = resolveSecret(settings.pass, env);
  if (settings.token !== undefined) options.token = resolveSecret(settings.token, env);
  if (settings.nkeySeedFile !== undefined) {
    const file = settings.nkeySeedFile;
    authenticators.push(nkeyAuthenticator(() => readSeed(file)));
  }
  if (settings.credsFile !== undefined) {
    const file = settings.credsFile;
    authenticators.push(credsAuthenticator(() => readFileSync(file)));
  }
  if (settings.inboxPrefix !== undefined) options.inboxPrefix = settings.inboxPrefix;
  if (authenticators.length === 1) options.authenticator = authenticators[0];
  else if (authenticators.length > 1) options.authenticator = authenticators;
  if (settings.tls !== undefined) {
    const tls: TlsOptions = {};
    const { caFile, certFile, keyFile } = settings.tls;
    if (caFile !== undefined) tls.caFile = caFile;
    if (certFile !== undefined) tls.certFile = certFile;
    if (keyFile !== undefined) tls.keyFile = keyFile;
    options.tls = tls;
  }
  return options;
}

/** The seed without surrounding whitespace: seed files usually end in a newline. */
function readSeed(file: string): Uint8Array {
  return new TextEncoder().encode(readFileSync(file, "utf8").trim());
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
    ...natsAuthOptions(settings),
  };
  return options;
}

/** A server list fit for logs: passwords and tokens in URLs (`nats://u:p@host`) masked. */
export function redactServers(servers: string): string {
  return servers.replace(/(\/\/)[^/@\s,]*@/g, "$1***@");
}

/**
 * Connects, waiting for ever for a server to answer (a worker may start before NATS), and says
 * so: `connecting to NATS at …` at once, a warning with the last error when the first attempt
 * fails and again every `waitLogIntervalMs` while none succeeds, then `connected to NATS`.
 * Once connected, disconnections and reconnections are logged too.
 */
export async function connectNats(
  settings: NatsSettings,
  { name, logger, waitLogIntervalMs = WAIT_LOG_INTERVAL_MS }: ConnectOptions,
): Promise<NatsConnection> {
  const options = connectionOptions(settings, name);
  const servers = serverList(options);
  logger?.info({ servers }, `connecting to NATS at ${servers}`);
  const nc = await firstConnect(options, servers, logger, waitLogIntervalMs);
  logger?.info({ server: nc.getServer() }, `connected to NATS at ${nc.getServer()}`);
  if (logger) void logStatus(nc, servers, logger, waitLogIntervalMs);
  return nc;
}

function serverList(options: ConnectionOptions): string {
  const servers = [options.servers ?? []].flat();
  return redactServers(servers.length > 0 ? servers.join(", ") : "127.0.0.1:4222");
}

/**
 * nats.js's own `waitOnFirstConnect` retries silently: its status events start only once a
 * connection exists, and the dial errors are never surfaced. So the first connection is dialled
 * here, one round over the servers at a time, to report why it fails.
 */
async function firstConnect(
  options: ConnectionOptions,
  servers: string,
  logger: Logger | undefined,
  intervalMs: number,
): Promise<NatsConnection> {
  const started = Date.now();
  const retryMs = Math.max(options.reconnectTimeWait ?? 1000, 10);
  let attempts = 0;
  let lastWarned: number | undefined;
  for (;;) {
    attempts++;
    try {
      return await connect({ ...options, waitOnFirstConnect: false });
    } catch (err) {
      // Bad options never get better by waiting.
      if (err instanceof errors.InvalidArgumentError) throw err;
      const now = Date.now();
      if (lastWarned === undefined || now - lastWarned >= intervalMs) {
        lastWarned = now;
        const waitedS = Math.round((now - started) / 1000);
        logger?.warn(
          { servers, attempts, waitedS, err: describeError(err) },
          attempts === 1
            ? `cannot reach NATS at ${servers}: ${describeError(err)}; retrying until it answers`
            : `still waiting for NATS at ${servers} (${waitedS} s, ${attempts} attempts): ${describeError(err)}`,
        );
      }
    }
    await sleep(retryMs);
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== err.message ? `${err.message} (${cause})` : err.message;
}

async function logStatus(
  nc: NatsConnection,
  servers: string,
  logger: Logger,
  intervalMs: number,
): Promise<void> {
  // While disconnected nats.js reports each attempt ("reconnecting"), far too often to log;
  // a timer repeats the warning instead, until the connection is back or closed.
  let down: { since: number; timer: NodeJS.Timeout } | undefined;
  const up = () => {
    if (down) clearInterval(down.timer);
    down = undefined;
  };
  try {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect": {
          logger.warn(
            { server: status.server },
            `disconnected from NATS at ${status.server}; reconnecting to ${servers}`,
          );
          if (!down) {
            const since = Date.now();
            const timer = setInterval(() => {
              const waitedS = Math.round((Date.now() - since) / 1000);
              logger.warn(
                { servers, waitedS },
                `still reconnecting to NATS at ${servers} (${waitedS} s)`,
              );
            }, intervalMs);
            timer.unref();
            down = { since, timer };
          }
          break;
        }
        case "reconnect":
          up();
          logger.info({ server: status.server }, `reconnected to NATS at ${status.server}`);
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
  } finally {
    up();
  }
}

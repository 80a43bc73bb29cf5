import { readFileSync } from "node:fs";
import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { SideEvents } from "./types.ts";

export interface NatsEndpoint {
  url: string;
  id?: string | undefined;
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  credsFile?: string | undefined;
  tls?:
    | { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined }
    | undefined;
}

/** A link's own connection to one side: reconnects for ever, pings at the heartbeat. */
export async function connectSide(
  endpoint: NatsEndpoint,
  options: { name: string; heartbeatSeconds: number; reconnectDelayMs: number },
): Promise<NatsConnection> {
  const settings: ConnectionOptions = {
    servers: endpoint.url.split(",").map((s) => s.trim()),
    name: options.name,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectDelayMs,
    reconnectJitter: Math.ceil(options.reconnectDelayMs / 2),
    pingInterval: options.heartbeatSeconds * 1000,
    maxPingOut: 2,
    timeout: 5000,
  };
  if (endpoint.user !== undefined) settings.user = endpoint.user;
  if (endpoint.pass !== undefined) settings.pass = endpoint.pass;
  if (endpoint.token !== undefined) settings.token = endpoint.token;
  if (endpoint.credsFile !== undefined) {
    const file = endpoint.credsFile;
    settings.authenticator = credsAuthenticator(() => readFileSync(file));
  }
  if (endpoint.tls !== undefined) settings.tls = { ...endpoint.tls };
  return connect(settings);
}

/** The broker's identity on message paths: configured, else cluster name, else server name. */
export function natsBrokerId(nc: NatsConnection, configured: string | undefined): string {
  const info = nc.info;
  return configured ?? info?.cluster ?? info?.server_name ?? info?.server_id ?? "nats";
}

/** Turns connection status changes into side events until the connection closes. */
export function watchConnection(nc: NatsConnection, events: SideEvents, what: string): void {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") events.down(`${what} disconnected from ${status.server}`);
      else if (status.type === "reconnect") events.up();
    }
  })();
  void nc.closed().then((err) => {
    if (err) events.failed(`${what} connection closed: ${err.message}`);
  });
}

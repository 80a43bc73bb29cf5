import { readFileSync } from "node:fs";
import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type BackoffPolicy, reconnectDelay, withJitter } from "../backoff.ts";
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

/**
 * A link's own connection to one side: reconnects for ever, backing off like the link itself,
 * and pings at the heartbeat.
 */
export async function connectSide(
  endpoint: NatsEndpoint,
  options: { name: string; heartbeatSeconds: number; backoff: BackoffPolicy },
): Promise<NatsConnection> {
  // Dial attempts since the connection was last up. The client asks for the wait again while it
  // waits, so the answer depends on attempts made, not on how often it was asked.
  let attempts = 0;
  const settings: ConnectionOptions = {
    servers: endpoint.url.split(",").map((s) => s.trim()),
    name: options.name,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectDelayHandler: () =>
      withJitter(reconnectDelay(options.backoff, Math.max(1, attempts)), Math.random()),
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
  const nc = await connect(settings);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "reconnecting") attempts++;
      else if (status.type === "reconnect") attempts = 0;
    }
  })();
  return nc;
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

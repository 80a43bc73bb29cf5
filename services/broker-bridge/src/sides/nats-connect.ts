import { type NatsAuthSettings, natsAuthOptions } from "@entente/runtime";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type BackoffPolicy, reconnectDelay, withJitter } from "../backoff.ts";
import type { SideEvents } from "./types.ts";

/** A link side's server and credentials, taken the way a worker's own connection takes them. */
export interface NatsEndpoint extends NatsAuthSettings {
  url: string;
  id?: string | undefined;
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
    // Secret references (`{ env }`, `{ file }`) are read here, on the worker that runs the link.
    ...natsAuthOptions(endpoint),
  };
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

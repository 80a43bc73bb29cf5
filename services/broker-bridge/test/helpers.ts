/** Shared by the bridge suites: a bridge worker in this process, statuses, counting messages. */
import { jsonCodec, type LinkStatus } from "@entente/protocol";
import {
  createLogger,
  EntenteClient,
  HostedService,
  type Logger,
  loadConfig,
} from "@entente/runtime";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { brokerBridgeService } from "../src/index.ts";

export async function connectTo(url: string): Promise<NatsConnection> {
  return connect({
    servers: url,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 200,
  });
}

/** A bridge worker hosted in this process (several may run side by side). */
export interface BridgeHost {
  client: EntenteClient;
  stop(): Promise<void>;
}

/**
 * Hosts the bridge service on its own connection to `natsUrl` with the given `bridge:` section;
 * its lines go to `logger` when one is given.
 */
export async function startBridge(
  natsUrl: string,
  bridge: Record<string, unknown>,
  options: { logger?: Logger } = {},
): Promise<BridgeHost> {
  const text = JSON.stringify({
    nats: { servers: [natsUrl], reconnectTimeWaitMs: 200 },
    runtime: { shutdownGraceMs: 5000 },
    bridge,
  });
  const config = loadConfig({ text, env: {} });
  const logger =
    options.logger ??
    createLogger({
      service: "entente-broker-bridge",
      level: (process.env.ENTENTE_TEST_LOG_LEVEL ?? "warn") as "warn",
    });
  const nc = await connectTo(natsUrl);
  const client = new EntenteClient(nc, { region: config.config.region.name });
  const hosted = await HostedService.start(brokerBridgeService, { nc, config, client, logger });
  let stopped: Promise<void> | undefined;
  return {
    client,
    stop: () => {
      stopped ??= (async () => {
        await hosted.stop(5000);
        await nc.drain();
      })();
      return stopped;
    },
  };
}

/** Resolves with the first status of `link` that satisfies `match`, or fails at the deadline. */
export function waitForStatus(
  nc: NatsConnection,
  link: string,
  match: (status: LinkStatus) => boolean,
  timeoutMs = 30_000,
): Promise<LinkStatus> {
  return new Promise((resolve, reject) => {
    let last: LinkStatus | undefined;
    const sub = nc.subscribe(`entente.bridge.status.${link}`, {
      callback: (_err, msg) => {
        const status = jsonCodec.decode(msg.data) as LinkStatus;
        last = status;
        if (match(status)) {
          clearTimeout(timer);
          sub.unsubscribe();
          resolve(status);
        }
      },
    });
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(
        new Error(
          `link ${link}: no matching status within ${timeoutMs} ms; last ${JSON.stringify(last)}`,
        ),
      );
    }, timeoutMs);
  });
}

/** Polls `check` until it returns true, or fails at the deadline with `what`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    // A check against a server that is restarting may fail before it reconnects: try again.
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cause = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
  throw new Error(`not within ${timeoutMs} ms: ${what}${cause}`);
}

/** Publishes `count` messages `<subject>` with body = index, headers carrying the index too. */
export async function publishNumbered(
  nc: NatsConnection,
  subject: (i: number) => string,
  count: number,
  options: { from?: number; bodyBytes?: number } = {},
): Promise<void> {
  const from = options.from ?? 0;
  const pad = options.bodyBytes ?? 0;
  for (let i = from; i < from + count; i++) {
    const h = headers();
    h.set("x-index", String(i));
    h.append("x-multi", "a");
    h.append("x-multi", "b");
    const body = new Uint8Array(Math.max(pad, 12));
    new TextEncoder().encodeInto(String(i).padStart(12, "0"), body);
    nc.publish(subject(i), body, { headers: h });
    if (i % 500 === 499) await nc.flush();
  }
  await nc.flush();
}

/** Reads every message of a stream: their indexes (from the body) and a sample of headers. */
export async function readStream(nc: NatsConnection, stream: string) {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const total = info.state.messages;
  const consumer = await jetstream(nc).consumers.get(stream);
  const indexes: number[] = [];
  const headerSamples: Array<Record<string, string[]>> = [];
  if (total === 0) return { indexes, headerSamples, total };
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const m of messages) {
    indexes.push(Number(new TextDecoder().decode(m.data.subarray(0, 12))));
    if (headerSamples.length < 5 && m.headers) {
      const h: Record<string, string[]> = {};
      for (const [k, v] of m.headers) h[k] = v;
      headerSamples.push(h);
    }
    if (m.info.pending === 0) break;
  }
  return { indexes, headerSamples, total };
}

export function duplicatesAndMissing(indexes: number[], expected: number) {
  const seen = new Set<number>();
  let duplicates = 0;
  for (const i of indexes) {
    if (seen.has(i)) duplicates++;
    seen.add(i);
  }
  let missing = 0;
  for (let i = 0; i < expected; i++) if (!seen.has(i)) missing++;
  return { duplicates, missing };
}

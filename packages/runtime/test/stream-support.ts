import { codecFor, EntenteError, HEADERS } from "@entente/protocol";
import { natsServer } from "@entente/testkit";
import { createInbox, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { expect } from "vitest";
import { sendReply, streamRequestOptions } from "../src/stream/sender.ts";
import type { ReplyBody, SendReplyOptions, SendReplyResult } from "../src/stream/types.ts";

/** Shared helpers for the batched-reply suites: real NATS, one connection per side. */

export interface Sides {
  server: NatsConnection;
  client: NatsConnection;
  /** A third connection that watches reply inboxes as any NATS client would. */
  observer: NatsConnection;
  close(): Promise<void>;
}

/** Three connections to a NATS server the test kit found (env URL, else its own nats-server). */
export async function connectSides(): Promise<Sides> {
  const nats = await natsServer();
  const open = () => connect({ servers: nats.url, name: "entente-stream-test" });
  const [server, client, observer] = await Promise.all([open(), open(), open()]);
  return {
    server,
    client,
    observer,
    async close() {
      await Promise.all(
        [server, client, observer].map((nc) => (nc.isClosed() ? undefined : nc.close())),
      );
      await nats.stop();
    },
  };
}

export function uniqueSubject(what: string): string {
  return `test.stream.${what}.${createInbox("x").split(".")[1]}`;
}

export interface Served {
  /** Results of every reply sent, in the order the requests arrived. */
  results: Promise<SendReplyResult>[];
  stop(): void;
}

/**
 * Answers requests on `subject` the way the service host does, with the body `handler` gives.
 * Resolves once the server knows the subscription, so no request can miss it.
 */
export async function serve(
  nc: NatsConnection,
  subject: string,
  handler: (msg: Msg) => ReplyBody,
  options: Partial<SendReplyOptions> = {},
): Promise<Served> {
  const results: Promise<SendReplyResult>[] = [];
  const sub = nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      const codec = codecFor(msg.headers?.get(HEADERS.contentType));
      results.push(
        sendReply(nc, msg.reply, handler(msg), {
          codec,
          ...streamRequestOptions(msg.headers),
          ...options,
        }),
      );
    },
  });
  await nc.flush();
  return { results, stop: () => sub.unsubscribe() };
}

/** Every message that reaches inboxes under `prefix`, seen by an independent subscriber. */
export function watchInboxes(nc: NatsConnection, prefix: string): Msg[] {
  const seen: Msg[] = [];
  nc.subscribe(`${prefix}.>`, {
    callback: (err, msg) => {
      if (!err) seen.push(msg);
    },
  });
  return seen;
}

export function uniquePrefix(): string {
  return `_TEST.${createInbox("p").split(".")[1]}`;
}

/** Resolves once `predicate` holds, polling; for waiting on events, never for timing them. */
export async function until(predicate: () => boolean, what: string, limitMs = 20_000) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A deterministic, item-specific pattern, cheap to build and to check. */
const PATTERN = Uint8Array.from({ length: 64 * 1024 + 256 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

export function patternFor(index: number, length: number): Uint8Array {
  const offset = index % 256;
  if (length + offset <= PATTERN.length) return PATTERN.subarray(offset, offset + length);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 13 + index) & 0xff;
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** The EntenteError a promise rejects with; fails the test if it resolves or throws anything else. */
export async function failureOf(promise: Promise<unknown>): Promise<EntenteError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    return err as EntenteError;
  }
  throw new Error("expected a failure");
}

import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { randomToken } from "./random-token.ts";

type Handler = (err: Error | null, msg: Msg) => void;

/** 96 random bits per reply inbox. */
const INBOX_TOKEN_BYTES = 12;

export interface ReplyInbox {
  /** The subject replies to this request go to. */
  readonly subject: string;
  close(): void;
  readonly closed: boolean;
}

/**
 * The inbox prefix a connection was opened with (nats.js keeps its options on the connection),
 * so replies and control messages use the inboxes NATS permissions grant it.
 */
export function connectionInboxPrefix(nc: object): string | undefined {
  const options = (nc as { options?: { inboxPrefix?: unknown } }).options;
  const prefix = options?.inboxPrefix;
  return typeof prefix === "string" && prefix !== "" ? prefix : undefined;
}

/**
 * One wildcard subscription per connection carries the replies of every request it makes
 * (`<prefix>.<token>`), the way nats.js muxes its own requests. A subscription per request would
 * cost a SUB and an UNSUB at the server for each call — a third of small-request throughput.
 * Each request's token is random, not a counter: someone who reads one reply cannot tell where
 * the next one will go, and so cannot slip a forged reply in ahead of it.
 */
class InboxMux {
  readonly #prefix: string;
  readonly #handlers = new Map<string, Handler>();
  readonly #sub: Subscription;

  constructor(nc: Pick<NatsConnection, "subscribe">, inboxPrefix?: string) {
    this.#prefix = createInbox(inboxPrefix);
    this.#sub = nc.subscribe(`${this.#prefix}.*`, {
      callback: (err, msg) => {
        if (err) {
          for (const handler of [...this.#handlers.values()]) handler(err, msg);
          return;
        }
        this.#handlers.get(msg.subject)?.(null, msg);
      },
    });
  }

  get usable(): boolean {
    return !this.#sub.isClosed();
  }

  open(handler: Handler): ReplyInbox {
    const subject = `${this.#prefix}.${randomToken(INBOX_TOKEN_BYTES)}`;
    this.#handlers.set(subject, handler);
    const handlers = this.#handlers;
    return {
      subject,
      close: () => handlers.delete(subject),
      get closed() {
        return !handlers.has(subject);
      },
    };
  }
}

/** Per connection, one mux per inbox prefix (tests and tenants may ask for their own). */
const muxes = new WeakMap<object, Map<string, InboxMux>>();

/** A reply inbox on the connection's shared subscription; the connection's prefix by default. */
export function openReplyInbox(
  nc: Pick<NatsConnection, "subscribe">,
  handler: Handler,
  inboxPrefix = connectionInboxPrefix(nc),
): ReplyInbox {
  let byPrefix = muxes.get(nc);
  if (!byPrefix) {
    byPrefix = new Map();
    muxes.set(nc, byPrefix);
  }
  const key = inboxPrefix ?? "";
  let mux = byPrefix.get(key);
  if (!mux?.usable) {
    mux = new InboxMux(nc, inboxPrefix);
    byPrefix.set(key, mux);
  }
  return mux.open(handler);
}

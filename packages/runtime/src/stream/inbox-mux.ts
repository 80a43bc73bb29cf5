import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import { randomToken } from "./random-token.ts";

/** Whoever waits on an inbox: called for each message to it, or with the subscription's error. */
export interface InboxListener {
  onInbox(err: Error | null, msg: Msg): void;
}

/** 96 random bits per reply inbox. */
const INBOX_TOKEN_BYTES = 12;

export interface ReplyInbox {
  /** The subject replies to this request go to. */
  readonly subject: string;
  /** Stops delivering to its listener; later messages to it are dropped. */
  close(): void;
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
  readonly #listeners = new Map<string, InboxListener>();
  readonly #sub: Subscription;

  constructor(nc: Pick<NatsConnection, "subscribe">, inboxPrefix?: string) {
    this.#prefix = createInbox(inboxPrefix);
    this.#sub = nc.subscribe(`${this.#prefix}.*`, {
      callback: (err, msg) => {
        if (err) {
          for (const listener of [...this.#listeners.values()]) listener.onInbox(err, msg);
          return;
        }
        this.#listeners.get(msg.subject)?.onInbox(null, msg);
      },
    });
  }

  get usable(): boolean {
    return !this.#sub.isClosed();
  }

  open(listener: InboxListener): ReplyInbox {
    const subject = `${this.#prefix}.${randomToken(INBOX_TOKEN_BYTES)}`;
    this.#listeners.set(subject, listener);
    return new OpenInbox(subject, this.#listeners);
  }
}

class OpenInbox implements ReplyInbox {
  readonly subject: string;
  readonly #listeners: Map<string, InboxListener>;

  constructor(subject: string, listeners: Map<string, InboxListener>) {
    this.subject = subject;
    this.#listeners = listeners;
  }

  close(): void {
    this.#listeners.delete(this.subject);
  }
}

/** Per connection, one mux per inbox prefix (tests and tenants may ask for their own). */
const muxes = new WeakMap<object, Map<string, InboxMux>>();

/** A reply inbox on the connection's shared subscription; the connection's prefix by default. */
export function openReplyInbox(
  nc: Pick<NatsConnection, "subscribe">,
  listener: InboxListener,
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
  return mux.open(listener);
}

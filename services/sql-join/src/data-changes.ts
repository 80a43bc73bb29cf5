/**
 * An owner region's change stream: every row written through `entente.data.put` is published
 * here after its commit, and `entente.data.changes` reads it back by sequence for the regions
 * that hold replicas. One JetStream stream per region, on that region's own server, bounded by
 * age and bytes.
 */
import {
  type DataChange,
  type DataChangesReply,
  EntenteError,
  msgpackCodec,
  streamNameOf,
} from "@entente/protocol";
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import type { DataChangesSettings } from "./config.ts";

/** A row as written, to be published. */
export interface RowChange {
  table: string;
  id: bigint;
  columns: string[];
  row: unknown[];
  at: number;
}

/** Attempts to publish one change before the put gives up and says so. */
const PUBLISH_ATTEMPTS = 3;

/** How long a feed read waits for messages the stream's state says are there. */
const FETCH_EXPIRES_MS = 2_000;

const NANOS_PER_MS = 1_000_000;

/** About this many bytes of changes at most in one feed reply (NATS' default payload is 1 MiB). */
const MAX_FEED_REPLY_BYTES = 256 * 1024;

export class ChangeStream {
  readonly name: string;
  readonly subject: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  private constructor(
    names: { name: string; subject: string },
    js: JetStreamClient,
    jsm: JetStreamManager,
  ) {
    this.name = names.name;
    this.subject = names.subject;
    this.#js = js;
    this.#jsm = jsm;
  }

  /** Creates the stream, or brings an existing one to the settings. */
  static async open(
    nc: NatsConnection,
    options: { deployment: string; subject: string; settings: DataChangesSettings },
  ): Promise<ChangeStream> {
    const jsm = await jetstreamManager(nc);
    const name = streamNameOf(options.deployment, "data_changes");
    const config = {
      name,
      subjects: [options.subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: options.settings.maxAgeMs * NANOS_PER_MS,
      max_bytes: options.settings.maxBytes,
      // Long enough that a put retried after a lost acknowledgement is still recognised.
      duplicate_window: 2 * 60 * 1000 * NANOS_PER_MS,
      description: "Entente: rows written through entente.data.put in this region",
    };
    const existing = await jsm.streams.info(name).catch((err: unknown) => {
      if (/not found/i.test(String((err as Error).message))) return undefined;
      throw err;
    });
    if (existing === undefined) await jsm.streams.add(config);
    else if (
      existing.config.max_age !== config.max_age ||
      existing.config.max_bytes !== config.max_bytes
    ) {
      await jsm.streams.update(name, { ...existing.config, ...config });
    }
    return new ChangeStream({ name, subject: options.subject }, jetstream(nc), jsm);
  }

  /**
   * Publishes each change with a message id made of `putId` and the row's id, so a retry
   * stores it once; resolves once the stream has stored them all.
   */
  async publish(changes: readonly RowChange[], putId: string): Promise<void> {
    await Promise.all(
      changes.map(async (change) => {
        const body = msgpackCodec.encode(change);
        const msgID = `${putId}:${change.table}:${change.id}`;
        let failure: unknown;
        for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
          try {
            await this.#js.publish(this.subject, body, { msgID });
            return;
          } catch (err) {
            failure = err;
          }
        }
        throw failure;
      }),
    );
  }

  /**
   * Up to `limit` changes after sequence `after` (fewer when they pass `MAX_FEED_REPLY_BYTES`),
   * with the stream's first and last sequence.
   */
  async read(after: number, limit: number): Promise<DataChangesReply> {
    const { state } = await this.#jsm.streams.info(this.name);
    // With no message held, first_seq is the next sequence (or 0 for a stream never written).
    const first = state.first_seq;
    const head = state.last_seq;
    const start = Math.max(after + 1, state.first_seq);
    const count = Math.min(limit, head - start + 1);
    if (state.messages === 0 || count <= 0) return { changes: [], first, head };
    const consumer = await this.#js.consumers.get(this.name, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    const changes: DataChange[] = [];
    try {
      const messages = await consumer.fetch({ max_messages: count, expires: FETCH_EXPIRES_MS });
      let bytes = 0;
      for await (const m of messages) {
        changes.push(changeOf(m.seq, msgpackCodec.decode(m.data)));
        bytes += m.data.length;
        // A reply must fit a NATS message: the reader asks again from where this one ends.
        if (changes.length >= count || bytes >= MAX_FEED_REPLY_BYTES) break;
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
    return { changes, first, head };
  }
}

/** A stored change as the feed answers it; ids become decimal strings. */
function changeOf(seq: number, body: unknown): DataChange {
  const change = body as Partial<RowChange> | undefined;
  if (
    typeof change?.table !== "string" ||
    change.id === undefined ||
    !Array.isArray(change.columns) ||
    !Array.isArray(change.row)
  ) {
    throw new EntenteError("INTERNAL", `change stream message ${seq} is not a change`);
  }
  return {
    seq,
    table: change.table,
    id: String(change.id),
    columns: change.columns,
    row: change.row,
    at: typeof change.at === "number" ? change.at : 0,
  };
}

/**
 * Sagas in a JetStream KV bucket (`<deployment>_sagas`), one key per saga id. Every write is a
 * compare-and-set on the revision the writer last saw, so two workers can never both move one
 * saga on: whoever writes second fails and stops. The record names its owner and how long its
 * lease lasts; a worker that sees a lease expired takes the saga over with the same
 * compare-and-set, so exactly one of several scanning workers wins it.
 */
import {
  bucketNameOf,
  EntenteError,
  FINAL_SAGA_STATES,
  msgpackCodec,
  type SagaState,
} from "@entente/protocol";
import { isKvConflict } from "@entente/runtime";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { SagaData } from "./machine.ts";

export interface SagaRecord extends SagaData {
  /** The worker running the saga; absent once it ended or was let go. */
  owner?: string;
  /** Until when the owner holds it (ms since the epoch, the owner's clock); 0: nobody. */
  leaseUntil: number;
  /** The W3C trace parent of the saga's trace, so a resumed saga stays one trace. */
  traceparent?: string;
}

export interface Held {
  record: SagaRecord;
  revision: number;
}

export const isFinal = (state: SagaState): boolean => FINAL_SAGA_STATES.includes(state);

/** The lease was taken by another worker (or the saga is gone): stop acting on it. */
export class LeaseLost extends Error {
  constructor(id: string, cause: unknown) {
    super(`saga ${id}: lease lost (${cause instanceof Error ? cause.message : String(cause)})`);
    this.name = "LeaseLost";
  }
}

export class SagaStore {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;

  private constructor(kv: KV, jsm: JetStreamManager, bucket: string) {
    this.#kv = kv;
    this.#jsm = jsm;
    this.#bucket = bucket;
  }

  static async open(nc: NatsConnection, deployment: string): Promise<SagaStore> {
    const bucket = bucketNameOf(deployment, "sagas");
    const kv = await new Kvm(jetstream(nc)).create(bucket, { history: 1 });
    return new SagaStore(kv, await jetstreamManager(nc), bucket);
  }

  /** Writes a new saga; undefined when the id is taken. */
  async create(record: SagaRecord): Promise<number | undefined> {
    try {
      return await this.#kv.create(record.id, msgpackCodec.encode(record));
    } catch (err) {
      if (isKvConflict(err) && (await this.get(record.id))) return undefined;
      throw err;
    }
  }

  async get(id: string): Promise<Held | undefined> {
    const entry = await this.#kv.get(id);
    if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
    return { record: msgpackCodec.decode(entry.value) as SagaRecord, revision: entry.revision };
  }

  /**
   * Replaces the record if `revision` is still the latest; LeaseLost when another worker wrote
   * it since. Any other failure (a timeout, a reconnect) is thrown as it is.
   */
  async update(record: SagaRecord, revision: number): Promise<number> {
    try {
      return await this.#kv.update(record.id, msgpackCodec.encode(record), revision);
    } catch (err) {
      throw isKvConflict(err) ? new LeaseLost(record.id, err) : err;
    }
  }

  /**
   * Every saga id, from the bucket's stream in one request. `kv.keys()` reads the keys through a
   * consumer that, while other workers write, can miss its last message and wait for an idle
   * heartbeat instead; the stream's subject counts have no such race.
   */
  async ids(): Promise<string[]> {
    const prefix = `$KV.${this.#bucket}.`;
    const info = await this.#jsm.streams.info(`KV_${this.#bucket}`, {
      subjects_filter: `${prefix}>`,
    });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** Every saga, in no particular order. */
  async *all(): AsyncGenerator<Held> {
    for (const key of await this.ids()) {
      const held = await this.get(key);
      if (held) yield held;
    }
  }
}

/**
 * One worker's hold on one saga: every save goes through it, one at a time, carrying the
 * revision of the last and renewing the lease. `validUntil` is how long this worker may be sure
 * the lease is still its own: a save sent at t keeps it until t + leaseMs.
 */
export class SagaLease {
  readonly id: string;
  readonly #store: SagaStore;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #traceparent: string | undefined;
  #revision: number;
  #last: SagaData;
  #queue: Promise<unknown> = Promise.resolve();
  #lost: LeaseLost | undefined;
  validUntil: number;

  constructor(
    store: SagaStore,
    held: Held,
    options: { owner: string; leaseMs: number; sentAt: number },
  ) {
    this.id = held.record.id;
    this.#store = store;
    this.#owner = options.owner;
    this.#leaseMs = options.leaseMs;
    this.#revision = held.revision;
    this.#last = held.record;
    this.#traceparent = held.record.traceparent;
    this.validUntil = options.sentAt + options.leaseMs;
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Saves the saga's progress, renewing the lease; a final saga is let go of. */
  save(saga: SagaData): Promise<void> {
    return this.#write(saga, !isFinal(saga.state));
  }

  /** Writes the last saved progress again with a fresh lease, while a step runs long. */
  renew(): Promise<void> {
    return this.#write(undefined, true);
  }

  /** Lets the saga go (this worker stops): another worker may take it up at once. */
  release(): Promise<void> {
    return this.#write(undefined, false).catch(() => {});
  }

  /**
   * Queues a write of `given`, or — for a renewal or a release — of whatever was saved last
   * when its turn comes, so it never writes back progress older than a save queued before it.
   */
  #write(given: SagaData | undefined, holding: boolean): Promise<void> {
    const next = this.#queue.then(async () => {
      if (this.#lost) throw this.#lost;
      const saga = given ?? this.#last;
      // A renewal after the final save must not claim the ended saga again.
      const hold = holding && !isFinal(saga.state);
      const sentAt = Date.now();
      const record: SagaRecord = {
        ...stripLease(saga),
        leaseUntil: hold ? sentAt + this.#leaseMs : 0,
        ...(hold ? { owner: this.#owner } : {}),
        ...(this.#traceparent ? { traceparent: this.#traceparent } : {}),
      };
      try {
        this.#revision = await this.#store.update(record, this.#revision);
      } catch (err) {
        this.#lost = err instanceof LeaseLost ? err : new LeaseLost(this.id, err);
        throw this.#lost;
      }
      this.#last = saga;
      this.validUntil = hold ? sentAt + this.#leaseMs : 0;
    });
    this.#queue = next.catch(() => {});
    return next;
  }
}

/** The saga's own data, without the lease fields of a record it was read from. */
function stripLease(saga: SagaData): SagaData {
  const { owner: _o, leaseUntil: _l, traceparent: _t, ...data } = saga as SagaRecord;
  return data;
}

/** A record a worker may take over: under way, and nobody's lease still running. */
export function isAbandoned(record: SagaRecord, now: number): boolean {
  return !isFinal(record.state) && record.leaseUntil <= now;
}

/** Takes over an abandoned saga; undefined when another worker was quicker. */
export async function takeOver(
  store: SagaStore,
  held: Held,
  options: { owner: string; leaseMs: number },
): Promise<SagaLease | undefined> {
  const sentAt = Date.now();
  const record: SagaRecord = {
    ...held.record,
    owner: options.owner,
    leaseUntil: sentAt + options.leaseMs,
  };
  try {
    const revision = await store.update(record, held.revision);
    return new SagaLease(store, { record, revision }, { ...options, sentAt });
  } catch (err) {
    if (err instanceof LeaseLost) return undefined;
    throw err;
  }
}

export const notFound = (id: string) => new EntenteError("NOT_FOUND", `no saga with id "${id}"`);

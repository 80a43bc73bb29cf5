/**
 * Tier moves in a JetStream KV bucket (`<deployment>_tiers`), one key per lifecycle table. The
 * record holds the move under way (its machine's progress, saved before each act) and the last
 * finished one. Every write is a compare-and-set on the revision the writer last saw, and the
 * record names the worker holding the table and until when: only one worker moves a table at a
 * time, and a worker that finds the lease run out takes the table (and its move) over.
 */
import { bucketNameOf, msgpackCodec } from "@entente/protocol";
import { isKvConflict } from "@entente/runtime";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import { isFinalMove, type MoveData } from "./move-machine.ts";

export interface TierRecord {
  /** The logical table. */
  table: string;
  /** The move under way, as last saved. */
  running?: MoveData;
  /** The last move that finished (done or failed). */
  last?: MoveData;
  /**
   * The highest watermark a move of the table committed to cold (ISO text): a cold table that
   * is missing or holds less is not the one the moves wrote (another path, an unmounted volume).
   */
  watermark?: string;
  /** The worker holding the table; absent when nobody does. */
  owner?: string;
  /** Until when the owner holds it (ms since the epoch, the owner's clock); 0: nobody. */
  leaseUntil: number;
}

export interface HeldRecord {
  record: TierRecord;
  revision: number;
}

/** Another worker wrote the record since this one read it: stop acting on the table. */
export class TierLeaseLost extends Error {
  constructor(table: string, cause: unknown) {
    super(
      `tier table ${table}: lease lost (${cause instanceof Error ? cause.message : String(cause)})`,
    );
    this.name = "TierLeaseLost";
  }
}

export class TierStore {
  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  readonly #bucket: string;

  private constructor(kv: KV, jsm: JetStreamManager, bucket: string) {
    this.#kv = kv;
    this.#jsm = jsm;
    this.#bucket = bucket;
  }

  static async open(nc: NatsConnection, deployment: string): Promise<TierStore> {
    const bucket = bucketNameOf(deployment, "tiers");
    const kv = await new Kvm(jetstream(nc)).create(bucket, { history: 1 });
    return new TierStore(kv, await jetstreamManager(nc), bucket);
  }

  async get(table: string): Promise<HeldRecord | undefined> {
    const entry = await this.#kv.get(table);
    if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
    return { record: msgpackCodec.decode(entry.value) as TierRecord, revision: entry.revision };
  }

  /** Writes the table's first record; undefined when another worker wrote one first. */
  async create(record: TierRecord): Promise<number | undefined> {
    try {
      return await this.#kv.create(record.table, msgpackCodec.encode(record));
    } catch (err) {
      if (isKvConflict(err)) return undefined;
      throw err;
    }
  }

  /** Replaces the record if `revision` is still the latest; TierLeaseLost otherwise. */
  async update(record: TierRecord, revision: number): Promise<number> {
    try {
      return await this.#kv.update(record.table, msgpackCodec.encode(record), revision);
    } catch (err) {
      throw isKvConflict(err) ? new TierLeaseLost(record.table, err) : err;
    }
  }

  /** Every table with a record, from the bucket's stream in one request. */
  async tables(): Promise<string[]> {
    const prefix = `$KV.${this.#bucket}.`;
    const info = await this.#jsm.streams.info(`KV_${this.#bucket}`, {
      subjects_filter: `${prefix}>`,
    });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /**
   * Takes the table for `owner` unless another worker's lease still runs: creates its record or
   * claims the existing one with a compare-and-set, so of several workers trying at once one
   * wins. Undefined when the table is someone else's.
   */
  async acquire(
    table: string,
    options: { owner: string; leaseMs: number },
  ): Promise<TierLease | undefined> {
    const sentAt = Date.now();
    const held = await this.get(table);
    if (held === undefined) {
      const record: TierRecord = {
        table,
        owner: options.owner,
        leaseUntil: sentAt + options.leaseMs,
      };
      const revision = await this.create(record);
      return revision === undefined
        ? undefined
        : new TierLease(this, { record, revision }, { ...options, sentAt });
    }
    if (held.record.leaseUntil > sentAt && held.record.owner !== options.owner) return undefined;
    const record: TierRecord = {
      ...held.record,
      owner: options.owner,
      leaseUntil: sentAt + options.leaseMs,
    };
    try {
      const revision = await this.update(record, held.revision);
      return new TierLease(this, { record, revision }, { ...options, sentAt });
    } catch (err) {
      if (err instanceof TierLeaseLost) return undefined;
      throw err;
    }
  }
}

/**
 * One worker's hold on one table: every save goes through it, one at a time, carrying the
 * revision of the last and renewing the lease. `validUntil` is how long this worker may be sure
 * the lease is still its own: a save sent at t keeps it until t + leaseMs.
 */
export class TierLease {
  readonly table: string;
  readonly #store: TierStore;
  readonly #owner: string;
  readonly #leaseMs: number;
  #revision: number;
  #record: TierRecord;
  #queue: Promise<unknown> = Promise.resolve();
  #lost: TierLeaseLost | undefined;
  validUntil: number;

  constructor(
    store: TierStore,
    held: HeldRecord,
    options: { owner: string; leaseMs: number; sentAt: number },
  ) {
    this.table = held.record.table;
    this.#store = store;
    this.#owner = options.owner;
    this.#leaseMs = options.leaseMs;
    this.#revision = held.revision;
    this.#record = held.record;
    this.validUntil = options.sentAt + options.leaseMs;
  }

  /** The record as this worker last wrote it. */
  get record(): TierRecord {
    return this.#record;
  }

  get lost(): boolean {
    return this.#lost !== undefined;
  }

  /** Saves a move's progress, renewing the lease; a finished move becomes the last one. */
  save(move: MoveData): Promise<void> {
    const final = isFinalMove(move.state);
    return this.#write((record) => {
      const watermark = committedWatermark(record.watermark, move);
      const marked = watermark !== undefined ? { ...record, watermark } : record;
      if (!final) return { ...marked, running: move };
      const { running: _, ...rest } = marked;
      return { ...rest, last: move };
    }, !final);
  }

  /** Writes the record again with a fresh lease, while an act runs long. */
  renew(): Promise<void> {
    return this.#write((record) => record, true);
  }

  /** Lets the table go: another worker may take it (and its move) up at once. */
  release(): Promise<void> {
    return this.#write((record) => record, false).catch(() => {});
  }

  /** Queued, so a renewal never writes back progress older than a save queued before it. */
  #write(change: (record: TierRecord) => TierRecord, hold: boolean): Promise<void> {
    const next = this.#queue.then(async () => {
      if (this.#lost) throw this.#lost;
      const sentAt = Date.now();
      const { owner: _o, leaseUntil: _l, ...data } = change(this.#record);
      const record: TierRecord = {
        ...data,
        leaseUntil: hold ? sentAt + this.#leaseMs : 0,
        ...(hold ? { owner: this.#owner } : {}),
      };
      try {
        this.#revision = await this.#store.update(record, this.#revision);
      } catch (err) {
        this.#lost = err instanceof TierLeaseLost ? err : new TierLeaseLost(this.table, err);
        throw this.#lost;
      }
      this.#record = record;
      this.validUntil = hold ? sentAt + this.#leaseMs : 0;
    });
    this.#queue = next.catch(() => {});
    return next;
  }
}

/** The watermark a record keeps once `move` committed: the higher of the two. */
export function committedWatermark(
  recorded: string | undefined,
  move: MoveData,
): string | undefined {
  if (move.committedAt === undefined) return recorded;
  if (recorded === undefined) return move.to;
  return move.to.slice(0, 10) > recorded.slice(0, 10) ? move.to : recorded;
}

/**
 * The region's replica store: a JetStream KV bucket on the region's own server
 * (`<deployment>_data_replicas`), so replicas survive a worker's restart and every sql-join
 * worker of the region shares them. It holds each replica (`r.<owner>.<table>.<id>`) and, per
 * owner, how far its change feed was applied and when that poll started (`f.<owner>`).
 *
 * Every worker mirrors the bucket in memory through a watch, so reads never wait on the bucket.
 * The bucket is one stream: a feed record is seen only after every replica write made before
 * it, so the mirror never pairs a fresh feed record with replicas older than it.
 */
import { bucketNameOf, msgpackCodec } from "@entente/protocol";
import { isKvConflict, type Logger } from "@entente/runtime";
import { jetstream } from "@nats-io/jetstream";
import { type KV, type KvEntry, Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";

export interface ReplicaRecord {
  owner: number;
  table: string;
  id: string;
  columns: string[];
  row: unknown[];
  /** The owner's change-stream sequence this replica reflects every change up to. */
  seq: number;
  /** Written by a poll that has not yet committed its feed position: never served. */
  pending: boolean;
  createdAt: number;
}

export interface FeedRecord {
  /** Every change of the owner's stream up to here is applied to the replicas. */
  seq: number;
  /** When the poll that applied them started. */
  polledAt: number;
}

export interface Held<T> {
  record: T;
  revision: number;
  bytes: number;
}

export class ReplicaStore {
  readonly #kv: KV;
  readonly #logger: Logger;
  readonly #replicas = new Map<string, Held<ReplicaRecord>>();
  readonly #feeds = new Map<number, Held<FeedRecord>>();
  /** Revisions of keys deleted, so a late read of an older value does not bring them back. */
  readonly #deleted = new Map<string, number>();
  #stopWatch: (() => void) | undefined;

  private constructor(kv: KV, logger: Logger) {
    this.#kv = kv;
    this.#logger = logger;
  }

  static async open(nc: NatsConnection, deployment: string, logger: Logger): Promise<ReplicaStore> {
    const kv = await new Kvm(jetstream(nc)).create(bucketNameOf(deployment, "data_replicas"), {
      history: 1,
    });
    const store = new ReplicaStore(kv, logger);
    await store.#load();
    return store;
  }

  static replicaKey(owner: number, table: string, id: string): string {
    return `r.${owner}.${Buffer.from(table).toString("base64url")}.${id}`;
  }

  static feedKey(owner: number): string {
    return `f.${owner}`;
  }

  replica(owner: number, table: string, id: string): Held<ReplicaRecord> | undefined {
    return this.#replicas.get(ReplicaStore.replicaKey(owner, table, id));
  }

  /** Every replica held, with its key. */
  replicas(): IterableIterator<[string, Held<ReplicaRecord>]> {
    return this.#replicas.entries();
  }

  feed(owner: number): Held<FeedRecord> | undefined {
    return this.#feeds.get(owner);
  }

  /** Owners with a feed record or a replica. */
  owners(): Set<number> {
    const owners = new Set(this.#feeds.keys());
    for (const held of this.#replicas.values()) owners.add(held.record.owner);
    return owners;
  }

  /** Writes a new replica; false when one is already there. */
  async create(record: ReplicaRecord): Promise<boolean> {
    const key = ReplicaStore.replicaKey(record.owner, record.table, record.id);
    const value = msgpackCodec.encode(record);
    try {
      const revision = await this.#kv.create(key, value);
      this.#apply(key, record, revision, value.length);
      return true;
    } catch (err) {
      if (isKvConflict(err)) return false;
      throw err;
    }
  }

  /** Replaces a replica if it is still at `revision`; false when someone changed it first. */
  async update(key: string, record: ReplicaRecord, revision: number): Promise<boolean> {
    const value = msgpackCodec.encode(record);
    try {
      const next = await this.#kv.update(key, value, revision);
      this.#apply(key, record, next, value.length);
      return true;
    } catch (err) {
      if (isKvConflict(err)) return false;
      throw err;
    }
  }

  /** Reads a replica from the bucket itself (after a conflicting write). */
  async reload(key: string): Promise<Held<ReplicaRecord> | undefined> {
    const entry = await this.#kv.get(key);
    if (entry) this.#entry(entry);
    return this.#replicas.get(key);
  }

  async delete(key: string): Promise<void> {
    const held = this.#replicas.get(key);
    await this.#kv.delete(key);
    if (held) this.#remove(key, held.revision);
  }

  /** Sets an owner's feed record if it is still at `revision` (absent: undefined). */
  async setFeed(owner: number, record: FeedRecord, revision: number | undefined): Promise<boolean> {
    const key = ReplicaStore.feedKey(owner);
    const value = msgpackCodec.encode(record);
    try {
      const next =
        revision === undefined
          ? await this.#kv.create(key, value)
          : await this.#kv.update(key, value, revision);
      this.#apply(key, record, next, value.length);
      return true;
    } catch (err) {
      if (isKvConflict(err)) return false;
      throw err;
    }
  }

  stop(): void {
    this.#stopWatch?.();
  }

  /** Watches first, then reads what is there, so no write between the two is missed. */
  async #load(): Promise<void> {
    const watcher = await this.#kv.watch({ include: KvWatchInclude.UpdatesOnly });
    this.#stopWatch = () => watcher.stop();
    void (async () => {
      for await (const entry of watcher) this.#entry(entry);
    })().catch((err: unknown) => this.#logger.warn({ err }, "replica store watch ended"));
    for await (const key of await this.#kv.keys()) {
      const entry = await this.#kv.get(key);
      if (entry) this.#entry(entry);
    }
  }

  #entry(entry: KvEntry): void {
    if (entry.operation !== "PUT") {
      this.#remove(entry.key, entry.revision);
      return;
    }
    try {
      this.#apply(entry.key, msgpackCodec.decode(entry.value), entry.revision, entry.length);
    } catch (err) {
      this.#logger.warn({ key: entry.key, err }, "ignoring an unreadable replica store entry");
    }
  }

  #apply(key: string, value: unknown, revision: number, bytes: number): void {
    if ((this.#deleted.get(key) ?? 0) >= revision) return;
    this.#deleted.delete(key);
    if (key.startsWith("f.")) {
      const owner = Number(key.slice(2));
      if ((this.#feeds.get(owner)?.revision ?? 0) > revision) return;
      this.#feeds.set(owner, { record: value as FeedRecord, revision, bytes });
      return;
    }
    if ((this.#replicas.get(key)?.revision ?? 0) > revision) return;
    this.#replicas.set(key, { record: value as ReplicaRecord, revision, bytes });
  }

  #remove(key: string, revision: number): void {
    const held = key.startsWith("f.")
      ? this.#feeds.get(Number(key.slice(2)))
      : this.#replicas.get(key);
    if (held && held.revision > revision) return;
    if (key.startsWith("f.")) this.#feeds.delete(Number(key.slice(2)));
    else this.#replicas.delete(key);
    // Bounded: only deletions newer than anything still arriving matter, and they are few.
    this.#deleted.set(key, revision);
    if (this.#deleted.size > 100_000) this.#deleted.clear();
  }
}

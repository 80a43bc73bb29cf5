/**
 * Replicas of remote rows read often, kept current from their owners' change feeds.
 *
 * Reads of remote ids are counted; an id read `readsToReplicate` times within `windowMs` is
 * wanted, and its owner is polled at once (or again once a running poll of it ends). Besides, every
 * `maxStalenessMs / 3` the worker polls each owner it holds or wants replicas of:
 *
 * 1. note the owner's feed position X (from the store; with no replica of it yet, the head);
 * 2. fetch the wanted rows from the owner and store them as pending replicas at X: every
 *    change up to X was committed before this read, so they reflect it;
 * 3. read the feed after X to its head, applying each change to the replica it names (only if
 *    newer than the replica);
 * 4. commit the new position with the poll's start time, then confirm the pending replicas.
 *
 * A replica is served only while its owner's committed position was polled within
 * `maxStalenessMs`, so it is never older than that; otherwise the read goes to the owner. If the
 * owner's stream no longer holds the changes after X, the owner's replicas are dropped. When
 * the replicas pass the byte budget, the least valuable (decayed hits per byte) are evicted.
 */
import {
  type DataChangesReply,
  type DataGetReply,
  type DeploymentSubjects,
  dataChangesReplySchema,
  EntenteError,
  msgpackCodec,
} from "@entente/protocol";
import type { EntenteClient, Logger } from "@entente/runtime";
import type { DataReplicationSettings } from "../config.ts";
import { feedVerdict, servable, takesChange } from "./freshness.ts";
import type { RegionPairCounters } from "./pair-counters.ts";
import { ReadCounter } from "./read-counter.ts";
import { type ReplicaRecord, ReplicaStore } from "./store.ts";
import { toEvict, type Held as Weighed, type Worth, withHits } from "./value.ts";

/** Ids per request when fetching rows to replicate. */
const FETCH_IDS = 1_000;

/** A pending replica left by a poll that never committed (its worker stopped) is dropped after this. */
const ABANDONED_PENDING_MS = 60_000;

export interface ReplicaLookup {
  /** Rows by id (decimal string), in the columns asked. */
  rows: Map<string, unknown[]>;
  /** The ids to ask the owner for. */
  rest: bigint[];
}

export class Replicator {
  readonly #store: ReplicaStore;
  readonly #counters: RegionPairCounters;
  readonly #client: EntenteClient;
  readonly #subjects: DeploymentSubjects;
  readonly #settings: DataReplicationSettings;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #reads: ReadCounter;
  /** Per owner, the ids wanted as replicas, by table. */
  readonly #wanted = new Map<number, Map<string, Set<string>>>();
  #wantedCount = 0;
  readonly #worth = new Map<string, Worth>();
  readonly #polling = new Set<number>();
  /** Owners with ids wanted while a poll of them ran. */
  readonly #pollAgain = new Set<number>();
  #evicting = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Polls committed before this worker started are not trusted: changes may have been missed. */
  readonly #startedAt: number;

  constructor(options: {
    store: ReplicaStore;
    counters: RegionPairCounters;
    client: EntenteClient;
    subjects: DeploymentSubjects;
    settings: DataReplicationSettings;
    logger: Logger;
    now?: () => number;
  }) {
    this.#store = options.store;
    this.#counters = options.counters;
    this.#client = options.client;
    this.#subjects = options.subjects;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#reads = new ReadCounter({
      threshold: this.#settings.readsToReplicate,
      windowMs: this.#settings.windowMs,
      maxKeys: 100_000,
    });
  }

  /** How often each owner's feed is read: three times per staleness bound. */
  get pollEveryMs(): number {
    return Math.max(100, Math.floor(this.#settings.maxStalenessMs / 3));
  }

  start(): void {
    this.#timer = setInterval(() => void this.pollAll(), this.pollEveryMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#store.stop();
  }

  /** The ids of `owner` served from replicas (all `columns` held, owner polled in time). */
  lookup(table: string, columns: string[], owner: number, ids: bigint[]): ReplicaLookup {
    const now = this.#now();
    const rows = new Map<string, unknown[]>();
    const polledAt = this.#store.feed(owner)?.record.polledAt;
    if (!servable(polledAt, now, this.#settings.maxStalenessMs, this.#startedAt)) {
      return { rows, rest: ids };
    }
    const rest: bigint[] = [];
    for (const id of ids) {
      const key = ReplicaStore.replicaKey(owner, table, id.toString());
      const held = this.#store.replica(owner, table, id.toString());
      const positions = held ? columns.map((c) => held.record.columns.indexOf(c)) : [];
      if (!held || held.record.pending || positions.some((p) => p < 0)) {
        rest.push(id);
        continue;
      }
      rows.set(
        id.toString(),
        positions.map((p) => held.record.row[p]),
      );
      this.#worth.set(key, withHits(this.#worth.get(key), 1, now, this.#settings.windowMs));
    }
    if (rows.size > 0) this.#counters.add(owner, "replicaHits", rows.size);
    return { rows, rest };
  }

  /** Counts reads of `owner`'s ids; those read often enough are wanted as replicas. */
  noteOwnerRead(table: string, owner: number, ids: readonly bigint[]): void {
    const now = this.#now();
    let added = false;
    for (const id of ids) {
      const key = ReplicaStore.replicaKey(owner, table, id.toString());
      if (!this.#reads.record(key, now)) continue;
      if (this.#store.replica(owner, table, id.toString())) continue;
      if (this.#wantedCount >= this.#settings.maxPending) break;
      let tables = this.#wanted.get(owner);
      if (!tables) {
        tables = new Map();
        this.#wanted.set(owner, tables);
      }
      const wanted = tables.get(table) ?? new Set<string>();
      if (!wanted.has(id.toString())) {
        wanted.add(id.toString());
        this.#wantedCount += 1;
        this.#worth.set(
          key,
          withHits(undefined, this.#settings.readsToReplicate, now, this.#settings.windowMs),
        );
        added = true;
      }
      tables.set(table, wanted);
    }
    // Once every id is in place: a poll takes the wanted ids as it starts.
    if (added) this.#pollSoon(owner);
  }

  /**
   * Fetches newly wanted rows now instead of at the next round, so a row read often is served
   * here sooner; a poll of the owner already running takes them, or the next one does.
   */
  #pollSoon(owner: number): void {
    if (this.#stopped) return;
    if (this.#polling.has(owner)) {
      // That poll may have fetched its rows already: poll again when it is done.
      this.#pollAgain.add(owner);
      return;
    }
    void this.poll(owner).then(async () => {
      if (!this.#stopped) await this.#evict().catch((err) => this.#warn(err, "eviction failed"));
    });
  }

  /** Polls every owner held or wanted, then keeps the replicas within the budget. */
  async pollAll(): Promise<void> {
    const owners = new Set([...this.#store.owners(), ...this.#wanted.keys()]);
    await Promise.all([...owners].map((owner) => this.poll(owner)));
    if (!this.#stopped) await this.#evict().catch((err) => this.#warn(err, "eviction failed"));
  }

  /** One poll of `owner` (skipped while the previous one still runs). */
  async poll(owner: number): Promise<void> {
    if (this.#polling.has(owner) || this.#stopped) return;
    this.#polling.add(owner);
    try {
      await this.#poll(owner);
    } catch (err) {
      this.#counters.add(owner, "feedErrors");
      this.#warn(err, `polling region ${owner}'s change feed failed`);
    } finally {
      this.#polling.delete(owner);
    }
    if (this.#pollAgain.delete(owner)) this.#pollSoon(owner);
  }

  async #poll(owner: number): Promise<void> {
    const startedAt = this.#now();
    const feed = this.#store.feed(owner);
    const hasReplicas = [...this.#store.replicas()].some(([, h]) => h.record.owner === owner);
    if (!hasReplicas && !this.#wanted.has(owner)) return;
    // With no replica of the owner, nothing before its head matters: start there.
    let position = hasReplicas && feed ? feed.record.seq : (await this.#readFeed(owner, 0, 1)).head;
    const created = await this.#createWanted(owner, position, startedAt);
    // Ids whose rows changed, by table: read again from the owner once the feed is read to its
    // head, so a replica holds the row as committed then, whatever order puts published in.
    const changed = new Map<string, Set<string>>();
    for (;;) {
      const reply = await this.#readFeed(owner, position, this.#settings.feedBatch);
      const first = reply.changes[0];
      // A sequence skipped (the stream dropped it) is a change that can no longer be applied.
      if (
        feedVerdict(position, reply) === "lost" ||
        (first !== undefined && first.seq !== position + 1)
      ) {
        await this.#dropOwner(owner);
        await this.#store.setFeed(owner, { seq: reply.head, polledAt: startedAt }, feed?.revision);
        return;
      }
      if (reply.changes.length === 0) {
        if (position < reply.head) {
          throw new EntenteError(
            "UNAVAILABLE",
            `region ${owner}'s change feed answered no changes after ${position} below its head ${reply.head}`,
          );
        }
        break;
      }
      for (const change of reply.changes) {
        if (this.#store.replica(owner, change.table, change.id)) {
          const ids = changed.get(change.table) ?? new Set<string>();
          ids.add(change.id);
          changed.set(change.table, ids);
        }
        position = change.seq;
      }
      if (position >= reply.head) break;
    }
    await this.#refresh(owner, changed, position);
    const committed = await this.#store.setFeed(
      owner,
      { seq: position, polledAt: startedAt },
      feed?.revision,
    );
    for (const key of created) {
      // Another worker moved the position first: changes it applied may have missed these.
      if (!committed) await this.#store.delete(key);
      else await this.#confirm(key);
    }
  }

  /** A feed reply, checked: the owner (or whoever answers for it) may say anything. */
  async #readFeed(owner: number, after: number, limit: number): Promise<DataChangesReply> {
    const raw = await this.#ask(owner, this.#subjects.data.changes, { after, limit });
    const parsed = dataChangesReplySchema.safeParse(raw);
    if (!parsed.success) {
      throw new EntenteError(
        "BAD_RESPONSE",
        `region ${owner} answered its change feed with something else: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join(".") || "reply"}: ${i.message}`)
          .join("; ")}`,
      );
    }
    const reply = parsed.data;
    let previous = after;
    for (const change of reply.changes) {
      if (change.seq <= previous || change.seq > reply.head) {
        throw new EntenteError(
          "BAD_RESPONSE",
          `region ${owner}'s change feed is out of order: ${change.seq} after ${previous} (head ${reply.head})`,
        );
      }
      previous = change.seq;
    }
    return {
      ...reply,
      changes: reply.changes.map((c) => ({ ...c, id: c.id.toString() })),
    };
  }

  /** Stores the wanted rows of `owner` as pending replicas at `position`; returns their keys. */
  async #createWanted(owner: number, position: number, now: number): Promise<string[]> {
    const tables = this.#wanted.get(owner);
    if (!tables) return [];
    this.#wanted.delete(owner);
    const keys: string[] = [];
    for (const [table, wanted] of tables) {
      this.#wantedCount -= wanted.size;
      const all = [...wanted];
      for (let at = 0; at < all.length; at += FETCH_IDS) {
        const list = all.slice(at, at + FETCH_IDS);
        keys.push(...(await this.#fetchReplicas(owner, table, list, position, now)));
      }
    }
    return keys;
  }

  /** Whole rows of `owner` by id, checked: one row (or null) per id, as wide as its columns. */
  async #fetchRows(
    owner: number,
    table: string,
    list: string[],
  ): Promise<{ columns: string[]; rows: Array<unknown[] | null> }> {
    const reply = (await this.#ask(owner, this.#subjects.data.get, {
      table,
      ids: list,
    })) as Partial<DataGetReply> | null;
    const columns = reply?.columns;
    const rows = reply?.rows;
    if (
      !reply ||
      reply.partial ||
      !Array.isArray(columns) ||
      !columns.every((c) => typeof c === "string") ||
      !Array.isArray(rows) ||
      rows.length !== list.length ||
      !rows.every((r) => r === null || (Array.isArray(r) && r.length === columns.length))
    ) {
      throw new EntenteError("BAD_RESPONSE", `region ${owner} did not answer rows to replicate`);
    }
    return { columns, rows };
  }

  async #fetchReplicas(
    owner: number,
    table: string,
    list: string[],
    position: number,
    now: number,
  ): Promise<string[]> {
    const keys: string[] = [];
    const reply = await this.#fetchRows(owner, table, list);
    for (const [i, id] of list.entries()) {
      const row = reply.rows[i];
      if (!row) continue;
      const record: ReplicaRecord = {
        owner,
        table,
        id,
        columns: reply.columns,
        row,
        seq: position,
        pending: true,
        createdAt: now,
      };
      if (await this.#store.create(record)) {
        keys.push(ReplicaStore.replicaKey(owner, table, id));
        this.#reads.forget(ReplicaStore.replicaKey(owner, table, id));
      }
    }
    return keys;
  }

  /**
   * Reads the changed rows of `owner` again and stores them at `position`: every change up to
   * there was committed before this read. A row the owner no longer has is dropped. A replica
   * that cannot be stored fails the poll, so its position is not committed past the change.
   */
  async #refresh(owner: number, changed: Map<string, Set<string>>, position: number) {
    for (const [table, ids] of changed) {
      const all = [...ids];
      for (let at = 0; at < all.length; at += FETCH_IDS) {
        const list = all.slice(at, at + FETCH_IDS);
        const { columns, rows } = await this.#fetchRows(owner, table, list);
        for (const [i, id] of list.entries()) {
          const row = rows[i];
          await this.#rewrite(ReplicaStore.replicaKey(owner, table, id), (held) => {
            if (!takesChange(held.seq, position)) return held;
            return row ? { ...held, columns, row, seq: position } : undefined;
          });
        }
      }
    }
  }

  /**
   * Rewrites a held replica as `next` says (undefined: drop it), again on a conflicting write;
   * throws when it keeps conflicting, so the poll does not commit past a change it missed.
   */
  async #rewrite(
    key: string,
    next: (held: ReplicaRecord) => ReplicaRecord | undefined,
  ): Promise<void> {
    let held = this.#store.replica(...partsOf(key));
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!held) return;
      const record = next(held.record);
      if (record === held.record) return;
      if (record === undefined) return this.#store.delete(key);
      if (await this.#store.update(key, record, held.revision)) return;
      held = await this.#store.reload(key);
    }
    throw new EntenteError("UNAVAILABLE", `replica ${key} kept changing under a poll`);
  }

  async #confirm(key: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const held = this.#store.replica(...partsOf(key));
      if (!held?.record.pending) return;
      if (await this.#store.update(key, { ...held.record, pending: false }, held.revision)) return;
      await this.#store.reload(key);
    }
  }

  async #dropOwner(owner: number): Promise<void> {
    const keys = [...this.#store.replicas()]
      .filter(([, h]) => h.record.owner === owner)
      .map(([k]) => k);
    for (const key of keys) await this.#store.delete(key);
    if (keys.length > 0) this.#counters.add(owner, "dropped", keys.length);
  }

  /** Drops pending replicas nobody confirmed, then the least valuable until within budget. */
  async #evict(): Promise<void> {
    // One at a time: two rounds over the same store would evict (and count) the same replicas.
    if (this.#evicting) return;
    this.#evicting = true;
    try {
      await this.#evictOverBudget();
    } finally {
      this.#evicting = false;
    }
  }

  async #evictOverBudget(): Promise<void> {
    const now = this.#now();
    const held: Array<Weighed & { owner: number }> = [];
    for (const [key, h] of this.#store.replicas()) {
      if (h.record.pending && now - h.record.createdAt > ABANDONED_PENDING_MS) {
        await this.#store.delete(key);
        continue;
      }
      held.push({ key, bytes: h.bytes, worth: this.#worth.get(key), owner: h.record.owner });
    }
    const owners = new Map(held.map((h) => [h.key, h.owner]));
    for (const key of toEvict(held, this.#settings.budgetBytes, now, this.#settings.windowMs)) {
      await this.#store.delete(key);
      this.#counters.add(owners.get(key) ?? 0, "evictions");
    }
    // Worth is kept only for what is held (another worker may have dropped some) or wanted.
    for (const key of this.#worth.keys()) {
      const [owner, table, id] = partsOf(key);
      if (!this.#store.replica(owner, table, id) && !this.#wanted.get(owner)?.get(table)?.has(id)) {
        this.#worth.delete(key);
      }
    }
  }

  /** A request to `owner`'s sql-join through the router, its reply counted for the pair. */
  async #ask(owner: number, subject: string, body: unknown): Promise<unknown> {
    let reply: unknown;
    try {
      reply = await this.#client.request<unknown>(subject, body, {
        region: owner,
        timeoutMs: this.#settings.maxStalenessMs,
      });
    } catch (err) {
      this.#counters.request(owner, 0);
      throw err;
    }
    this.#counters.request(owner, msgpackCodec.encode(reply).length);
    return reply;
  }

  /** Bytes held and the age of the last committed poll, per owner. */
  gauges(owner: number): { replicas: number; replicaBytes: number; stalenessMs: number | null } {
    let replicas = 0;
    let replicaBytes = 0;
    for (const [, h] of this.#store.replicas()) {
      if (h.record.owner !== owner) continue;
      replicas += 1;
      replicaBytes += h.bytes;
    }
    const polledAt = this.#store.feed(owner)?.record.polledAt;
    return {
      replicas,
      replicaBytes,
      stalenessMs: polledAt === undefined ? null : Math.max(0, this.#now() - polledAt),
    };
  }

  owners(): number[] {
    return [...this.#store.owners()];
  }

  #lastWarning = 0;
  #warn(err: unknown, message: string): void {
    // One warning per staleness bound at most: an owner that is down fails every poll.
    const now = this.#now();
    if (now - this.#lastWarning < this.#settings.maxStalenessMs) return;
    this.#lastWarning = now;
    this.#logger.warn({ err }, message);
  }
}

/** `r.<owner>.<table>.<id>` back into its parts. */
function partsOf(key: string): [number, string, string] {
  const [, owner, table, id] = key.split(".");
  return [Number(owner), Buffer.from(table ?? "", "base64url").toString(), id ?? ""];
}

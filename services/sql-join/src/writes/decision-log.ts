/**
 * The durable log of two-phase commit decisions, in a JetStream KV bucket shared by every
 * sql-join worker of the deployment. A decision is written with create-if-absent, so the first
 * writer — the coordinator proposing commit, or a recovering worker or an operator proposing
 * abort — decides, and everyone after reads that decision. A decision is never changed; once
 * its participants are all finished it is deleted. The bucket keeps entries at most
 * `retentionMs`: recovery refreshes the decision of a transaction it still finds prepared, so
 * only a participant unreachable for that long can outlive its decision.
 *
 * A decision is acted on once the server has acknowledged it, so it is as durable as the
 * bucket: replicated over `replicas` servers of a JetStream cluster, and on one server as
 * durable as its `sync_interval` makes acknowledged writes (see docs/transactions.md).
 */
import { bucketNameOf } from "@entente/protocol";
import { isKvConflict } from "@entente/runtime";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type NatsConnection, nuid } from "@nats-io/nats-core";
import type { Decision } from "./coordinator-machine.ts";

export interface DecisionRecord {
  decision: Decision;
  /** The participants' sources and the ids they are prepared under. */
  participants: { source: string; gid: string }[];
  decidedAtMs: number;
  /** Who decided: a worker's coordinator, a worker's recovery, or an operator. */
  by: string;
  /** When recovery last wrote it again, to keep it in the bucket while it is still needed. */
  refreshedAtMs?: number;
}

export interface DecisionLogOptions {
  replicas: number;
  retentionMs: number;
}

/** The key holding the id the bucket was created with; decisions' keys start with `e`. */
/** The key holding the id the bucket was created with; every other key is a decision. */
export const LOG_ID_KEY = "log-id";

export class DecisionLog {
  readonly #kv: KV;
  readonly retentionMs: number;
  /**
   * The deployment and the id its bucket was created with: transaction ids carry a hash of it,
   * so recovery touches only transactions whose decisions are in this log.
   */
  readonly scope: string;
  #logIdWrittenAtMs = Date.now();

  private constructor(kv: KV, retentionMs: number, scope: string) {
    this.#kv = kv;
    this.retentionMs = retentionMs;
    this.scope = scope;
  }

  static async open(
    nc: NatsConnection,
    deployment: string,
    options: DecisionLogOptions = { replicas: 1, retentionMs: 7 * 24 * 60 * 60 * 1000 },
  ): Promise<DecisionLog> {
    const kv = await new Kvm(jetstream(nc)).create(bucketNameOf(deployment, "transactions"), {
      history: 1,
      replicas: options.replicas,
      ttl: options.retentionMs,
    });
    return new DecisionLog(kv, options.retentionMs, `${deployment}/${await logIdOf(kv)}`);
  }

  /** The logged decision for a transaction, if any. */
  async get(id: string): Promise<DecisionRecord | undefined> {
    const entry = await this.#kv.get(id);
    if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
    return entry.json<DecisionRecord>();
  }

  /**
   * Logs `record` unless a decision is there already; returns the decision that stands. A write
   * whose answer was lost may have landed: the caller asks again and reads it.
   */
  async decide(id: string, record: DecisionRecord): Promise<DecisionRecord> {
    try {
      await this.#kv.create(id, JSON.stringify(record));
      return record;
    } catch (err) {
      if (!isKvConflict(err)) throw err;
      const standing = await this.get(id);
      if (!standing) throw err;
      return standing;
    }
  }

  /** Writes a decision again, unchanged but for when, so the bucket keeps it. */
  async refresh(id: string, record: DecisionRecord, nowMs: number): Promise<void> {
    await this.#kv.put(id, JSON.stringify({ ...record, refreshedAtMs: nowMs }));
  }

  /** Writes the bucket's id again well before the bucket's retention would drop it. */
  async keepId(nowMs: number): Promise<void> {
    if (nowMs - this.#logIdWrittenAtMs < this.retentionMs / 4) return;
    await this.#kv.put(LOG_ID_KEY, this.scope.slice(this.scope.lastIndexOf("/") + 1));
    this.#logIdWrittenAtMs = nowMs;
  }

  /** Forgets a decision carried out at every participant. */
  async finish(id: string): Promise<void> {
    await this.#kv.delete(id);
  }
}

/**
 * The bucket's id: made by whichever worker creates it first, read by the others. Written again
 * whenever it is read, so the bucket's retention never drops it while workers use the log.
 */
async function logIdOf(kv: KV): Promise<string> {
  try {
    const id = nuid.next();
    await kv.create(LOG_ID_KEY, id);
    return id;
  } catch (err) {
    if (!isKvConflict(err)) throw err;
    const entry = await kv.get(LOG_ID_KEY);
    const id = entry?.operation === "PUT" ? entry.string() : "";
    if (id === "") throw err;
    await kv.put(LOG_ID_KEY, id);
    return id;
  }
}

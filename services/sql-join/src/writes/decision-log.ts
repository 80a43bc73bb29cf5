/**
 * The durable log of two-phase commit decisions, in a JetStream KV bucket shared by every
 * sql-join worker of the deployment. A decision is written with create-if-absent, so the first
 * writer — the coordinator proposing commit, or a recovering worker or an operator proposing
 * abort — decides, and everyone after reads that decision. A decision is never changed; once
 * its participants are all finished it is marked done, and done entries are removed after a day.
 *
 * A decision is acted on once the server has acknowledged it, so it is as durable as the
 * bucket: replicated over `logReplicas` servers of a JetStream cluster, and on one server as
 * durable as its `sync_interval` makes acknowledged writes (see docs/transactions.md).
 */
import { bucketNameOf } from "@entente/protocol";
import { jetstream } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/nats-core";
import type { Decision } from "./coordinator-machine.ts";

export interface DecisionRecord {
  decision: Decision;
  /** The participants' sources and the ids they are prepared under. */
  participants: { source: string; gid: string }[];
  decidedAtMs: number;
  /** Who decided: a worker's coordinator, a worker's recovery, or an operator. */
  by: string;
  /** When every participant was found finished; done decisions are pruned a day later. */
  doneAtMs?: number;
}

/** How long a finished decision is kept, for `entente tx` and for late recovery rounds. */
const DONE_KEPT_MS = 24 * 60 * 60 * 1000;

export class DecisionLog {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async open(nc: NatsConnection, deployment: string, replicas = 1): Promise<DecisionLog> {
    const kv = await new Kvm(jetstream(nc)).create(bucketNameOf(deployment, "transactions"), {
      history: 1,
      replicas,
    });
    return new DecisionLog(kv);
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
      if (!isConflict(err)) throw err;
      const standing = await this.get(id);
      if (!standing) throw err;
      return standing;
    }
  }

  /** Marks a decision carried out at every participant. */
  async finish(id: string, nowMs = Date.now()): Promise<void> {
    const record = await this.get(id);
    if (!record || record.doneAtMs !== undefined) return;
    await this.#kv.put(id, JSON.stringify({ ...record, doneAtMs: nowMs }));
  }

  /** Every logged decision, with its id. */
  async list(): Promise<Map<string, DecisionRecord>> {
    const out = new Map<string, DecisionRecord>();
    const keys = await this.#kv.keys();
    for await (const key of keys) {
      const record = await this.get(key);
      if (record) out.set(key, record);
    }
    return out;
  }

  /** Removes decisions finished more than a day ago. */
  async prune(nowMs: number): Promise<number> {
    let removed = 0;
    for (const [id, record] of await this.list()) {
      if (record.doneAtMs !== undefined && nowMs - record.doneAtMs > DONE_KEPT_MS) {
        await this.#kv.purge(id);
        removed++;
      }
    }
    return removed;
  }
}

function isConflict(err: unknown): boolean {
  const message = String((err as Error)?.message ?? err);
  return /wrong last sequence|key exists|10071/i.test(message);
}

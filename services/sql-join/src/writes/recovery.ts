/**
 * Recovery of in-doubt transactions: prepared at a source, their coordinator gone before it
 * carried out its decision. Any worker may finish any transaction, so a coordinator that died
 * is finished by the others: a logged commit is committed everywhere it is still prepared, a
 * logged abort rolled back, and a transaction prepared longer than `recoverAfterMs` with no
 * decision is decided abort (create-if-absent, so a coordinator that is only slow and logs
 * commit first wins) and rolled back. Operators list and resolve them by hand with `entente tx`.
 */
import { type Connector, type PreparedTransaction, transactionsOf } from "@entente/connectors";
import {
  EntenteError,
  type InDoubtTransaction,
  type TxListReply,
  type TxResolveReply,
} from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { DecisionLog, DecisionRecord } from "./decision-log.ts";
import type { TransactionStats } from "./stats.ts";
import { parseGid } from "./tx-ids.ts";

export interface RecoveryEnvironment {
  connectors: ReadonlyMap<string, Connector>;
  /** The sources that take writes; those that can prepare are searched. */
  writable: readonly string[];
  twoPhaseRefusal(source: string): Promise<string | undefined>;
  log: DecisionLog;
  stats: TransactionStats;
  logger: Logger;
  /** How long a transaction may stay prepared without a decision before it is rolled back. */
  recoverAfterMs: number;
  /** Names this worker in the decisions it logs. */
  worker: string;
  /**
   * What this deployment's region's transaction ids start with: only those have their
   * decisions in this log; another region's or deployment's are left to their own recovery.
   */
  prefix: string;
}

interface Found {
  source: string;
  prepared: PreparedTransaction;
}

export class Recovery {
  readonly #env: RecoveryEnvironment;
  /** A round still running when the timer fires again is not overlapped. */
  #running = false;
  /** When this worker first saw a prepared id, for sources that do not say when it was prepared. */
  readonly #firstSeen = new Map<string, number>();

  constructor(env: RecoveryEnvironment) {
    this.#env = env;
  }

  /** Every transaction prepared at some source, grouped by id, with its logged decision. */
  async list(): Promise<TxListReply> {
    const { found, errors } = await this.#scan();
    const transactions: InDoubtTransaction[] = [];
    for (const [id, parts] of found) {
      const record = await this.#env.log.get(id);
      const what = parseGid(parts[0]?.prepared.gid ?? "");
      transactions.push({
        id,
        sources: parts.map((p) => p.source),
        decision: record?.decision ?? null,
        region: what?.region ?? 0,
        worker: what?.worker ?? "",
        startedAtMs: what?.startedAtMs ?? 0,
      });
    }
    transactions.sort((a, b) => a.startedAtMs - b.startedAtMs || a.id.localeCompare(b.id));
    return { transactions, errors };
  }

  /** One recovery round: finishes what has a decision, aborts what waited too long for one. */
  async round(nowMs = Date.now()): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#round(nowMs);
    } finally {
      this.#running = false;
    }
  }

  async #round(nowMs: number): Promise<void> {
    await this.#env.log.keepId(nowMs);
    const { found, errors } = await this.#scan();
    for (const e of errors) this.#env.logger.warn(e, "transaction recovery: source not searched");
    for (const [id, parts] of found) {
      try {
        let record = await this.#env.log.get(id);
        if (!record) {
          const oldest = Math.min(...parts.map((p) => this.#preparedAt(p, nowMs)));
          if (nowMs - oldest < this.#env.recoverAfterMs) continue;
          record = await this.#env.log.decide(id, this.#record("abort", parts, nowMs, "recovery"));
        }
        await this.#keep(id, record, nowMs);
        await this.#carryOut(id, record, parts, errors);
      } catch (err) {
        this.#env.logger.warn(
          { err, transaction: id },
          "transaction recovery failed; next round retries",
        );
      }
    }
    // Forget what is no longer prepared anywhere.
    const stillPrepared = new Set([...found.values()].flat().map((p) => p.prepared.gid));
    for (const gid of this.#firstSeen.keys()) {
      if (!stillPrepared.has(gid)) this.#firstSeen.delete(gid);
    }
  }

  /**
   * An operator's resolution. Commit only where commit was logged (the coordinator had every
   * participant prepared); otherwise some participant may never have prepared, and committing
   * the rest would break atomicity. Rollback decides abort unless commit was logged first.
   */
  async resolve(id: string, op: "commit" | "rollback"): Promise<TxResolveReply> {
    const { found, errors } = await this.#scan();
    const parts = found.get(id) ?? [];
    let record = await this.#env.log.get(id);
    if (op === "commit") {
      if (record?.decision !== "commit") {
        throw new EntenteError(
          "BAD_REQUEST",
          record
            ? `transaction ${id} was decided abort; it can only be rolled back`
            : `transaction ${id} has no logged commit decision, so not every participant is known to have prepared; only rollback is safe`,
        );
      }
    } else {
      record ??= await this.#env.log.decide(
        id,
        this.#record("abort", parts, Date.now(), "an operator"),
      );
      if (record.decision === "commit") {
        throw new EntenteError(
          "BAD_REQUEST",
          `transaction ${id} was decided commit; it can only be committed`,
        );
      }
    }
    if (parts.length === 0 && errors.length > 0) {
      throw new EntenteError(
        "UNAVAILABLE",
        `transaction ${id}: ${errors.map((e) => `${e.source}: ${e.message}`).join("; ")}`,
      );
    }
    if (parts.length === 0 && !record) {
      throw new EntenteError("NOT_FOUND", `transaction ${id} is prepared at no source`);
    }
    await this.#carryOut(id, record as DecisionRecord, parts, errors);
    return {
      id,
      outcome: record?.decision === "commit" ? "committed" : "rolled back",
      sources: parts.map((p) => p.source),
    };
  }

  /**
   * Carries a decision out where the transaction is still prepared, and marks it done only when
   * every participant's source was searched: one that could not be may still hold it prepared,
   * and a decision marked done is pruned later, after which it would be presumed aborted.
   */
  async #carryOut(
    id: string,
    record: DecisionRecord,
    parts: Found[],
    errors: { source: string }[],
  ): Promise<void> {
    for (const part of parts) {
      const connector = this.#env.connectors.get(part.source);
      if (!connector) continue;
      const transactions = transactionsOf(connector);
      if (record.decision === "commit") {
        await transactions.commitPrepared(part.prepared.gid);
        this.#env.stats.recoveredCommitted++;
      } else {
        await transactions.rollbackPrepared(part.prepared.gid);
        this.#env.stats.recoveredRolledBack++;
      }
      this.#env.logger.info(
        { transaction: id, source: part.source, decision: record.decision },
        "transaction recovery finished a participant",
      );
    }
    const unsearched = new Set(errors.map((e) => e.source));
    const sources = record.participants.map((p) => p.source);
    const blind = sources.length > 0 ? sources.some((s) => unsearched.has(s)) : unsearched.size > 0;
    if (!blind) await this.#env.log.finish(id);
  }

  #record(decision: "abort", parts: Found[], nowMs: number, who: string): DecisionRecord {
    return {
      decision,
      participants: parts.map((p) => ({ source: p.source, gid: p.prepared.gid })),
      decidedAtMs: nowMs,
      by: `${who} on worker ${this.#env.worker}`,
    };
  }

  /**
   * A decision whose transaction is still prepared somewhere must outlive it: written again
   * well before the bucket's retention would drop it.
   */
  async #keep(id: string, record: DecisionRecord, nowMs: number): Promise<void> {
    const writtenAt = record.refreshedAtMs ?? record.decidedAtMs;
    if (nowMs - writtenAt > this.#env.log.retentionMs / 4) {
      await this.#env.log.refresh(id, record, nowMs);
    }
  }

  #preparedAt(part: Found, nowMs: number): number {
    if (part.prepared.preparedAtMs !== undefined) return part.prepared.preparedAtMs;
    const seen = this.#firstSeen.get(part.prepared.gid);
    if (seen !== undefined) return seen;
    this.#firstSeen.set(part.prepared.gid, nowMs);
    return nowMs;
  }

  /** Prepared transactions of ours at every source that can prepare, by transaction id. */
  async #scan(): Promise<{
    found: Map<string, Found[]>;
    errors: { source: string; message: string }[];
  }> {
    const found = new Map<string, Found[]>();
    const errors: { source: string; message: string }[] = [];
    await Promise.all(
      this.#env.writable.map(async (source) => {
        const connector = this.#env.connectors.get(source);
        if (!connector) return;
        try {
          if ((await this.#env.twoPhaseRefusal(source)) !== undefined) return;
          const prepared = await transactionsOf(connector).listPrepared(this.#env.prefix);
          for (const p of prepared) {
            const parsed = parseGid(p.gid);
            if (!parsed) continue;
            const list = found.get(parsed.id) ?? [];
            list.push({ source, prepared: p });
            found.set(parsed.id, list);
          }
        } catch (err) {
          errors.push({ source, message: err instanceof Error ? err.message : String(err) });
        }
      }),
    );
    return { found, errors };
  }
}

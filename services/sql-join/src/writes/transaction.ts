/**
 * One transaction over any number of sources: each source it writes (or reads after writing)
 * is a participant with a session of its own. A transaction with one participant commits as
 * that source's own transaction; with several, through the two-phase commit coordinator
 * (coordinator-machine.ts), its decision logged before it is acted on.
 */
import {
  type Connector,
  type SourceSession,
  type SourceTransactions,
  transactionsOf,
} from "@entente/connectors";
import { EntenteError, type SqlTransactionOutcome } from "@entente/protocol";
import type { Context } from "@opentelemetry/api";
import { createActor, fromPromise, toPromise } from "xstate";
import {
  type CoordinatorOutput,
  coordinatorMachine,
  type Decision,
} from "./coordinator-machine.ts";
import { crashPoint } from "./crash-points.ts";
import type { DecisionLog } from "./decision-log.ts";
import { inSpan } from "./spans.ts";
import type { TransactionStats } from "./stats.ts";
import { participantGid } from "./tx-ids.ts";

/** What every transaction of a worker shares. */
export interface TransactionEnvironment {
  connectors: ReadonlyMap<string, Connector>;
  /** Sources the configuration lets statements write. */
  writable: ReadonlySet<string>;
  /** The decision log; without JetStream there is none, and only one source may be written. */
  log: DecisionLog | undefined;
  /** Who coordinates, as the log records it. */
  worker: string;
  /** Why a source cannot prepare, or undefined when it can (cached by the caller). */
  twoPhaseRefusal(source: string): Promise<string | undefined>;
  /** Creates a source's idempotency table once. */
  ensureIdempotencyTable(source: string): Promise<void>;
  stats: TransactionStats;
}

interface Participant {
  source: string;
  gid: string;
  session: SourceSession;
  transactions: SourceTransactions;
  state: "active" | "prepared" | "finished";
  /** The tail of the statements queued on this session: one at a time per connection. */
  queue: Promise<unknown>;
}

export class Transaction {
  readonly id: string;
  readonly #env: TransactionEnvironment;
  readonly #idempotencyKey: string | undefined;
  readonly #participants: Participant[] = [];
  #alreadyApplied = false;
  #ended = false;

  constructor(id: string, env: TransactionEnvironment, idempotencyKey?: string) {
    this.id = id;
    this.#env = env;
    this.#idempotencyKey = idempotencyKey;
  }

  /** The idempotency key had been recorded by an earlier transaction at some participant. */
  get alreadyApplied(): boolean {
    return this.#alreadyApplied;
  }

  get sources(): string[] {
    return this.#participants.map((p) => p.source);
  }

  /** Whether `source` takes part already (a read there then sees this transaction's writes). */
  has(source: string): boolean {
    return this.#participants.some((p) => p.source === source);
  }

  /**
   * Brings a source into the transaction to write it: refused for a source the configuration
   * keeps read-only, and for a second source when either cannot prepare.
   */
  async join(source: string, signal?: AbortSignal): Promise<void> {
    this.#checkOpen();
    if (!this.#env.writable.has(source)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `read-only: source "${source}" takes no writes; list it under writes.sources in the configuration to write it`,
        { details: { source } },
      );
    }
    if (this.has(source)) return;
    if (this.#participants.length > 0) await this.#checkTwoPhase(source);
    const connector = this.#env.connectors.get(source);
    if (!connector) throw new EntenteError("NOT_FOUND", `unknown source "${source}"`);
    const transactions = transactionsOf(connector);
    if (this.#idempotencyKey !== undefined) await this.#env.ensureIdempotencyTable(source);
    const gid = participantGid(this.id, this.#participants.length);
    // Waiting for a connection ends with the request: two transactions each holding a
    // connection and waiting for the other's pool must not wait forever.
    const session = await connector.openSession(signal);
    try {
      await transactions.begin(session, gid);
    } catch (err) {
      await session.release(true);
      throw err;
    }
    const participant: Participant = {
      source,
      gid,
      session,
      transactions,
      state: "active",
      queue: Promise.resolve(),
    };
    this.#participants.push(participant);
    if (this.#idempotencyKey !== undefined) {
      const claimed = await this.onSession(source, (s) =>
        transactions.claimIdempotencyKey(s, this.#idempotencyKey as string),
      );
      if (!claimed) this.#alreadyApplied = true;
    }
  }

  /** Runs `work` on a participant's session, after whatever was queued there before. */
  onSession<T>(source: string, work: (session: SourceSession) => Promise<T>): Promise<T> {
    this.#checkOpen();
    const p = this.#participants.find((x) => x.source === source);
    if (!p)
      throw new EntenteError("INTERNAL", `source "${source}" is not in transaction ${this.id}`);
    const run = p.queue.then(
      () => work(p.session),
      () => work(p.session),
    );
    p.queue = run.catch(() => {});
    return run;
  }

  /**
   * Commits: one participant in one phase, several by two-phase commit. Each step is a span
   * under `trace` (the committing request's).
   */
  async commit(trace?: Context): Promise<SqlTransactionOutcome> {
    this.#checkOpen();
    this.#ended = true;
    const participants = this.sources;
    if (this.#participants.length === 0) {
      return { id: this.id, outcome: "committed", participants, twoPhase: false };
    }
    if (this.#participants.length === 1) {
      const p = this.#participants[0] as Participant;
      try {
        await inSpan(trace, "transaction commit", this.#attributes(p), () =>
          p.transactions.commit(p.session, p.gid),
        );
        p.state = "finished";
      } catch (err) {
        // The commit's answer may be what was lost: the outcome is the database's to tell.
        await this.#releaseAll(true);
        this.#env.stats.rolledBack++;
        throw commitUnknown(this.id, p.source, err);
      }
      await this.#releaseAll(false);
      this.#env.stats.committed++;
      return { id: this.id, outcome: "committed", participants, twoPhase: false };
    }
    const output = await this.#twoPhaseCommit(trace);
    await this.#releaseAll(output.outcome !== "committed" || output.unfinished.length > 0);
    if (output.outcome === "committed") {
      this.#env.stats.committed++;
      this.#env.stats.twoPhase++;
      return { id: this.id, outcome: "committed", participants, twoPhase: true };
    }
    if (output.outcome === "in doubt") {
      this.#env.stats.inDoubt++;
      throw new EntenteError(
        "UNAVAILABLE",
        `transaction ${this.id} is in doubt: its participants are prepared and the decision log did not answer, so whether commit was logged is unknown; recovery finishes it as the log says once it answers (entente tx list shows it) — do not retry it without an idempotency key`,
        { details: { transaction: this.id } },
      );
    }
    this.#env.stats.rolledBack++;
    // An abort that was logged (decided by recovery first, or proposed after a failed write) is
    // carried out now, so it can be forgotten.
    if (output.decided) void this.#env.log?.finish(this.id).catch(() => {});
    throw abortedBy(this.id, output.error);
  }

  /** Rolls back every participant; what cannot be reached is presumed aborted by recovery. */
  async rollback(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    let failed = false;
    for (const p of this.#participants) {
      try {
        await p.transactions.rollback(p.session, p.gid);
        p.state = "finished";
      } catch {
        failed = true;
      }
    }
    // A session whose rollback failed is closed, which rolls back what it held.
    await this.#releaseAll(failed);
    this.#env.stats.rolledBack++;
  }

  #attributes(p: Participant) {
    return { "entente.transaction": this.id, "entente.source": p.source, "entente.gid": p.gid };
  }

  #twoPhaseCommit(trace: Context | undefined): Promise<CoordinatorOutput> {
    const log = this.#env.log as DecisionLog;
    const participants = () => this.#participants.map((p) => ({ source: p.source, gid: p.gid }));
    const logic = coordinatorMachine.provide({
      actors: {
        prepareAll: fromPromise(async () => {
          await settleAll(this.#participants, async (p) => {
            await inSpan(trace, "transaction prepare", this.#attributes(p), () =>
              p.transactions.prepare(p.session, p.gid),
            );
            p.state = "prepared";
          });
          crashPoint("prepared");
        }),
        decide: fromPromise(async ({ input }: { input: { id: string; decision: Decision } }) => {
          const record = await inSpan(
            trace,
            "transaction decide",
            { "entente.transaction": this.id, "entente.decision": input.decision },
            () =>
              log.decide(input.id, {
                decision: input.decision,
                participants: participants(),
                decidedAtMs: Date.now(),
                by: `coordinator on worker ${this.#env.worker}`,
              }),
          );
          if (record.decision === "commit") crashPoint("decided");
          return record.decision;
        }),
        commitAll: fromPromise(async () => {
          const unfinished: string[] = [];
          await Promise.all(
            this.#participants.map(async (p) => {
              try {
                await inSpan(trace, "transaction commit prepared", this.#attributes(p), () =>
                  p.transactions.commitPrepared(p.gid, p.session),
                );
                p.state = "finished";
                crashPoint("committing");
              } catch {
                unfinished.push(p.source);
              }
            }),
          );
          return unfinished;
        }),
        rollbackAll: fromPromise(async () => {
          await settleAll(this.#participants, async (p) => {
            await inSpan(trace, "transaction rollback", this.#attributes(p), async () => {
              if (p.state === "prepared") await p.transactions.rollbackPrepared(p.gid, p.session);
              else if (p.state === "active") await p.transactions.rollback(p.session, p.gid);
            });
            p.state = "finished";
          });
        }),
        // Forgetting the decision is bookkeeping: the reply and the connections do not wait.
        finish: fromPromise(async ({ input }: { input: { id: string } }) => {
          void log.finish(input.id).catch(() => {});
        }),
      },
    });
    return toPromise(createActor(logic, { input: { id: this.id } }).start());
  }

  async #checkTwoPhase(source: string): Promise<void> {
    if (!this.#env.log) {
      throw new EntenteError(
        "UNAVAILABLE",
        `a transaction across sources needs the decision log in JetStream, which this worker could not open; "${source}" cannot join ${this.sources.join(", ")}`,
      );
    }
    for (const s of [...this.sources, source]) {
      const refusal = await this.#env.twoPhaseRefusal(s);
      if (refusal !== undefined) {
        throw new EntenteError(
          "BAD_REQUEST",
          `a transaction across sources (${[...this.sources, source].join(", ")}) commits with two-phase commit: ${refusal}`,
          { details: { source: s } },
        );
      }
    }
  }

  async #releaseAll(discard: boolean): Promise<void> {
    await Promise.all(
      this.#participants.map((p) =>
        p.session.release(discard || p.state !== "finished").catch(() => {}),
      ),
    );
  }

  #checkOpen(): void {
    if (this.#ended) {
      throw new EntenteError("BAD_REQUEST", `transaction ${this.id} has ended`);
    }
  }
}

/** Runs `work` on every participant at once; throws the first failure after all have settled. */
async function settleAll(
  participants: readonly Participant[],
  work: (p: Participant) => Promise<void>,
): Promise<void> {
  const results = await Promise.allSettled(participants.map(work));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

function commitUnknown(id: string, source: string, cause: unknown): EntenteError {
  const e = cause instanceof EntenteError ? cause : undefined;
  const message = cause instanceof Error ? cause.message : String(cause);
  return new EntenteError(
    e?.code ?? "UNAVAILABLE",
    `transaction ${id}: COMMIT on "${source}" failed: ${message}; if the connection was lost, it may have committed`,
    { details: { transaction: id, source }, retryable: false },
  );
}

function abortedBy(id: string, cause: unknown): EntenteError {
  const message = cause instanceof Error ? cause.message : String(cause ?? "unknown");
  const code = cause instanceof EntenteError ? cause.code : "UNAVAILABLE";
  return new EntenteError(code, `transaction ${id} rolled back: ${message}`, {
    details: { transaction: id },
  });
}

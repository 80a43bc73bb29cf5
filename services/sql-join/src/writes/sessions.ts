/**
 * Interactive transactions: `BEGIN` opens one on this worker (its participants' connections are
 * this worker's), later statements name it by id, `COMMIT` or `ROLLBACK` ends it, and one left
 * idle longer than the timeout is rolled back. Statements of one session run one at a time.
 * Session ids carry the worker's tag, so a worker that receives a statement for another's
 * session knows where to send it.
 */
import { EntenteError, type SqlSessionInfo } from "@entente/protocol";
import { nuid } from "@nats-io/nats-core";
import type { Transaction } from "./transaction.ts";

interface Session {
  tx: Transaction;
  /** The idle timer; none while statements are queued or running. */
  timer: NodeJS.Timeout | undefined;
  /** Statements queued or running. */
  pending: number;
  /** The statement running now, so the next waits for it. */
  tail: Promise<unknown>;
}

export interface SessionOptions {
  /** This worker's tag (letters and digits), the middle of its session ids. */
  worker: string;
  idleTimeoutMs: number;
  maxSessions: number;
  /** A new transaction for a session. */
  begin(): Transaction;
  /** Told when an idle session was rolled back. */
  onExpired?(id: string): void;
}

export class SessionRegistry {
  readonly #options: SessionOptions;
  readonly #sessions = new Map<string, Session>();

  constructor(options: SessionOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** The worker tag a session id names, or undefined if it is not a session id. */
  static ownerOf(id: string): string | undefined {
    return /^s\.([A-Za-z0-9]+)\.[A-Za-z0-9]+$/.exec(id)?.[1];
  }

  holds(id: string): boolean {
    return this.#sessions.has(id);
  }

  open(): SqlSessionInfo {
    if (this.#sessions.size >= this.#options.maxSessions) {
      throw new EntenteError(
        "UNAVAILABLE",
        `this worker holds ${this.#sessions.size} open transactions, its limit (writes.maxSessions); commit or roll back one, or retry`,
      );
    }
    const id = `s.${this.#options.worker}.${nuid.next()}`;
    const tx = this.#options.begin();
    this.#sessions.set(id, {
      tx,
      timer: this.#idleTimer(id),
      pending: 0,
      tail: Promise.resolve(),
    });
    return { id, idleTimeoutMs: this.#options.idleTimeoutMs };
  }

  /**
   * Runs one statement of a session, after the one before it. A statement that fails rolls the
   * whole transaction back, as PostgreSQL's aborted transaction would refuse all that follows.
   */
  run<T>(id: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    const session = this.#get(id);
    clearTimeout(session.timer);
    session.timer = undefined;
    session.pending++;
    const run = session.tail.then(async () => {
      if (this.#sessions.get(id) !== session) throw gone(id);
      try {
        return await work(session.tx);
      } catch (err) {
        this.#sessions.delete(id);
        await session.tx.rollback().catch(() => {});
        throw rolledBackBy(id, err);
      }
    });
    session.tail = run.then(
      () => this.#settled(id, session),
      () => this.#settled(id, session),
    );
    return run;
  }

  /** A statement is done: the idle clock starts again once none is queued. */
  #settled(id: string, session: Session): void {
    session.pending--;
    if (session.pending === 0 && this.#sessions.get(id) === session) {
      session.timer = this.#idleTimer(id);
    }
  }

  /** Ends a session with COMMIT or ROLLBACK. */
  end<T>(id: string, work: (tx: Transaction) => Promise<T>): Promise<T> {
    const session = this.#get(id);
    clearTimeout(session.timer);
    session.timer = undefined;
    session.pending++;
    const run = session.tail.then(() => {
      if (this.#sessions.get(id) !== session) throw gone(id);
      this.#sessions.delete(id);
      return work(session.tx);
    });
    session.tail = run.catch(() => {});
    return run;
  }

  /** Rolls back every open session (the worker stops). */
  async closeAll(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(
      sessions.map(async (s) => {
        clearTimeout(s.timer);
        await s.tail;
        await s.tx.rollback().catch(() => {});
      }),
    );
  }

  #get(id: string): Session {
    const session = this.#sessions.get(id);
    if (!session) throw gone(id);
    return session;
  }

  #idleTimer(id: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const session = this.#sessions.get(id);
      if (!session) return;
      this.#sessions.delete(id);
      void session.tail.then(() => session.tx.rollback().catch(() => {}));
      this.#options.onExpired?.(id);
    }, this.#options.idleTimeoutMs);
    timer.unref();
    return timer;
  }
}

function gone(id: string): EntenteError {
  return new EntenteError(
    "NOT_FOUND",
    `no open transaction "${id}": it was committed, rolled back, or rolled back after being idle longer than writes.sessionIdleMs`,
    { details: { session: id } },
  );
}

function rolledBackBy(id: string, err: unknown): EntenteError {
  const e =
    err instanceof EntenteError
      ? err
      : new EntenteError("INTERNAL", String((err as Error)?.message ?? err));
  return new EntenteError(e.code, `${e.message} (transaction ${id} was rolled back)`, {
    ...(e.details ? { details: e.details } : {}),
  });
}

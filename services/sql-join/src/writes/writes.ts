/**
 * Writes and transactions on `entente.sql`: a single write in a transaction of its own, a
 * `statements` list as one transaction, and interactive sessions (BEGIN … COMMIT over several
 * requests). Owns what every transaction of the worker shares: the sources it may write, the
 * decision log, recovery, and the open sessions.
 */
import type { Connector } from "@entente/connectors";
import { transactionsOf } from "@entente/connectors";
import {
  EntenteError,
  type SqlRequest,
  type SqlResultItem,
  type SqlStatementResult,
  type TxRequest,
} from "@entente/protocol";
import type { EntenteClient, Logger, RequestContext } from "@entente/runtime";
import type { ParsedStatement, SourceRunner } from "@entente/sql";
import type { NatsConnection } from "@nats-io/nats-core";
import type { SqlEngine } from "../engine.ts";
import type { WritesSettings } from "./config.ts";
import { DecisionLog } from "./decision-log.ts";
import { Recovery } from "./recovery.ts";
import { runInTransaction } from "./run-statement.ts";
import { SessionRegistry } from "./sessions.ts";
import { TransactionStats } from "./stats.ts";
import { Transaction, type TransactionEnvironment } from "./transaction.ts";
import { transactionId, transactionPrefix, workerTag } from "./tx-ids.ts";

/** What a write needs of its request: when it ends, and its span (a commit's steps go under it). */
export type WriteContext = Pick<RequestContext, "signal" | "deadline"> &
  Partial<Pick<RequestContext, "trace">>;

export interface WritesOptions {
  engine: SqlEngine;
  runner: SourceRunner;
  settings: WritesSettings;
  nc: NatsConnection;
  deployment: string;
  region: number;
  /** This worker's id; its tag names it in transaction and session ids. */
  workerId: string;
  client: EntenteClient;
  /** Where a session's statements reach the worker holding it. */
  sessionSubject: (worker: string) => string;
  logger: Logger;
  parse(sql: string, signal: AbortSignal): Promise<ParsedStatement>;
}

export class Writes {
  readonly stats = new TransactionStats();
  readonly worker: string;
  readonly sessions: SessionRegistry;
  readonly #options: WritesOptions;
  readonly #env: TransactionEnvironment;
  readonly #recovery: Recovery | undefined;
  #sequence = 0;
  #timer: NodeJS.Timeout | undefined;

  private constructor(options: WritesOptions, log: DecisionLog | undefined) {
    this.#options = options;
    this.worker = workerTag(options.workerId);
    const connectors = options.engine.catalog.connectors as ReadonlyMap<string, Connector>;
    const refusals = new Map<string, string | undefined>();
    const tables = new Set<string>();
    this.#env = {
      connectors,
      writable: new Set(options.settings.sources),
      log,
      worker: this.worker,
      stats: this.stats,
      async twoPhaseRefusal(source) {
        if (refusals.has(source)) return refusals.get(source);
        const connector = connectors.get(source);
        if (!connector) return `unknown source "${source}"`;
        const refusal = await transactionsOf(connector).twoPhaseRefusal();
        refusals.set(source, refusal);
        return refusal;
      },
      async ensureIdempotencyTable(source) {
        if (tables.has(source)) return;
        const connector = connectors.get(source);
        if (!connector) throw new EntenteError("NOT_FOUND", `unknown source "${source}"`);
        await transactionsOf(connector).ensureIdempotencyTable();
        tables.add(source);
      },
    };
    this.sessions = new SessionRegistry({
      worker: this.worker,
      idleTimeoutMs: options.settings.sessionIdleMs,
      maxSessions: options.settings.maxSessions,
      begin: () => this.#newTransaction(),
      onExpired: (id) => options.logger.info({ session: id }, "idle transaction rolled back"),
    });
    this.#recovery =
      log &&
      new Recovery({
        connectors,
        writable: options.settings.sources,
        twoPhaseRefusal: (s) => this.#env.twoPhaseRefusal(s),
        log,
        stats: this.stats,
        logger: options.logger,
        recoverAfterMs: options.settings.recoverAfterMs,
        worker: this.worker,
        prefix: transactionPrefix(log.scope, options.region),
      });
  }

  /**
   * Checks the configured sources, opens the decision log (when JetStream is there) and starts
   * recovery. A writable source that cannot prepare is reported: it still takes transactions
   * of its own, but none across sources.
   */
  static async open(options: WritesOptions): Promise<Writes> {
    const known = options.engine.catalog.connectors;
    const unknown = options.settings.sources.filter((s) => !known.has(s));
    if (unknown.length > 0) {
      throw new EntenteError(
        "BAD_REQUEST",
        `writes.sources names ${unknown.map((s) => `"${s}"`).join(", ")}, not a source of this worker (${[...known.keys()].join(", ")})`,
      );
    }
    let log: DecisionLog | undefined;
    if (options.settings.sources.length > 0) {
      try {
        log = await DecisionLog.open(options.nc, options.deployment, {
          replicas: options.settings.logReplicas,
          retentionMs: options.settings.logRetentionMs,
        });
      } catch (err) {
        options.logger.warn(
          { err },
          "no transaction decision log (JetStream?): transactions may write one source only",
        );
      }
    }
    const writes = new Writes(options, log);
    for (const source of options.settings.sources) {
      const refusal = await writes.#env.twoPhaseRefusal(source).catch((err: Error) => err.message);
      if (refusal !== undefined) {
        options.logger.warn(
          { source },
          `source "${source}" takes writes but no transaction across sources: ${refusal}`,
        );
      }
    }
    writes.#startRecovery();
    return writes;
  }

  /** One write, committed on its own (across sources by two-phase commit when it spans several). */
  async single(
    statement: ParsedStatement,
    request: SqlRequest,
    context: WriteContext,
  ): Promise<SqlResultItem> {
    if (statement.kind === "begin") return { session: this.sessions.open() };
    if (statement.kind === "commit" || statement.kind === "rollback") {
      throw new EntenteError(
        "BAD_REQUEST",
        `${statement.kind.toUpperCase()} without a transaction: send it with the session id BEGIN answered`,
      );
    }
    const tx = this.#newTransaction(request.idempotencyKey);
    let result: SqlStatementResult;
    try {
      result = await runInTransaction(
        statement,
        request.params ?? [],
        tx,
        this.#statementEnv(context),
      );
    } catch (err) {
      await tx.rollback();
      throw err;
    }
    if (tx.alreadyApplied) {
      await tx.rollback();
      return alreadyApplied();
    }
    const outcome = await tx.commit(context.trace);
    return { ...resultItem(result), ...(outcome.twoPhase ? { transaction: outcome } : {}) };
  }

  /** A `statements` list: every statement in one transaction, all committed or none. */
  async list(request: SqlRequest, context: WriteContext): Promise<SqlResultItem> {
    const items = request.statements ?? [];
    if (items.length > this.#options.settings.maxStatements) {
      throw new EntenteError(
        "TOO_LARGE",
        `a transaction has at most ${this.#options.settings.maxStatements} statements (writes.maxStatements); this one has ${items.length}`,
      );
    }
    const parsed: ParsedStatement[] = [];
    for (const [i, item] of items.entries()) {
      const statement = await atStatement(i, () => this.#options.parse(item.sql, context.signal));
      if (!["select", "insert", "update", "delete"].includes(statement.kind)) {
        throw new EntenteError(
          "BAD_REQUEST",
          `statements[${i}]: ${statement.kind.toUpperCase()} is not needed: the statements list is one transaction`,
        );
      }
      parsed.push(statement);
    }
    const tx = this.#newTransaction(request.idempotencyKey);
    const results: SqlStatementResult[] = [];
    try {
      for (const [i, statement] of parsed.entries()) {
        const params = items[i]?.params ?? [];
        results.push(
          await atStatement(i, () =>
            runInTransaction(statement, params, tx, this.#statementEnv(context)),
          ),
        );
        if (tx.alreadyApplied) break;
      }
    } catch (err) {
      await tx.rollback();
      throw err;
    }
    if (tx.alreadyApplied) {
      await tx.rollback();
      return alreadyApplied();
    }
    return { results, transaction: await tx.commit(context.trace) };
  }

  /** A statement of an interactive session, held here or by another worker. */
  async inSession(
    request: SqlRequest,
    context: WriteContext,
    forward: boolean,
  ): Promise<SqlResultItem> {
    const id = request.session as string;
    if (request.idempotencyKey !== undefined) {
      throw new EntenteError(
        "BAD_REQUEST",
        "idempotencyKey is not taken inside a session: send it with a single write or a statements list",
      );
    }
    if (!this.sessions.holds(id)) {
      const owner = SessionRegistry.ownerOf(id);
      if (forward && owner !== undefined && owner !== this.worker) {
        return this.#forward(owner, request, context);
      }
    }
    const statement = await this.#options.parse(request.sql ?? "", context.signal);
    if (statement.kind === "begin") {
      throw new EntenteError("BAD_REQUEST", `transaction ${id} is already open`);
    }
    if (statement.kind === "commit") {
      return { transaction: await this.sessions.end(id, (tx) => tx.commit(context.trace)) };
    }
    if (statement.kind === "rollback") {
      return this.sessions.end(id, async (tx) => {
        await tx.rollback();
        return {
          transaction: {
            id: tx.id,
            outcome: "rolled back",
            participants: tx.sources,
            twoPhase: false,
          },
        };
      });
    }
    return this.sessions.run(id, async (tx) => {
      const result = await runInTransaction(
        statement,
        request.params ?? [],
        tx,
        this.#statementEnv(context),
      );
      return resultItem(result);
    });
  }

  /** `entente.tx`: in-doubt transactions listed, committed or rolled back by hand. */
  async admin(request: TxRequest): Promise<unknown> {
    if (!this.#recovery) {
      throw new EntenteError(
        "UNAVAILABLE",
        "this worker keeps no transaction decision log: it writes no source, or its NATS server has no JetStream",
      );
    }
    if (request.op === "list") return this.#recovery.list();
    return this.#recovery.resolve(request.id, request.op);
  }

  /** One recovery round now (tests, and the periodic timer). */
  recover(nowMs?: number): Promise<void> {
    return this.#recovery ? this.#recovery.round(nowMs) : Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.sessions.closeAll();
  }

  #startRecovery(): void {
    if (!this.#recovery) return;
    const run = () =>
      this.recover().catch((err) =>
        this.#options.logger.warn({ err }, "transaction recovery round failed"),
      );
    void run();
    this.#timer = setInterval(run, this.#options.settings.recoverEveryMs);
    this.#timer.unref();
  }

  #newTransaction(idempotencyKey?: string): Transaction {
    const id = transactionId(
      {
        scope: this.#env.log?.scope ?? this.#options.deployment,
        region: this.#options.region,
        worker: this.worker,
        startedAtMs: Date.now(),
      },
      this.#sequence++,
    );
    return new Transaction(id, this.#env, idempotencyKey);
  }

  #statementEnv(context: WriteContext) {
    return {
      engine: this.#options.engine,
      runner: this.#options.runner,
      signal: context.signal,
      maxRows: this.#options.settings.maxRows,
    };
  }

  async #forward(owner: string, request: SqlRequest, context: WriteContext) {
    const items = await this.#options.client.collect<SqlResultItem>(
      this.#options.sessionSubject(owner),
      request,
      { parent: context, service: "sql-join" },
    );
    return Object.assign({}, ...items) as SqlResultItem;
  }
}

function resultItem(result: SqlStatementResult): SqlResultItem {
  if (result.affectedRows === undefined)
    return { columns: result.columns ?? [], rows: result.rows ?? [] };
  return {
    columns: [{ name: "affected_rows", type: "bigint" }],
    rows: [[result.affectedRows]],
    affectedRows: result.affectedRows,
  };
}

function alreadyApplied(): SqlResultItem {
  return {
    columns: [{ name: "affected_rows", type: "bigint" }],
    rows: [[0]],
    affectedRows: 0,
    alreadyApplied: true,
  };
}

/** Runs one statement of a list; its failure names its place. */
async function atStatement<T>(index: number, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof EntenteError) {
      throw new EntenteError(err.code, `statements[${index}]: ${err.message}`, {
        ...(err.details
          ? { details: { ...err.details, statement: index } }
          : { details: { statement: index } }),
        retryable: err.retryable,
      });
    }
    throw err;
  }
}

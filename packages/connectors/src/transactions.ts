/**
 * Transactions on one source, in its own words: local transactions on a session, and the
 * participant's half of two-phase commit (PostgreSQL `PREPARE TRANSACTION`, MariaDB/MySQL
 * `XA`). DuckDB has local transactions only. The coordinator that decides lives elsewhere;
 * this module only speaks each database's statements.
 */
import { EntenteError } from "@entente/protocol";
import type { BoundStatement, Connector, Row, SourceSession, Value } from "./types.ts";

/** A transaction prepared on a source and not yet committed or rolled back (in doubt). */
export interface PreparedTransaction {
  gid: string;
  /** When the source prepared it, where the source records that (PostgreSQL does). */
  preparedAtMs?: number;
}

export interface SourceTransactions {
  /**
   * Why this source cannot prepare a transaction for two-phase commit, or undefined when it
   * can: e.g. PostgreSQL with `max_prepared_transactions = 0`, or DuckDB, which has no
   * prepared transactions.
   */
  twoPhaseRefusal(): Promise<string | undefined>;
  /**
   * Starts a transaction on `session`. With a `gid`, one that may later be prepared under that
   * id (MariaDB needs `XA START` from the first statement on).
   */
  begin(session: SourceSession, gid?: string): Promise<void>;
  /** Commits in one phase: the whole transaction of a source that is the only participant. */
  commit(session: SourceSession, gid?: string): Promise<void>;
  /** Rolls back a transaction that has not been prepared. */
  rollback(session: SourceSession, gid?: string): Promise<void>;
  /** Prepares: from here the transaction survives the session and the coordinator decides. */
  prepare(session: SourceSession, gid: string): Promise<void>;
  /**
   * Commits a prepared transaction: on `session` (the one that prepared it, which MariaDB
   * requires while that connection lives) or, without one, on a fresh connection. Committing
   * one that is no longer prepared (already committed) is not an error: recovery repeats it.
   *
   * MariaDB (verified on 10.11): while the preparing connection is open, `XA COMMIT` from
   * another connection fails with XAER_NOTA "Unknown XID" although `XA RECOVER` lists the
   * transaction; once that connection has closed, any connection commits it. So a gid that
   * is unknown but still listed is refused (UNAVAILABLE, retryable) rather than taken as
   * committed: discard the preparing session first, or commit on it.
   */
  commitPrepared(gid: string, session?: SourceSession): Promise<void>;
  /** Rolls back a prepared transaction; one that is no longer there is not an error. */
  rollbackPrepared(gid: string, session?: SourceSession): Promise<void>;
  /**
   * The source's prepared transactions whose gid starts with `prefix`. MariaDB's `XA RECOVER`
   * needs no privilege beyond connecting (verified on 10.11 with a user granted only SELECT and
   * INSERT on one database; MySQL 8 requires XA_RECOVER_ADMIN instead) and lists the prepared
   * transactions of every user.
   */
  listPrepared(prefix: string): Promise<PreparedTransaction[]>;
  /**
   * Creates the source's `entente_idempotency` table (key, time) if it is not there, outside
   * any transaction (DDL commits implicitly in MariaDB).
   */
  ensureIdempotencyTable(): Promise<void>;
  /**
   * Records `key` in that table within the transaction open on `session`: false when it was
   * recorded already (by a committed transaction; a concurrent one is waited for), so the work
   * it guards was done before and must not be done again.
   */
  claimIdempotencyKey(session: SourceSession, key: string): Promise<boolean>;
}

/** A gid goes into statements as a literal, so only these characters; MariaDB's gtrid limit. */
const GID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** The gid as a quoted SQL literal; any other gid is a programming error. */
export function gidLiteral(gid: string): string {
  if (!GID_PATTERN.test(gid)) {
    throw new Error(
      `invalid transaction id ${JSON.stringify(gid)}: use 1 to 64 of A-Z a-z 0-9 . _ : -`,
    );
  }
  return `'${gid}'`;
}

/**
 * The table of used idempotency keys. Keys compare byte for byte: MariaDB's default collation
 * would take `Key` and `key` for one key, so there the column is binary.
 */
export function idempotencyTableSql(kind: "postgres" | "mysql" | "duckdb"): string {
  const key = kind === "mysql" ? "varbinary(200)" : "varchar(200)";
  return (
    `CREATE TABLE IF NOT EXISTS entente_idempotency (idempotency_key ${key} PRIMARY KEY, ` +
    "applied_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)"
  );
}

/** The statements of one database's local transactions, each a list run in order. */
export interface LocalTransactionSql {
  begin(gid?: string): string[];
  commit(gid?: string): string[];
  rollback(gid?: string): string[];
  /** Inserts the key given as the one parameter, doing nothing when it is there already. */
  claimKey: string;
}

export interface TwoPhaseSql extends LocalTransactionSql {
  prepare(gid: string): string[];
  commitPrepared(gid: string): string;
  rollbackPrepared(gid: string): string;
}

export const postgresTransactionSql: TwoPhaseSql = {
  begin: () => ["BEGIN"],
  commit: () => ["COMMIT"],
  rollback: () => ["ROLLBACK"],
  prepare: (gid) => [`PREPARE TRANSACTION ${gidLiteral(gid)}`],
  commitPrepared: (gid) => `COMMIT PREPARED ${gidLiteral(gid)}`,
  rollbackPrepared: (gid) => `ROLLBACK PREPARED ${gidLiteral(gid)}`,
  claimKey: "INSERT INTO entente_idempotency (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING",
};

/** With a gid an XA transaction from the start, since MariaDB cannot turn a local one into XA. */
export const mysqlTransactionSql: TwoPhaseSql = {
  begin: (gid) => (gid === undefined ? ["START TRANSACTION"] : [`XA START ${gidLiteral(gid)}`]),
  commit: (gid) =>
    gid === undefined
      ? ["COMMIT"]
      : [`XA END ${gidLiteral(gid)}`, `XA COMMIT ${gidLiteral(gid)} ONE PHASE`],
  rollback: (gid) =>
    gid === undefined
      ? ["ROLLBACK"]
      : [`XA END ${gidLiteral(gid)}`, `XA ROLLBACK ${gidLiteral(gid)}`],
  prepare: (gid) => [`XA END ${gidLiteral(gid)}`, `XA PREPARE ${gidLiteral(gid)}`],
  commitPrepared: (gid) => `XA COMMIT ${gidLiteral(gid)}`,
  rollbackPrepared: (gid) => `XA ROLLBACK ${gidLiteral(gid)}`,
  claimKey: "INSERT IGNORE INTO entente_idempotency (idempotency_key) VALUES (?)",
};

export const duckdbTransactionSql: LocalTransactionSql = {
  begin: () => ["BEGIN TRANSACTION"],
  commit: () => ["COMMIT"],
  rollback: () => ["ROLLBACK"],
  claimKey: "INSERT INTO entente_idempotency (idempotency_key) VALUES ($1) ON CONFLICT DO NOTHING",
};

/** The driver's code for "no such prepared transaction". */
const UNKNOWN_GID_CODE = { postgres: "42704", mysql: "ER_XAER_NOTA" } as const;

export function transactionsOf(connector: Connector): SourceTransactions {
  switch (connector.kind) {
    case "postgres":
      return new TwoPhaseTransactions(connector, postgresTransactionSql, {
        unknownGidCode: UNKNOWN_GID_CODE.postgres,
        twoPhaseRefusal: () => postgresRefusal(connector),
        listPrepared: (prefix) => postgresPrepared(connector, prefix),
      });
    case "mysql":
      return new TwoPhaseTransactions(connector, mysqlTransactionSql, {
        unknownGidCode: UNKNOWN_GID_CODE.mysql,
        twoPhaseRefusal: async () => undefined,
        listPrepared: (prefix) => mysqlPrepared(connector, prefix),
      });
    case "duckdb":
      return new LocalTransactions(connector, duckdbTransactionSql);
    case "coldstore":
      throw new EntenteError(
        "UNSUPPORTED",
        `source "${connector.name}" is a cold store: it takes no writes and no transactions; its rows arrive through a tier lifecycle`,
      );
  }
}

interface TwoPhaseParts {
  unknownGidCode: string;
  twoPhaseRefusal(): Promise<string | undefined>;
  listPrepared(prefix: string): Promise<PreparedTransaction[]>;
}

/** Local transactions only: DuckDB. */
class LocalTransactions implements SourceTransactions {
  protected readonly connector: Connector;
  protected readonly sql: LocalTransactionSql;

  constructor(connector: Connector, sql: LocalTransactionSql) {
    this.connector = connector;
    this.sql = sql;
  }

  async twoPhaseRefusal(): Promise<string | undefined> {
    return `DuckDB source "${this.connector.name}" has no prepared transactions, so it cannot take part in a transaction across databases`;
  }

  async begin(session: SourceSession, gid?: string): Promise<void> {
    // A bad gid fails before any work is done under it, not at prepare.
    if (gid !== undefined) gidLiteral(gid);
    await runAll(session, this.sql.begin(gid));
  }

  commit(session: SourceSession, gid?: string): Promise<void> {
    return runAll(session, this.sql.commit(gid));
  }

  rollback(session: SourceSession, gid?: string): Promise<void> {
    return runAll(session, this.sql.rollback(gid));
  }

  async prepare(_session: SourceSession, _gid: string): Promise<void> {
    throw this.#unsupported();
  }

  async commitPrepared(_gid: string, _session?: SourceSession): Promise<void> {
    throw this.#unsupported();
  }

  async rollbackPrepared(_gid: string, _session?: SourceSession): Promise<void> {
    throw this.#unsupported();
  }

  async listPrepared(_prefix: string): Promise<PreparedTransaction[]> {
    return [];
  }

  async ensureIdempotencyTable(): Promise<void> {
    await this.connector.execute(statement(idempotencyTableSql(this.connector.dialect.kind)));
  }

  async claimIdempotencyKey(session: SourceSession, key: string): Promise<boolean> {
    const inserted = await session.execute({ sql: this.sql.claimKey, params: [key] });
    return inserted === 1;
  }

  #unsupported(): EntenteError {
    return new EntenteError(
      "UNSUPPORTED",
      `DuckDB source "${this.connector.name}" has no prepared transactions`,
      { details: { source: this.connector.name } },
    );
  }
}

/** PostgreSQL and MariaDB: local transactions and the participant's half of two-phase commit. */
class TwoPhaseTransactions extends LocalTransactions {
  readonly #sql: TwoPhaseSql;
  readonly #parts: TwoPhaseParts;

  constructor(connector: Connector, sql: TwoPhaseSql, parts: TwoPhaseParts) {
    super(connector, sql);
    this.#sql = sql;
    this.#parts = parts;
  }

  override twoPhaseRefusal(): Promise<string | undefined> {
    return this.#parts.twoPhaseRefusal();
  }

  override prepare(session: SourceSession, gid: string): Promise<void> {
    return runAll(session, this.#sql.prepare(gid));
  }

  override async commitPrepared(gid: string, session?: SourceSession): Promise<void> {
    const sql = this.#sql.commitPrepared(gid);
    await this.#onSession(session, (s) => this.#finish(s, sql, gid));
  }

  override async rollbackPrepared(gid: string, session?: SourceSession): Promise<void> {
    const sql = this.#sql.rollbackPrepared(gid);
    await this.#onSession(session, (s) => this.#finish(s, sql, gid));
  }

  override listPrepared(prefix: string): Promise<PreparedTransaction[]> {
    return this.#parts.listPrepared(prefix);
  }

  /** Runs a statement that ends `gid`; a gid the source no longer knows was ended already. */
  async #finish(session: SourceSession, sql: string, gid: string): Promise<void> {
    try {
      await session.execute(statement(sql));
    } catch (err) {
      if (!(err instanceof EntenteError) || err.details?.driverCode !== this.#parts.unknownGidCode)
        throw err;
      await this.#refuseIfStillPrepared(gid, err);
    }
  }

  /** MariaDB hides a prepared transaction from other connections while its own one lives. */
  async #refuseIfStillPrepared(gid: string, cause: EntenteError): Promise<void> {
    const prepared = await this.#parts.listPrepared(gid);
    if (!prepared.some((p) => p.gid === gid)) return;
    throw new EntenteError(
      "UNAVAILABLE",
      `source "${this.connector.name}": prepared transaction ${gid} is still held by the connection that prepared it; end it there, or once that connection has closed`,
      { retryable: true, details: { source: this.connector.name, gid }, cause },
    );
  }

  async #onSession(
    session: SourceSession | undefined,
    work: (session: SourceSession) => Promise<void>,
  ): Promise<void> {
    if (session !== undefined) return work(session);
    const fresh = await this.connector.openSession();
    let failed = true;
    try {
      await work(fresh);
      failed = false;
    } finally {
      await fresh.release(failed);
    }
  }
}

async function postgresRefusal(connector: Connector): Promise<string | undefined> {
  const [row] = await rowsOf(connector, "SHOW max_prepared_transactions");
  if (Number(row?.[0]) > 0) return undefined;
  return (
    `PostgreSQL source "${connector.name}" has max_prepared_transactions = ${String(row?.[0])}, ` +
    "so it cannot prepare transactions: set max_prepared_transactions above 0 " +
    "(postgresql.conf) and restart the server"
  );
}

async function postgresPrepared(
  connector: Connector,
  prefix: string,
): Promise<PreparedTransaction[]> {
  const rows = await rowsOf(
    connector,
    "SELECT gid, prepared FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1 ORDER BY prepared",
    [`${likeEscape(prefix)}%`],
  );
  return rows.map(([gid, prepared]) => {
    const found: PreparedTransaction = { gid: String(gid) };
    // Timestamps arrive as nanoseconds since the epoch.
    if (typeof prepared === "bigint") found.preparedAtMs = Number(prepared / 1_000_000n);
    return found;
  });
}

/**
 * `XA RECOVER` lists every prepared XA transaction; `data` is gtrid followed by bqual. Only
 * gtrids are used here, so the first `gtrid_length` characters are the gid.
 */
async function mysqlPrepared(connector: Connector, prefix: string): Promise<PreparedTransaction[]> {
  const rows = await rowsOf(connector, "XA RECOVER");
  return rows
    .map(([, gtridLength, , data]) => ({ gid: textOf(data).slice(0, Number(gtridLength)) }))
    .filter(({ gid }) => gid.startsWith(prefix));
}

function textOf(value: Value): string {
  return value instanceof Uint8Array ? Buffer.from(value).toString("utf8") : String(value);
}

/** `%`, `_` and `\` match themselves (PostgreSQL's default LIKE escape is `\`). */
function likeEscape(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
}

function statement(sql: string, params: Value[] = []): BoundStatement {
  return { sql, params };
}

async function runAll(session: SourceSession, sqls: readonly string[]): Promise<void> {
  for (const sql of sqls) await session.execute(statement(sql));
}

async function rowsOf(connector: Connector, sql: string, params: Value[] = []): Promise<Row[]> {
  const result = await connector.query(statement(sql, params));
  const rows: Row[] = [];
  for await (const batch of result.batches) rows.push(...batch);
  return rows;
}

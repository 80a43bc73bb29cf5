/**
 * Typed calls to every public subject of Entente. Requests and replies are the wire contract's
 * (@entente/protocol); the runtime's `EntenteClient` carries them with deadlines and traces.
 */
import {
  type AddLinkReply,
  type AnswerItem,
  bridgeSubjectsOf,
  type CatalogRequest,
  type CatalogTablesReply,
  collectSqlResult,
  type DataGetReply,
  type DataPutReply,
  DEFAULT_DEPLOYMENT,
  type DeploymentSubjects,
  type EchoReply,
  type IdInput,
  type IngestPoint,
  type IngestReply,
  joinAnswerItems,
  joinPromqlItems,
  type LinkInput,
  type LinkListReply,
  type PromqlAnswer,
  type PromqlLabelsAnswer,
  type PromqlLabelsRequest,
  type PromqlRequest,
  type PromqlSeriesAnswer,
  type PromqlSeriesRequest,
  promqlLabelsSubject,
  promqlSeriesSubject,
  promqlValuesSubject,
  type QueryRequest,
  type RemoveLinkReply,
  type SqlResult,
  type SqlStatement,
  subjectsOf,
  type TableStatsReply,
  type TiersRequest,
  type TxListReply,
  type TxRequest,
  type TxResolveReply,
  type WorkerInfo,
} from "@entente/protocol";
import type { CallOptions, EntenteClient } from "@entente/runtime";

/** A row with its bigints as decimal strings. */
function exactRow(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]),
  );
}

/** A call's budget and cancellation. */
export interface CallBudget {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SqlCallOptions extends CallBudget {
  /** Values of `$1`, `$2`, … */
  params?: unknown[];
  /** The plan and the statements sent to each source instead of rows. */
  explain?: boolean;
  /** false: the sources only read columns and the engine runs every operator. */
  pushdown?: boolean;
  /** The interactive transaction (from BEGIN's reply) the statement belongs to. */
  session?: string;
  /** A write applied at most once per key. */
  idempotencyKey?: string;
}

export interface DataGetCallOptions extends CallBudget {
  /** The columns to answer with (default: all of the table's). */
  columns?: string[];
}

export interface QueryCallOptions extends CallBudget {
  /** A federation's query subject other than the deployment's `<deployment>.query`. */
  subject?: string;
}

export interface PromqlCallOptions extends CallBudget {
  /** A federation's PromQL subject other than the deployment's `<deployment>.promql`. */
  subject?: string;
}

/** The budget and cancellation of one call: the deadline travels in the request's header. */
function callOptions(options: CallBudget): CallOptions {
  return {
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

/**
 * A call whose first reply may come only when its work is done (a heavy statement, a move): its
 * time budget is the whole wait, with no shorter stall limit before the first item.
 */
function wholeBudget(options: CallBudget): CallOptions {
  return {
    ...callOptions(options),
    ...(options.timeoutMs === undefined ? {} : { stallTimeoutMs: options.timeoutMs }),
  };
}

export interface EntenteOptions {
  /** The deployment whose subjects are called (default `entente`). */
  deployment?: string;
}

export class Entente {
  readonly client: EntenteClient;
  readonly subjects: DeploymentSubjects;
  private readonly bridgeSubjects: ReturnType<typeof bridgeSubjectsOf>;

  constructor(client: EntenteClient, options: EntenteOptions = {}) {
    this.client = client;
    const deployment = options.deployment ?? DEFAULT_DEPLOYMENT;
    this.subjects = subjectsOf(deployment);
    this.bridgeSubjects = bridgeSubjectsOf(deployment);
  }

  /** One read-only SQL statement across the configured sources (sql-join). */
  async sql(statement: string, options: SqlCallOptions = {}): Promise<SqlResult> {
    const body = {
      sql: statement,
      ...(options.params && options.params.length > 0 ? { params: options.params } : {}),
      ...(options.explain ? { explain: true } : {}),
      ...(options.pushdown === false ? { pushdown: false } : {}),
      ...(options.session === undefined ? {} : { session: options.session }),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    };
    return collectSqlResult(
      await this.client.collect(this.subjects.sql, body, wholeBudget(options)),
    );
  }

  /** Statements run in order as one transaction: all take effect, or none. */
  async transaction(
    statements: SqlStatement[],
    options: CallBudget & { idempotencyKey?: string } = {},
  ): Promise<SqlResult> {
    const body = {
      statements,
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
    };
    return collectSqlResult(
      await this.client.collect(this.subjects.sql, body, wholeBudget(options)),
    );
  }

  /**
   * Tiered tables and the cold store: moves, maintenance, retention, materialized results. The
   * reply's shape follows the op (see the tiers contract).
   */
  tiers(request: TiersRequest, options: CallBudget = {}): Promise<unknown> {
    // A move, a compaction or a materialization answers only when it ends.
    return this.client.request(this.subjects.tiers, request, wholeBudget(options));
  }

  /** Every table the SQL engine knows, or one table's statistics. */
  catalog(
    request: CatalogRequest,
    options: CallBudget = {},
  ): Promise<CatalogTablesReply | TableStatsReply> {
    return this.client.request(this.subjects.catalog, request, callOptions(options));
  }

  /** In-doubt distributed transactions, or one committed or rolled back by hand. */
  tx(request: TxRequest, options: CallBudget = {}): Promise<TxListReply | TxResolveReply> {
    return this.client.request(this.subjects.tx, request, callOptions(options));
  }

  /** One federated metric query; a large answer's items are joined into one. */
  async query(request: QueryRequest, options: QueryCallOptions = {}): Promise<AnswerItem> {
    const items = await this.client.collect(
      options.subject ?? this.subjects.query,
      request,
      callOptions(options),
    );
    return joinAnswerItems(items);
  }

  /**
   * One PromQL query (instant, or range with start, end and step) over the federation's
   * instances, answered as Prometheus' `data`; a large answer's items are joined into one.
   */
  async promql(request: PromqlRequest, options: PromqlCallOptions = {}): Promise<PromqlAnswer> {
    const items = await this.client.collect(
      options.subject ?? this.subjects.promql,
      request,
      callOptions(options),
    );
    return joinPromqlItems(items);
  }

  /** The label sets of the series matching any of the request's selectors. */
  promqlSeries(
    request: PromqlSeriesRequest,
    options: PromqlCallOptions = {},
  ): Promise<PromqlSeriesAnswer> {
    return this.client.request<PromqlSeriesAnswer>(
      promqlSeriesSubject(options.subject ?? this.subjects.promql),
      request,
      callOptions(options),
    );
  }

  /** Label names of the series matching the selectors (of every series without). */
  promqlLabels(
    request: Omit<PromqlLabelsRequest, "name"> = {},
    options: PromqlCallOptions = {},
  ): Promise<PromqlLabelsAnswer> {
    return this.client.request<PromqlLabelsAnswer>(
      promqlLabelsSubject(options.subject ?? this.subjects.promql),
      request,
      callOptions(options),
    );
  }

  /** The values label `name` takes among the series matching the selectors. */
  promqlValues(
    name: string,
    request: Omit<PromqlLabelsRequest, "name"> = {},
    options: PromqlCallOptions = {},
  ): Promise<PromqlLabelsAnswer> {
    return this.client.request<PromqlLabelsAnswer>(
      promqlValuesSubject(options.subject ?? this.subjects.promql),
      { ...request, name },
      callOptions(options),
    );
  }

  /** A batch of points into a query-federation instance; the reply names each point refused. */
  ingest(instance: string, points: IngestPoint[], options: CallBudget = {}) {
    return this.client.request<IngestReply>(
      this.subjects.ingest(instance),
      points,
      callOptions(options),
    );
  }

  readonly data = {
    /**
     * Rows of a table (one of the `tables:` section's with an id column) by their 64-bit
     * region-owned ids, from whichever regions own them: one row or null per id, in order, with
     * the ids that have no row (`missing`) and those whose region did not answer (`unanswered`,
     * `partial`).
     */
    get: (table: string, ids: Iterable<IdInput>, options: DataGetCallOptions = {}) =>
      this.client.request<DataGetReply>(
        this.subjects.data.get,
        {
          table,
          // Decimal strings: exact in JSON and MessagePack alike.
          ids: Array.from(ids, (id) => (typeof id === "string" ? id : id.toString())),
          ...(options.columns ? { columns: options.columns } : {}),
        },
        callOptions(options),
      ),
    /**
     * Inserts or updates rows of a writable table (`writable: true` in the `tables:` section) by
     * their ids, each in the region that owns it: the reply names the ids each region wrote and,
     * when a region failed, its ids as `unwritten` and the error in `partial`.
     */
    put: (table: string, rows: Iterable<Record<string, unknown>>, options: CallBudget = {}) =>
      this.client.request<DataPutReply>(
        this.subjects.data.put,
        // Bigints as decimal strings: exact in JSON and MessagePack alike.
        { table, rows: Array.from(rows, (row) => exactRow(row)) },
        callOptions(options),
      ),
  };

  readonly bridge = {
    list: () => this.client.request<LinkListReply>(this.bridgeSubjects.list, {}),
    /** Adds a link, or changes one, on every bridge worker. */
    add: (link: string, definition: LinkInput) =>
      this.client.request<AddLinkReply>(this.bridgeSubjects.add, { link, definition }),
    remove: (link: string) =>
      this.client.request<RemoveLinkReply>(this.bridgeSubjects.remove, { link }),
  };

  readonly diagnostics = {
    echo: (payload: unknown) =>
      this.client.request<EchoReply>(this.subjects.diagnostics.echo, { payload }),
    info: () => this.client.request<WorkerInfo>(this.subjects.diagnostics.info, {}),
  };
}

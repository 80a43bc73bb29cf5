/**
 * Typed calls to every public subject of Entente. Requests and replies are the wire contract's
 * (@entente/protocol); the runtime's `EntenteClient` carries them with deadlines and traces.
 */
import {
  type AddLinkReply,
  type AnswerItem,
  BRIDGE_SUBJECTS,
  collectSqlResult,
  type EchoReply,
  type IngestPoint,
  type IngestReply,
  joinAnswerItems,
  type LinkInput,
  type LinkListReply,
  type QueryRequest,
  type RemoveLinkReply,
  type SqlResult,
  SUBJECTS,
  type WorkerInfo,
} from "@entente/protocol";
import type { CallOptions, EntenteClient } from "@entente/runtime";

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
}

export interface QueryCallOptions extends CallBudget {
  /** A federation's query subject other than `entente.query`. */
  subject?: string;
}

/** The budget and cancellation of one call: the deadline travels in the request's header. */
function callOptions(options: CallBudget): CallOptions {
  return {
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
}

export class Entente {
  readonly client: EntenteClient;

  constructor(client: EntenteClient) {
    this.client = client;
  }

  /** One read-only SQL statement across the configured sources (sql-join). */
  async sql(statement: string, options: SqlCallOptions = {}): Promise<SqlResult> {
    const body = {
      sql: statement,
      ...(options.params && options.params.length > 0 ? { params: options.params } : {}),
      ...(options.explain ? { explain: true } : {}),
      ...(options.pushdown === false ? { pushdown: false } : {}),
    };
    return collectSqlResult(await this.client.collect(SUBJECTS.sql, body, callOptions(options)));
  }

  /** One federated metric query; a large answer's items are joined into one. */
  async query(request: QueryRequest, options: QueryCallOptions = {}): Promise<AnswerItem> {
    const items = await this.client.collect(
      options.subject ?? SUBJECTS.query,
      request,
      callOptions(options),
    );
    return joinAnswerItems(items);
  }

  /** A batch of points into a query-federation instance; the reply names each point refused. */
  ingest(instance: string, points: IngestPoint[], options: CallBudget = {}) {
    return this.client.request<IngestReply>(
      SUBJECTS.ingest(instance),
      points,
      callOptions(options),
    );
  }

  readonly bridge = {
    list: () => this.client.request<LinkListReply>(BRIDGE_SUBJECTS.list, {}),
    /** Adds a link, or changes one, on every bridge worker. */
    add: (link: string, definition: LinkInput) =>
      this.client.request<AddLinkReply>(BRIDGE_SUBJECTS.add, { link, definition }),
    remove: (link: string) =>
      this.client.request<RemoveLinkReply>(BRIDGE_SUBJECTS.remove, { link }),
  };

  readonly diagnostics = {
    echo: (payload: unknown) =>
      this.client.request<EchoReply>(SUBJECTS.diagnostics.echo, { payload }),
    info: () => this.client.request<WorkerInfo>(SUBJECTS.diagnostics.info, {}),
  };
}

/**
 * The NATS calls behind the resolvers. Every operation enters Entente as any client's request
 * does — through `entente.sql`, `entente.catalog` and `entente.tiers` of the service's
 * deployment — so it gets the same spans, deadline, stats and error mapping as every front door.
 */
import {
  type CatalogRequest,
  collectSqlResult,
  type DeploymentSubjects,
  EntenteError,
  type SqlResult,
  type SqlResultItem,
  type TiersRequest,
  toJson,
} from "@entente/protocol";
import type { Deadline, EntenteClient } from "@entente/runtime";
import type { Context } from "@opentelemetry/api";
import { type ByteBudget, HEAP_BYTES_PER_JSON_BYTE } from "./pages.ts";

/**
 * One GraphQL request's deadline (its `entente-timeout-ms` header, else the runtime's longest),
 * cancellation and trace: every call it makes carries them. Each call also has a budget of its
 * own (the field's `timeoutMs`, else `graphql.defaultTimeoutMs`) within that deadline.
 */
export interface CallScope {
  deadline: Deadline;
  signal: AbortSignal;
  trace: Context;
}

export interface TierForReply {
  table: string;
  kind: string;
  column: string;
  at: unknown;
  members: Array<{ label: string; source: string; table: string }>;
}

/** A statement's result with its values as JSON carries them, and its size as JSON. */
export interface JsonSqlResult extends SqlResult {
  bytes: number;
  /** What the result holds of the budget it was read under: the caller gives it back. */
  reserved: number;
}

/** A reply's values as the JSON content type carries them (64-bit integers as decimal text). */
function asJson<T>(value: T): T {
  return JSON.parse(toJson(value)) as T;
}

export class EntenteCalls {
  readonly #client: EntenteClient;
  readonly #subjects: DeploymentSubjects;
  readonly #defaultTimeoutMs: number;

  constructor(client: EntenteClient, subjects: DeploymentSubjects, defaultTimeoutMs: number) {
    this.#client = client;
    this.#subjects = subjects;
    this.#defaultTimeoutMs = defaultTimeoutMs;
  }

  #options(scope: CallScope, timeoutMs: number | undefined) {
    return {
      parent: { deadline: scope.deadline, trace: scope.trace, signal: scope.signal },
      timeoutMs: timeoutMs ?? this.#defaultTimeoutMs,
      service: "graphql",
    };
  }

  /**
   * One statement's whole result, read as it streams in. Values become what the JSON content
   * type of entente.sql carries (64-bit integers as decimal text, bytes as base64). Under a
   * `budget`, each batch of rows takes {@link HEAP_BYTES_PER_JSON_BYTE} times its JSON from it;
   * once the budget (shared by every result being read and kept) cannot hold the next batch,
   * the statement is stopped and refused with TOO_LARGE. The caller releases `reserved`.
   */
  async sql(
    scope: CallScope,
    request: { sql: string; params?: unknown[]; explain?: boolean },
    options: { timeoutMs?: number | undefined; budget?: ByteBudget } = {},
  ): Promise<JsonSqlResult> {
    const body = {
      sql: request.sql,
      ...(request.params && request.params.length > 0 ? { params: request.params } : {}),
      ...(request.explain ? { explain: true } : {}),
    };
    const items: SqlResultItem[] = [];
    const budget = options.budget;
    let bytes = 0;
    let reserved = 0;
    const stream = this.#client.stream<SqlResultItem>(
      this.#subjects.sql,
      body,
      this.#options(scope, options.timeoutMs),
    );
    try {
      for await (const item of stream) {
        if (item.rows) {
          const text = toJson(item.rows);
          bytes += text.length;
          if (budget) {
            const cost = text.length * HEAP_BYTES_PER_JSON_BYTE;
            if (!budget.reserve(cost)) {
              // Leaving the loop stops the producer.
              throw new EntenteError(
                "TOO_LARGE",
                `the result passed ${bytes} bytes as JSON; with the results being read at the same time it is more than graphql.maxKeptBytes (${budget.limit}, counting ${HEAP_BYTES_PER_JSON_BYTE} bytes of memory per byte of JSON) holds; narrow it or add a LIMIT`,
              );
            }
            reserved += cost;
          }
          items.push({ ...item, rows: JSON.parse(text) as unknown[][] });
        } else items.push(item);
      }
      return { ...collectSqlResult(items), bytes, reserved };
    } catch (err) {
      budget?.release(reserved);
      throw err;
    }
  }

  async tierFor(scope: CallScope, table: string, at: string): Promise<TierForReply> {
    const reply = await this.#client.request<TierForReply>(
      this.#subjects.sql,
      { tierFor: { table, at } },
      this.#options(scope, undefined),
    );
    return asJson(reply);
  }

  async catalog<T>(scope: CallScope, request: CatalogRequest): Promise<T> {
    const reply = await this.#client.request<T>(
      this.#subjects.catalog,
      request,
      this.#options(scope, undefined),
    );
    return asJson(reply);
  }

  async tiers<T>(scope: CallScope, request: TiersRequest, timeoutMs?: number): Promise<T> {
    const options = this.#options(scope, timeoutMs);
    // A move, a compaction or a materialization answers only when it ends: no stall before.
    const reply = await this.#client.request<T>(this.#subjects.tiers, request, {
      ...options,
      ...(options.timeoutMs === undefined ? {} : { stallTimeoutMs: options.timeoutMs }),
    });
    return asJson(reply);
  }
}

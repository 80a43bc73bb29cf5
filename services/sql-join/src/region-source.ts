/**
 * Another region's tables as a source. A statement goes to that region's sql-join worker as an
 * `entente.sql` request, carried by the region routers, and its rows stream back as batches. The
 * remote worker plans the statement against its own sources and pushes down there, so what is
 * sent is Entente's own SQL: PostgreSQL syntax (the parser's), computed with the engine's
 * semantics, which is why the capabilities are the engine's and text compares binary.
 *
 * The request carries the statement's remaining time (less a reserve, so a silent region is
 * reported by name before the statement's own deadline) and the caller's abort signal; the client
 * takes the trace context from the active OpenTelemetry context, so the remote worker's spans
 * join the caller's trace.
 */
import {
  type Capabilities,
  type ColumnMeta,
  type Connector,
  postgresDialect,
  type QueryOptions,
  type QueryResult,
  type Row,
  type TableStats,
} from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import type { EntenteClient } from "@entente/runtime";
import type { CatalogTable } from "@entente/sql";
import { regionBudgetMs } from "./owner-request.ts";
import { regionError, replyColumns, replyRows } from "./region-reply.ts";

/** Budget of a catalog lookup in another region: a region that is down must not hold up a start. */
export const DESCRIBE_TIMEOUT_MS = 3_000;

/** The source name of a region: it cannot clash with a configured source (no colon there). */
export function regionSourceName(region: number): string {
  return `region:${region}`;
}

/** What the remote engine runs with its own semantics: everything the renderer writes. */
export function regionCapabilities(): Capabilities {
  return {
    filters: true,
    textComparison: "binary",
    like: true,
    aggregates: true,
    countDistinct: true,
    joins: true,
    orderByNullsOrdering: true,
    limit: true,
    // An `entente.sql` request's parameter limit.
    maxParams: 65_535,
  };
}

export interface RegionSourceOptions {
  region: number;
  client: EntenteClient;
  /** The `entente.sql` subject of this deployment. */
  subject: string;
}

export class RegionSource implements Connector {
  readonly name: string;
  readonly kind = "postgres" as const;
  readonly dialect = postgresDialect;
  readonly capabilities = regionCapabilities();
  readonly region: number;
  private readonly client: EntenteClient;
  private readonly subject: string;

  constructor(options: RegionSourceOptions) {
    this.region = options.region;
    this.name = regionSourceName(options.region);
    this.client = options.client;
    this.subject = options.subject;
  }

  async query(
    statement: { sql: string; params: unknown[] },
    options: QueryOptions = {},
  ): Promise<QueryResult> {
    const { region } = this;
    const timeoutMs =
      options.timeoutMs === undefined ? undefined : regionBudgetMs(options.timeoutMs);
    const items = this.client.stream<unknown>(
      this.subject,
      { sql: statement.sql, params: statement.params },
      {
        region,
        service: "sql-join",
        ...(options.signal ? { signal: options.signal } : {}),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
      },
    );
    let first: IteratorResult<unknown>;
    try {
      first = await items.next();
    } catch (err) {
      throw regionError(region, err);
    }
    if (first.done) {
      throw new EntenteError("BAD_RESPONSE", `region ${region} answered with no result`);
    }
    let columns: ColumnMeta[];
    let head: Row[];
    try {
      columns = replyColumns(region, first.value);
      head = replyRows(region, columns, first.value);
    } catch (err) {
      await items.return(undefined).catch(() => {});
      throw err;
    }
    async function* batches(): AsyncGenerator<Row[]> {
      try {
        if (head.length > 0) yield head;
        for await (const item of items) {
          const rows = replyRows(region, columns, item);
          if (rows.length > 0) yield rows;
        }
      } catch (err) {
        throw regionError(region, err);
      } finally {
        // Stopped early (a LIMIT, a failed sibling): the remote worker is told to stop too.
        await items.return(undefined).catch(() => {});
      }
    }
    return { columns, batches: batches() };
  }

  /** A table of that region, by the name its catalog gives it, with its columns. */
  async describe(path: string[], signal?: AbortSignal): Promise<CatalogTable> {
    const name = path.map((p) => this.dialect.quoteIdentifier(p)).join(".");
    const result = await this.query(
      { sql: `SELECT * FROM ${name} LIMIT 0`, params: [] },
      { timeoutMs: DESCRIBE_TIMEOUT_MS, ...(signal ? { signal } : {}) },
    );
    for await (const _ of result.batches) {
      // LIMIT 0: nothing to read, but the reply is read to its end.
    }
    return {
      source: this.name,
      schema: path.slice(0, -1).join("."),
      name: path[path.length - 1] ?? "",
      path,
      columns: result.columns.map((c) => ({ name: c.name, type: c.type })),
    };
  }

  async ping(signal?: AbortSignal): Promise<void> {
    const result = await this.query(
      { sql: "SELECT 1", params: [] },
      { timeoutMs: DESCRIBE_TIMEOUT_MS, ...(signal ? { signal } : {}) },
    );
    for await (const _ of result.batches) {
      // read to the end
    }
  }

  /** Its tables are those the logical tables name, described one by one (`describe`). */
  async listTables(): Promise<[]> {
    return [];
  }

  /** The remote worker keeps its statistics; a region's member is estimated from ours. */
  async tableStats(): Promise<TableStats> {
    return { distinct: {}, source: "none" };
  }

  async execute(): Promise<number> {
    throw new EntenteError(
      "UNSUPPORTED",
      `${this.name} is read-only: another region's rows are written in that region`,
    );
  }

  async appendRows(): Promise<number> {
    return this.execute();
  }

  async openSession(): Promise<never> {
    throw new EntenteError(
      "UNSUPPORTED",
      `${this.name} takes no transactions: another region's rows are written in that region`,
    );
  }

  async close(): Promise<void> {}
}

export function isRegionSource(connector: Connector): connector is RegionSource {
  return connector instanceof RegionSource;
}

/**
 * An instance that is a points table in a SQL database (PostgreSQL, MariaDB/MySQL, DuckDB),
 * reached through an `@entente/connectors` connector. Aggregations are pushed down as partials
 * per window and group; rate, and tag regexes a dialect cannot run exactly, read raw points
 * (filtered by everything that can be pushed) and reduce them here.
 */
import type { Connector } from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import { Pacer } from "@entente/runtime/pace";
import { partialsOfOrdered } from "../paced-merge.ts";
import type { Point } from "../points.ts";
import { type FederatedQuery, matchesAll } from "../query.ts";
import { aggregateFromRow, TagCache, toNs, toNumber, tooManyPoints, toTags } from "./rows.ts";
import {
  type ColumnMapping,
  metricNamesStatement,
  partialsStatement,
  planPushdown,
  rawStatement,
  seriesStatement,
  tagSetsStatement,
} from "./sql.ts";
import type {
  FetchOptions,
  InstanceKind,
  MetricInstance,
  PartialsResult,
  RawResult,
  SeriesSamples,
} from "./types.ts";

export interface SqlInstanceOptions {
  name: string;
  kind: Exclude<InstanceKind, "entente">;
  connector: Connector;
  table: string;
  columns: ColumnMapping;
  /** false when the connector is the worker's shared source, which outlives the instance. */
  ownsConnector?: boolean;
}

const BATCH_ROWS = 10_000;

/** Rows of an embedded database arrive without a wait: the loops over them keep the call's time. */
function pacerOf(options: FetchOptions): Pacer {
  return new Pacer(options.signal, performance.now() + options.timeoutMs);
}

export class SqlInstance implements MetricInstance {
  readonly name: string;
  readonly kind: Exclude<InstanceKind, "entente">;
  readonly connector: Connector;
  readonly table: string;
  readonly columns: ColumnMapping;
  private readonly ownsConnector: boolean;

  constructor(options: SqlInstanceOptions) {
    this.name = options.name;
    this.kind = options.kind;
    this.connector = options.connector;
    this.table = options.table;
    this.columns = options.columns;
    this.ownsConnector = options.ownsConnector ?? true;
  }

  async fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult> {
    return this.readPoints(query, options, pacerOf(options));
  }

  private async readPoints(
    query: FederatedQuery,
    options: FetchOptions,
    pacer: Pacer,
  ): Promise<RawResult> {
    const { pushed, local } = planPushdown(this.dialect.kind, query.matchers);
    // A limit can only go to the database when every filter went with it.
    const cap =
      local.length === 0 && query.limit !== undefined
        ? Math.min(query.limit, options.maxPoints + 1)
        : options.maxPoints + 1;
    const statement = rawStatement(this.dialect, this.table, this.columns, query, pushed, cap);
    const points: Point[] = [];
    const result = await this.connector.query(statement as never, {
      signal: options.signal,
      batchRows: BATCH_ROWS,
    });
    let read = 0;
    const tagCache = new TagCache(this.name);
    const admitted = new Map<Record<string, string>, boolean>();
    for await (const batch of result.batches) {
      for (const row of batch as unknown[][]) {
        if (++read > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
        if (pacer.due()) await pacer.pause();
        const tags = tagCache.get(row[0]);
        if (local.length > 0) {
          let ok = admitted.get(tags);
          if (ok === undefined) {
            ok = matchesAll(local, tags);
            admitted.set(tags, ok);
          }
          if (!ok) continue;
        }
        const point: Point = {
          metric: query.metric,
          tags,
          timestamp: toNs(this.name, row[1], "timestamp"),
          value: toNumber(this.name, row[2], "value"),
        };
        points.push(point);
        if (query.limit !== undefined && points.length >= query.limit) return { points };
      }
    }
    return { points };
  }

  async fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult> {
    const aggregation = query.aggregation;
    if (!aggregation) throw new EntenteError("BAD_REQUEST", "partials need an aggregation");
    const { pushed, local } = planPushdown(this.dialect.kind, query.matchers);
    const pacer = pacerOf(options);
    if (aggregation.fn === "rate" || local.length > 0) {
      // Rate chains each series' samples in time order: read them, reduce them here.
      const { limit: _limit, ...unlimited } = query;
      const { points } = await this.readPoints(unlimited, options, pacer);
      return { partials: await partialsOfOrdered(points, aggregation, pacer) };
    }
    const statement = partialsStatement(
      this.dialect,
      this.table,
      this.columns,
      query,
      pushed,
      options.maxPoints + 1,
    );
    const ends = aggregation.fn === "first" || aggregation.fn === "last";
    const result = await this.connector.query(statement as never, {
      signal: options.signal,
      batchRows: BATCH_ROWS,
    });
    const partials = [];
    for await (const batch of result.batches) {
      for (const row of batch as unknown[][]) {
        partials.push(aggregateFromRow(this.name, row, aggregation.by.length, ends));
        if (partials.length > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
        if (pacer.due()) await pacer.pause();
      }
    }
    return { partials };
  }

  get dialect() {
    return this.connector.dialect;
  }

  /** The query's samples, series by series (see `seriesStatement`). */
  async readSeries(query: FederatedQuery, options: FetchOptions): Promise<SeriesSamples[]> {
    const pacer = pacerOf(options);
    const { pushed, local } = planPushdown(this.dialect.kind, query.matchers);
    const statement = seriesStatement(this.dialect, this.table, this.columns, query, pushed);
    const result = await this.connector.query(statement as never, {
      signal: options.signal,
      batchRows: BATCH_ROWS,
    });
    const series: SeriesSamples[] = [];
    let current: SeriesSamples | undefined;
    let read = 0;
    for await (const batch of result.batches) {
      for (const row of batch as unknown[][]) {
        if (++read > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
        if (pacer.due()) await pacer.pause();
        // A series' first row carries its tags; the regexes the database could not run are
        // applied to them, once per series.
        if (row[0] !== null && row[0] !== undefined) {
          const tags = toTags(this.name, row[0]);
          current =
            local.length === 0 || matchesAll(local, tags) ? { tags, samples: [] } : undefined;
          if (current) series.push(current);
        }
        if (!current) continue;
        const t = toNumber(this.name, row[1], "timestamp");
        const v = toNumber(this.name, row[2], "value");
        const last = current.samples[current.samples.length - 1];
        // Two points within one millisecond are one PromQL sample: the later one stands.
        if (last !== undefined && last.t === t) last.v = v;
        else current.samples.push({ t, v });
      }
    }
    return series;
  }

  /** The tag sets of the series the query reads, each once; the samples are not read. */
  async readTagSets(
    query: FederatedQuery,
    options: FetchOptions,
  ): Promise<Record<string, string>[]> {
    const { pushed, local } = planPushdown(this.dialect.kind, query.matchers);
    const statement = tagSetsStatement(this.dialect, this.table, this.columns, query, pushed);
    const result = await this.connector.query(statement as never, {
      signal: options.signal,
      batchRows: BATCH_ROWS,
    });
    const sets: Record<string, string>[] = [];
    for await (const batch of result.batches) {
      for (const row of batch as unknown[][]) {
        const tags = toTags(this.name, row[0]);
        if (local.length === 0 || matchesAll(local, tags)) sets.push(tags);
        if (sets.length > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
      }
    }
    return sets;
  }

  /** Every metric name the table holds. */
  async metricNames(signal: AbortSignal): Promise<string[]> {
    const statement = metricNamesStatement(this.dialect, this.table, this.columns);
    const result = await this.connector.query(statement as never, { signal });
    const names: string[] = [];
    for await (const batch of result.batches) {
      for (const row of batch as unknown[][]) names.push(String(row[0]));
    }
    return names;
  }

  async close(): Promise<void> {
    if (this.ownsConnector) await this.connector.close();
  }
}

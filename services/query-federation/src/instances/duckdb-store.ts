/**
 * An embedded DuckDB instance (in memory or a file) that also takes ingested points. Every
 * ingested batch is written by one INSERT that carries the batch's JetStream sequence in each
 * row and inserts nothing when that sequence (or a later one) is already stored: one statement
 * is one transaction, so after a crash a batch is either wholly stored or not at all, and the
 * highest stored sequence is where ingest resumes.
 *
 * A point is its metric, tags and timestamp: one with the same three as a stored point replaces
 * it (last write wins, as time-series databases do), so a publisher that retries, or a stream
 * replayed into a store, never counts a point twice. A unique index holds the three; tags are
 * stored with their keys sorted, so the same tags always compare equal.
 */
import type { Connector } from "@entente/connectors";
import { toJson } from "@entente/protocol";
import type { Point } from "../points.ts";
import { DEFAULT_COLUMNS } from "./sql.ts";
import { SqlInstance } from "./sql-instance.ts";

const POINT_SHAPE = `[{"m":"VARCHAR","t":"JSON","ts":"VARCHAR","v":"DOUBLE"}]`;

export class DuckdbStore extends SqlInstance {
  readonly readOnly: boolean;

  constructor(
    name: string,
    connector: Connector,
    table = "points",
    readOnly = false,
    ownsConnector = true,
  ) {
    super({ name, kind: "duckdb", connector, table, columns: DEFAULT_COLUMNS, ownsConnector });
    this.readOnly = readOnly;
  }

  private get quotedTable(): string {
    return this.dialect.quoteIdentifier(this.table);
  }

  async ensureSchema(): Promise<void> {
    const t = this.quotedTable;
    await this.connector.execute({
      sql: `CREATE TABLE IF NOT EXISTS ${t} (metric VARCHAR NOT NULL, tags JSON, "time" BIGINT NOT NULL, value DOUBLE, ingest_seq BIGINT)`,
      params: [],
    });
    const index = `${this.table.replaceAll(".", "_")}_point`;
    // The index exists once the table's points are unique: nothing more to do at each start.
    const found = await this.connector.query({
      sql: "SELECT count(*) FROM duckdb_indexes() WHERE index_name = $1",
      params: [index],
    });
    let exists = false;
    for await (const batch of found.batches) exists = Number(batch[0]?.[0] ?? 0) > 0;
    if (exists) return;
    // A file written before points were unique may hold repeats: the last written one stays.
    await this.connector.execute({
      sql: `DELETE FROM ${t} WHERE rowid NOT IN (SELECT max(rowid) FROM ${t} GROUP BY metric, tags, "time")`,
      params: [],
    });
    await this.connector.execute({
      sql: `CREATE UNIQUE INDEX ${this.dialect.quoteIdentifier(index)} ON ${t} (metric, tags, "time")`,
      params: [],
    });
  }

  /** The highest JetStream sequence whose points are stored; 0 when none. */
  async watermark(): Promise<number> {
    const result = await this.connector.query({
      sql: `SELECT COALESCE(MAX(ingest_seq), 0) FROM ${this.quotedTable}`,
      params: [],
    });
    for await (const batch of result.batches) {
      const value = batch[0]?.[0];
      return Number(value ?? 0);
    }
    return 0;
  }

  /** Stores one ingested batch unless its sequence is already stored. Returns rows written. */
  async applyBatch(sequence: number, points: Point[]): Promise<number> {
    if (points.length === 0) return 0;
    const t = this.quotedTable;
    const json = pointsJson(points);
    return this.connector.execute({
      sql:
        `INSERT OR REPLACE INTO ${t} (metric, tags, "time", value, ingest_seq)` +
        ` SELECT x.m, x.t, CAST(x.ts AS BIGINT), x.v, CAST($2 AS BIGINT)` +
        ` FROM (SELECT unnest(from_json(CAST($1 AS JSON), '${POINT_SHAPE}')) AS x)` +
        ` WHERE NOT EXISTS (SELECT 1 FROM ${t} WHERE ingest_seq >= CAST($2 AS BIGINT))`,
      params: [json, sequence],
    });
  }

  /** Loads points outside of ingest (demo data, tests). */
  async load(points: Point[]): Promise<void> {
    const t = this.quotedTable;
    for (let i = 0; i < points.length; i += 50_000) {
      const chunk = points.slice(i, i + 50_000);
      const json = pointsJson(chunk);
      await this.connector.execute({
        sql:
          `INSERT OR REPLACE INTO ${t} (metric, tags, "time", value)` +
          ` SELECT x.m, x.t, CAST(x.ts AS BIGINT), x.v` +
          ` FROM (SELECT unnest(from_json(CAST($1 AS JSON), '${POINT_SHAPE}')) AS x)`,
        params: [json],
      });
    }
  }
}

/**
 * Points as the JSON the INSERT reads: tags with sorted keys, and of points sharing metric, tags
 * and timestamp only the last (one INSERT keeps the first of repeats it is given).
 */
function pointsJson(points: Point[]): string {
  const last = new Map<string, { m: string; t: Record<string, string>; ts: bigint; v: number }>();
  for (const p of points) {
    const tags = Object.fromEntries(
      Object.entries(p.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const row = { m: p.metric, t: tags, ts: p.timestamp, v: p.value };
    const key = toJson([row.m, row.t, row.ts]);
    last.delete(key);
    last.set(key, row);
  }
  return toJson([...last.values()]);
}

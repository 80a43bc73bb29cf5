/**
 * The live catalog: tables and statistics read from every source at start, cached, refreshed
 * periodically and again when a query names a table the cache does not know. Other regions'
 * tables that logical tables name are described by those regions' workers at the same times.
 */
import type { Connector } from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import type { CatalogTable, SourceInfo, Views } from "@entente/sql";
import { StaticCatalog } from "@entente/sql";
import {
  buildLogicalTables,
  type LogicalTablesConfig,
  regionTableKey,
  remoteTablesOf,
} from "./logical-config.ts";
import { isRegionSource, regionSourceName } from "./region-source.ts";

/** A source of this worker's own (another region's source has no tables to list). */
const isLocal = (c: Connector) => !isRegionSource(c);

export interface CatalogSourceError {
  source: string;
  message: string;
}

export class LiveCatalog {
  readonly connectors: Map<string, Connector>;
  readonly aliases: Record<string, string>;
  /** The configured views, parsed when the worker started. */
  readonly views: Views;
  current: StaticCatalog;
  errors: CatalogSourceError[] = [];
  private loading: Promise<StaticCatalog> | undefined;
  private lastLoad = 0;
  /** The source tables of the last refresh, to rebuild logical tables when a watermark moves. */
  private physical: StaticCatalog | undefined;
  /** Lifecycle tables' watermarks the current catalog was built with. */
  private watermarks: ReadonlyMap<string, string | null> = new Map();
  /** Reads the lifecycle tables' watermarks from their cold tables (none without lifecycles). */
  readWatermarks: (() => Promise<ReadonlyMap<string, string | null>>) | undefined;

  readonly logicalConfig: LogicalTablesConfig;
  /** This worker's region, when it can reach others (their sources are among `connectors`). */
  readonly ownRegion: number | undefined;
  /** Other regions' tables as their workers last described them, kept while they are down. */
  private readonly described = new Map<string, CatalogTable>();

  constructor(
    connectors: Map<string, Connector>,
    aliases: Record<string, string>,
    logicalConfig: LogicalTablesConfig = {},
    ownRegion?: number,
    views: Views = new Map(),
  ) {
    this.connectors = connectors;
    this.aliases = aliases;
    this.views = views;
    this.logicalConfig = logicalConfig;
    this.ownRegion = ownRegion;
    this.current = new StaticCatalog([], this.sourceInfos(), aliases, [], views);
  }

  sourceInfos(): SourceInfo[] {
    return [...this.connectors.values()].map((c) => ({
      name: c.name,
      dialect: c.dialect,
      capabilities: c.capabilities,
    }));
  }

  /**
   * Reads every source's tables and statistics; a source that fails keeps its cached tables and
   * is reported. With `keepStats`, tables already known keep their cached statistics, so only
   * new tables cost statistics queries (the periodic refresh renews them all).
   */
  refresh(options: { keepStats?: boolean } = {}): Promise<StaticCatalog> {
    this.loading ??= (async () => {
      try {
        const errors: CatalogSourceError[] = [];
        const known = options.keepStats
          ? new Map(this.current.tables.map((t) => [`${t.source}.${t.schema}.${t.name}`, t]))
          : undefined;
        const describing = this.describeRegions(errors);
        const perSource = await Promise.all(
          [...this.connectors.values()].filter(isLocal).map(async (c) => {
            try {
              return await tablesOf(c, known);
            } catch (err) {
              errors.push({
                source: c.name,
                message: err instanceof Error ? err.message : String(err),
              });
              return this.current.tables.filter((t) => t.source === c.name);
            }
          }),
        );
        await describing;
        this.physical = new StaticCatalog(perSource.flat(), this.sourceInfos(), this.aliases);
        try {
          if (this.readWatermarks) {
            this.watermarks = forwardOnly(this.watermarks, await this.readWatermarks());
          }
        } catch (err) {
          errors.push({
            source: "(tier watermarks)",
            message: err instanceof Error ? err.message : String(err),
          });
        }
        this.current = this.withLogicalTables(this.physical, errors);
        this.errors = errors;
        this.lastLoad = Date.now();
        return this.current;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  /** The physical catalog with the logical tables built over it; their problems into `errors`. */
  private withLogicalTables(physical: StaticCatalog, errors: CatalogSourceError[]): StaticCatalog {
    const logical = buildLogicalTables(this.logicalConfig, physical, {
      watermarks: this.watermarks,
      ...(this.ownRegion === undefined
        ? {}
        : {
            regions: {
              ownRegion: this.ownRegion,
              described: this.described,
              sourceOf: regionSourceName,
            },
          }),
    });
    for (const problem of logical.problems)
      errors.push({ source: "(logicalTables)", message: problem });
    return new StaticCatalog(
      physical.tables,
      [...physical.sources.values()],
      this.aliases,
      logical.tables,
      this.views,
    );
  }

  /**
   * Reads the lifecycle tables' watermarks again and, when a move has committed a new one,
   * rebuilds the logical tables at once, so a statement planned after a commit reads the moved
   * rows from cold. One small read per lifecycle table; nothing without lifecycles.
   */
  async syncWatermarks(): Promise<void> {
    if (!this.readWatermarks || !this.physical) return;
    const next = forwardOnly(this.watermarks, await this.readWatermarks());
    const same =
      next.size === this.watermarks.size &&
      [...next].every(([table, mark]) => this.watermarks.get(table) === mark);
    if (same) return;
    this.watermarks = next;
    const errors = this.errors.filter(
      (e) => e.source !== "(logicalTables)" && e.source !== "(tier watermarks)",
    );
    this.current = this.withLogicalTables(this.physical, errors);
    this.errors = errors;
  }

  /**
   * Asks each other region named by a logical table for its table's columns; a region that does
   * not answer keeps what it said before and is reported.
   */
  private async describeRegions(errors: CatalogSourceError[]): Promise<void> {
    await Promise.all(
      remoteTablesOf(this.logicalConfig, this.ownRegion).map(async (ref) => {
        const source = this.connectors.get(regionSourceName(ref.region));
        if (!source || !isRegionSource(source)) return;
        try {
          this.described.set(regionTableKey(ref), await source.describe(ref.table.split(".")));
        } catch (err) {
          errors.push({
            source: source.name,
            message: `${ref.table}: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }),
    );
  }

  /** Plans against the cache; on an unknown table, reads the sources again once and retries. */
  async withCatalog<T>(use: (catalog: StaticCatalog) => T, minAgeMs = 1_000): Promise<T> {
    try {
      return use(this.current);
    } catch (err) {
      if (
        !(err instanceof EntenteError) ||
        err.code !== "NOT_FOUND" ||
        Date.now() - this.lastLoad < minAgeMs
      )
        throw err;
      return use(await this.refresh({ keepStats: true }));
    }
  }
}

/**
 * Watermarks only move forward: a read that started before a commit and ended after a newer read
 * must not take a table back to the older boundary. (Texts of one table share one format, so
 * they order as their values do.)
 */
function forwardOnly(
  known: ReadonlyMap<string, string | null>,
  read: ReadonlyMap<string, string | null>,
): Map<string, string | null> {
  const out = new Map(read);
  for (const [table, mark] of read) {
    const before = known.get(table);
    if (before != null && (mark === null || mark < before)) out.set(table, before);
  }
  return out;
}

async function tablesOf(
  connector: Connector,
  known: ReadonlyMap<string, CatalogTable> | undefined,
): Promise<CatalogTable[]> {
  const tables = await connector.listTables();
  return Promise.all(
    tables.map(async (t) => {
      const table: CatalogTable = {
        source: connector.name,
        schema: t.schema,
        name: t.name,
        columns: t.columns.map((c) => ({
          name: c.name,
          type: c.type,
          ...(c.blankPadded ? { blankPadded: true } : {}),
          ...(c.textCompare ? { textCompare: c.textCompare } : {}),
          ...(c.singlePrecision ? { singlePrecision: true } : {}),
        })),
        ...(t.primaryKey.length > 0 ? { primaryKey: t.primaryKey } : {}),
      };
      const cached = known?.get(`${connector.name}.${t.schema}.${t.name}`);
      if (cached?.distinct !== undefined) {
        if (cached.rowCount !== undefined) table.rowCount = cached.rowCount;
        table.distinct = cached.distinct;
        return table;
      }
      try {
        const stats = await connector.tableStats(t.schema, t.name);
        if (stats.rowCount !== undefined) table.rowCount = stats.rowCount;
        table.distinct = stats.distinct;
      } catch {
        // statistics are advisory: plan with defaults
      }
      return table;
    }),
  );
}

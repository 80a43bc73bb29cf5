/**
 * The SQL engine a worker holds: its sources, the live catalog over them, the parser threads and
 * the settings every statement runs with.
 */
import { type Connector, type SourceConfig, SourcePool } from "@entente/connectors";
import type { EntenteClient } from "@entente/runtime";
import { ParsePool, parseViews } from "@entente/sql";
import { LiveCatalog } from "./catalog.ts";
import {
  type SqlJoinSettings,
  sqlJoinConfigSchema,
  type TablesConfig,
  tableAliases,
} from "./config.ts";
import { DEMO_SOURCES, loadDemoData } from "./demo.ts";
import { type LogicalTablesConfig, remoteTablesOf } from "./logical-config.ts";
import { RegionSource } from "./region-source.ts";

export interface SqlEngine {
  catalog: LiveCatalog;
  settings: SqlJoinSettings;
  parser: ParsePool;
  /** The `tables:` section: short names, and the id column of tables read by id. */
  tables: TablesConfig;
  close(): Promise<void>;
}

/**
 * Opens the sources the catalog covers and reads it. The sources come from the worker's shared
 * pool (`pool` and `names`), or, for tests and tools, from `sources` (the demo ones when absent)
 * in a pool of the engine's own.
 */
export async function openSqlEngine(options: {
  sources?: Record<string, unknown> | undefined;
  /** The worker's sources, the names the catalog covers, and whether they are the demo ones. */
  pool?: { sources: SourcePool; names: string[]; demo: boolean };
  tables?: TablesConfig | undefined;
  logicalTables?: LogicalTablesConfig | undefined;
  settings?: Partial<SqlJoinSettings>;
  /**
   * This worker's region and its client, through which other regions' workers are asked, on
   * this deployment's `entente.sql` subject.
   */
  network?: { client: EntenteClient; region: number; subject: string };
}): Promise<SqlEngine> {
  const settings = sqlJoinConfigSchema.parse(options.settings ?? {});
  const own = options.pool === undefined;
  const configs = (options.sources ?? DEMO_SOURCES) as Record<string, SourceConfig>;
  const pool = options.pool?.sources ?? new SourcePool(configs);
  const names = options.pool?.names ?? Object.keys(configs);
  const demo = options.pool?.demo ?? options.sources === undefined;
  // Started first: its threads load the parser while the sources connect.
  const parser = new ParsePool({
    threads: settings.parseThreads,
    timeoutMs: settings.parseTimeoutMs,
    limits: { maxNodes: settings.maxSqlNodes },
  });
  const close = async () => {
    await Promise.allSettled([parser.close(), own ? pool.close() : undefined]);
  };
  try {
    const connectors = new Map<string, Connector>();
    for (const name of names) connectors.set(name, await pool.get(name));
    if (demo) await pool.once("demo-sql", () => loadDemoData(connectors));
    const { network } = options;
    if (network) {
      // Each other region a logical table names is a source of its own, `region:N`.
      const refs = remoteTablesOf(options.logicalTables ?? {}, network.region);
      for (const region of new Set(refs.map((ref) => ref.region))) {
        const source = new RegionSource({ ...network, region });
        connectors.set(source.name, source);
      }
    }
    const aliases = tableAliases(options.tables);
    const catalog = new LiveCatalog(
      connectors,
      aliases,
      options.logicalTables ?? {},
      network?.region,
      parseViews(settings.views, Object.keys(aliases)),
    );
    await catalog.refresh();
    // A worker that cannot parse yet should not take statements.
    await parser.ready();
    return { catalog, settings, parser, tables: options.tables ?? {}, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The operators' limits a statement runs under, from the worker's settings. */
export function execLimits(settings: SqlJoinSettings) {
  return {
    maxBuildRows: settings.maxBuildRows,
    maxBuildBytes: settings.maxBuildBytes,
    dynamicFilterMaxKeys: settings.dynamicFilterMaxKeys,
    inListChunk: settings.inListChunk,
    parallelChunks: settings.parallelChunks,
    batchRows: settings.batchRows,
    spill: { dir: settings.spillDir, maxBytes: settings.maxSpillBytes },
  };
}

/**
 * `entente.catalog`: every table the engine knows — each source's tables and the logical ones —
 * and one table's statistics, per tier or shard for a logical table. Cold-store tables answer
 * from their manifest without reading a file; other tables with one aggregate scan.
 */
import { ColdstoreConnector, type Connector } from "@entente/connectors";
import {
  type CatalogRequest,
  type CatalogTableInfo,
  type CatalogTablesReply,
  type ColumnStats,
  EntenteError,
  type SqlType,
  type TablePartStats,
  type TableStatsReply,
} from "@entente/protocol";
import { type CatalogTable, type ColumnDef, columnSql, type LogicalTable } from "@entente/sql";
import type { LiveCatalog } from "./catalog.ts";
import { isRegionSource } from "./region-source.ts";

export function catalogHandler(catalog: LiveCatalog) {
  return async (
    request: CatalogRequest,
    signal: AbortSignal,
  ): Promise<CatalogTablesReply | TableStatsReply> => {
    await catalog.syncWatermarks();
    if (request.op === "tables") return { tables: listTables(catalog) };
    return tableStats(catalog, request.table, signal);
  };
}

const sqlType = (c: ColumnDef): SqlType => (c.type === "null" ? "unknown" : c.type);

const fullName = (t: CatalogTable) => `${t.source}.${t.schema}.${t.name}`;

function isCold(connector: Connector | undefined): boolean {
  return connector?.kind === "coldstore";
}

function listTables(catalog: LiveCatalog): CatalogTableInfo[] {
  const current = catalog.current;
  const physical: CatalogTableInfo[] = current.tables.map((t) => ({
    name: fullName(t),
    kind: isCold(catalog.connectors.get(t.source)) ? "cold" : "table",
    source: t.source,
    columns: t.columns.map((c) => ({ name: c.name, type: sqlType(c) })),
    ...(t.rowCount === undefined ? {} : { rowCount: t.rowCount }),
  }));
  const logical: CatalogTableInfo[] = [...current.logicalTables.values()].map((t) => {
    const counts = t.members.map((m) => m.table.rowCount);
    return {
      name: t.name,
      kind: t.kind,
      columns: t.columns.map((c) => ({ name: c.name, type: sqlType(c) })),
      ...(counts.every((n) => n !== undefined)
        ? { rowCount: counts.reduce((a, b) => a + (b as number), 0) }
        : {}),
    };
  });
  return [...logical, ...physical].sort((a, b) => a.name.localeCompare(b.name));
}

async function tableStats(
  catalog: LiveCatalog,
  name: string,
  signal: AbortSignal,
): Promise<TableStatsReply> {
  const logical = catalog.current.logical(name);
  if (logical) return logicalStats(catalog, logical, signal);
  let table: CatalogTable;
  try {
    table = catalog.current.resolve(name.split("."));
  } catch (err) {
    if (err instanceof EntenteError && err.code === "NOT_FOUND") {
      throw new EntenteError("NOT_FOUND", `tableStats: ${err.message}`);
    }
    throw err;
  }
  const {
    label: _label,
    table: _table,
    source: _source,
    ...part
  } = await partStats(catalog, "table", table, signal);
  return { table: fullName(table), kind: part.files === undefined ? "table" : "cold", ...part };
}

async function logicalStats(
  catalog: LiveCatalog,
  table: LogicalTable,
  signal: AbortSignal,
): Promise<TableStatsReply> {
  const parts = await Promise.all(
    table.members.map((m) => partStats(catalog, m.label, m.table, signal)),
  );
  const counts = parts.map((p) => p.rowCount);
  return {
    table: table.name,
    kind: table.kind,
    ...(counts.every((n) => n !== undefined)
      ? { rowCount: counts.reduce((a, b) => a + (b as number), 0) }
      : {}),
    columns: table.columns.map((c, i) => mergeColumn(c, parts, i)),
    parts,
  };
}

/** One column over all parts: the smallest min, the largest max, nulls added. */
function mergeColumn(column: ColumnDef, parts: TablePartStats[], i: number): ColumnStats {
  const stats = parts.map((p) => p.columns[i]).filter((c) => c !== undefined);
  const out: ColumnStats = { name: column.name, type: sqlType(column) };
  for (const s of stats) {
    if (s.min !== undefined && s.min !== null && (out.min === undefined || less(s.min, out.min)))
      out.min = s.min;
    if (s.max !== undefined && s.max !== null && (out.max === undefined || less(out.max, s.max)))
      out.max = s.max;
  }
  if (stats.length > 0 && stats.every((s) => s.nulls !== undefined)) {
    out.nulls = stats.reduce((a, s) => a + (s.nulls as number), 0);
  }
  return out;
}

function less(a: unknown, b: unknown): boolean {
  if (typeof a === "bigint" || typeof b === "bigint") {
    try {
      return BigInt(a as bigint) < BigInt(b as bigint);
    } catch {
      return String(a) < String(b);
    }
  }
  return (a as number | string) < (b as number | string);
}

async function partStats(
  catalog: LiveCatalog,
  label: string,
  table: CatalogTable,
  signal: AbortSignal,
): Promise<TablePartStats> {
  const connector = catalog.connectors.get(table.source);
  const base = { label, table: fullName(table), source: table.source };
  if (!connector || isRegionSource(connector)) {
    // Another region's table: its worker keeps the statistics; the catalog has what it said.
    return {
      ...base,
      ...(table.rowCount === undefined ? {} : { rowCount: table.rowCount }),
      columns: table.columns.map((c) => ({ name: c.name, type: sqlType(c) })),
    };
  }
  if (connector instanceof ColdstoreConnector) {
    return { ...base, ...(await coldStats(connector, table.name, table.columns)) };
  }
  return { ...base, ...(await scanStats(connector, table, signal)) };
}

/** A cold-store table's statistics, from its manifest: no file is read. */
async function coldStats(
  connector: ColdstoreConnector,
  name: string,
  columns: ColumnDef[],
): Promise<Omit<TablePartStats, "label" | "table" | "source">> {
  const stats = await connector.store.stats(name);
  return {
    rowCount: stats.rows,
    files: stats.files,
    bytes: stats.bytes,
    ...(stats.currentSnapshotId === undefined ? {} : { snapshotId: stats.currentSnapshotId }),
    columns: columns.map((c) => {
      const s = stats.columns[c.name];
      return {
        name: c.name,
        type: sqlType(c),
        ...(s === undefined ? {} : { min: s.min, max: s.max, nulls: s.nulls }),
      };
    }),
  };
}

/** Row count and each column's min, max and nulls, in one aggregate statement on the source. */
async function scanStats(
  connector: Connector,
  table: CatalogTable,
  signal: AbortSignal,
): Promise<Omit<TablePartStats, "label" | "table" | "source">> {
  const q = (name: string) => connector.dialect.quoteIdentifier(name);
  const from = (table.path ?? [table.schema, table.name]).map(q).join(".");
  const items = ["COUNT(*)"];
  for (const c of table.columns) {
    // MIN/MAX of json or blob columns is refused by some databases; their nulls still count.
    // Text is ordered as the engine orders it: a uuid, enum or collated column by its text.
    if (c.type === "json" || c.type === "blob") items.push("NULL", "NULL");
    else
      items.push(
        `MIN(${columnSql(connector.dialect, c)})`,
        `MAX(${columnSql(connector.dialect, c)})`,
      );
    items.push(`COUNT(*) - COUNT(${q(c.name)})`);
  }
  const result = await connector.query(
    { sql: `SELECT ${items.join(", ")} FROM ${from}`, params: [] },
    { signal },
  );
  let row: unknown[] | undefined;
  for await (const batch of result.batches) row ??= batch[0];
  const cells = row ?? [];
  const rowCount = Number(cells[0] ?? 0);
  return {
    rowCount,
    columns: table.columns.map((c, i) => {
      const at = 1 + 3 * i;
      const min = cells[at];
      const max = cells[at + 1];
      return {
        name: c.name,
        type: sqlType(c),
        ...(min === null || min === undefined ? {} : { min }),
        ...(max === null || max === undefined ? {} : { max }),
        nulls: Number(cells[at + 2] ?? 0),
      };
    }),
  };
}

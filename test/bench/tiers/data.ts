/**
 * The tiers benchmark's data: `events` over two years ending at midnight UTC of the day the data
 * was first made (kept in `layout.json` in the data directory, so later runs find the same data).
 * Event i (0 ≤ i < N) is
 *
 *   id          i + 1
 *   created_at  start + i × step µs   (step = ⌊730 days / N⌋ µs, start = end − 730 days)
 *   kind        KINDS[i mod 10]       (view 40%, click 30%, cart 20%, purchase 10%)
 *   user_id     (i × 7919) mod 100000 + 1
 *   amount      ((i × 7919) mod 100000) / 100   (a double)
 *
 * computed inside the databases — generate_series in PostgreSQL, range() and COPY … TO parquet in
 * DuckDB — so no row passes through Node. Three copies, each left in place between runs and made
 * again only when its marker does not match:
 *
 *   baseline  one PostgreSQL table holding every event, indexed on created_at (plus an empty
 *             `events_archive` for the baseline of a move), database entente_bench_tiers_all_<N>;
 *   hot       a PostgreSQL table holding the last 30 days (created_at ≥ the watermark), database
 *             entente_bench_tiers_hot_<N>;
 *   cold      the rest as Parquet, one file per day, in a cold store whose `events` manifest
 *             lists them with their statistics and carries the watermark.
 *
 * Databases and directories are per N, so a quick run with fewer events leaves the full data be.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { type ColdColumn, ColdStore, type DataFile } from "@entente/connectors";
import { databaseUrl, withPg } from "../pg.ts";

export const DAY_MS = 86_400_000;
const DAY_US = 86_400_000_000n;
export const SPAN_DAYS = 730;
export const HOT_DAYS = 30;
export const WATERMARK_PROPERTY = "entente.tier.watermark";
export const COLD_TABLE = "events";
const KINDS = [
  "view",
  "view",
  "view",
  "view",
  "click",
  "click",
  "click",
  "cart",
  "cart",
  "purchase",
];
const MARKER = "entente_bench_marker";

/** The columns as the engine types them (PostgreSQL timestamptz is a UTC timestamp). */
export const COLD_COLUMNS: ColdColumn[] = [
  { name: "id", type: "bigint", nullable: false },
  { name: "created_at", type: "timestamp", nullable: false },
  { name: "kind", type: "text", nullable: false },
  { name: "user_id", type: "integer", nullable: false },
  { name: "amount", type: "double", nullable: false },
];

export interface Layout {
  events: number;
  /** The day after the last event (midnight UTC), YYYY-MM-DD. */
  end: string;
  startUs: bigint;
  stepUs: bigint;
  /** The hot/cold boundary: `end` − 30 days, in ms since the epoch. */
  watermarkMs: number;
}

export const dayText = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const msOfDay = (day: string) => Date.parse(`${day}T00:00:00Z`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

export function layoutOf(events: number, end: string): Layout {
  const endMs = msOfDay(end);
  return {
    events,
    end,
    startUs: BigInt(endMs - SPAN_DAYS * DAY_MS) * 1000n,
    stepUs: (BigInt(SPAN_DAYS) * DAY_US) / BigInt(events),
    watermarkMs: endMs - HOT_DAYS * DAY_MS,
  };
}

/** The first event index whose created_at is at or after `ms` (clamped to 0..N). */
export function indexAt(layout: Layout, ms: number): number {
  const offset = BigInt(ms) * 1000n - layout.startUs;
  if (offset <= 0n) return 0;
  const i = (offset + layout.stepUs - 1n) / layout.stepUs;
  return Number(i > BigInt(layout.events) ? BigInt(layout.events) : i);
}

/** The data's layout: the one recorded in `dir` when it is for `events` events, else a new one ending today. */
export async function loadLayout(dir: string, events: number): Promise<Layout> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "layout.json");
  const recorded = await readFile(file, "utf8")
    .then((text) => JSON.parse(text) as { events: number; end: string })
    .catch(() => undefined);
  if (recorded?.events === events) return layoutOf(events, recorded.end);
  const layout = layoutOf(events, dayText(Date.now()));
  await writeFile(file, `${JSON.stringify({ events, end: layout.end })}\n`);
  return layout;
}

const specOf = (layout: Layout, what: string) =>
  `events=${layout.events};end=${layout.end};${what};v1`;

/** PostgreSQL's SELECT list of event g (a bigint index). */
function pgEventSelect(layout: Layout): string {
  const kinds = `ARRAY[${KINDS.map((k) => `'${k}'`).join(", ")}]`;
  return [
    "g + 1",
    `timestamptz 'epoch' + (${layout.startUs}::bigint + g * ${layout.stepUs}::bigint)::float8 * interval '1 microsecond'`,
    `(${kinds})[g % 10 + 1]`,
    "((g * 7919) % 100000 + 1)::integer",
    "((g * 7919) % 100000)::float8 / 100",
  ].join(", ");
}

/** INSERT of events [from, to) into `table`. */
export function pgInsertEvents(layout: Layout, table: string, from: number, to: number): string {
  return `INSERT INTO ${table} SELECT ${pgEventSelect(layout)} FROM generate_series(${from}::bigint, ${to - 1}::bigint) g`;
}

const PG_TABLE =
  "(id bigint NOT NULL, created_at timestamptz NOT NULL, kind text NOT NULL, user_id integer NOT NULL, amount double precision NOT NULL)";

/**
 * Creates database `name` if needed and loads events [from, N) into `events` unless its marker
 * matches; with `archive`, also an empty `events_archive` of the same shape.
 */
async function preparePg(
  serverUrl: string,
  name: string,
  layout: Layout,
  from: number,
  archive: boolean,
  log: (line: string) => void,
): Promise<string> {
  await withPg(serverUrl, async (c) => {
    const found = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (found.rowCount === 0) await c.query(`CREATE DATABASE "${name}" TEMPLATE template0`);
  });
  const url = databaseUrl(serverUrl, name);
  const spec = specOf(layout, `from=${from};archive=${archive}`);
  await withPg(url, async (c) => {
    const marker = await c
      .query(`SELECT spec FROM ${MARKER}`)
      .then((r) => r.rows[0]?.spec as string | undefined)
      .catch(() => undefined);
    if (marker === spec) {
      log(`PostgreSQL ${name}: data present`);
      return;
    }
    const started = performance.now();
    await c.query(`DROP TABLE IF EXISTS ${MARKER}`);
    await c.query("DROP TABLE IF EXISTS events");
    await c.query("DROP TABLE IF EXISTS events_archive");
    await c.query(`CREATE TABLE events ${PG_TABLE}`);
    // In slices, so that no one statement holds the machine for long.
    const slice = 2_000_000;
    for (let lo = from; lo < layout.events; lo += slice) {
      await c.query(pgInsertEvents(layout, "events", lo, Math.min(layout.events, lo + slice)));
    }
    await c.query("CREATE INDEX events_created_at ON events (created_at)");
    if (archive) {
      await c.query(`CREATE TABLE events_archive ${PG_TABLE}`);
      await c.query("CREATE INDEX events_archive_created_at ON events_archive (created_at)");
    }
    await c.query("VACUUM ANALYZE events");
    await c.query(`CREATE TABLE ${MARKER} (spec text NOT NULL)`);
    await c.query(`INSERT INTO ${MARKER} VALUES ($1)`, [spec]);
    log(
      `PostgreSQL ${name}: loaded ${(layout.events - from).toLocaleString("en")} events in ${seconds(started)}`,
    );
  });
  return url;
}

/** One table with every event, indexed on created_at, and an empty archive table. */
export function prepareBaseline(serverUrl: string, layout: Layout, log: (line: string) => void) {
  return preparePg(serverUrl, `entente_bench_tiers_all_${layout.events}`, layout, 0, true, log);
}

/** The hot tier: the events at or after the watermark, indexed on created_at. */
export function prepareHot(serverUrl: string, layout: Layout, log: (line: string) => void) {
  return preparePg(
    serverUrl,
    `entente_bench_tiers_hot_${layout.events}`,
    layout,
    indexAt(layout, layout.watermarkMs),
    false,
    log,
  );
}

export interface ColdData {
  /** The cold store's directory (the `coldstore` source's path). */
  path: string;
  /** The metadata version that lists the generated files; later versions are a move's. */
  baseVersion: number;
  files: number;
  bytes: number;
}

const coldMarkerFile = (dir: string) => join(dir, "cold.marker.json");

/**
 * The cold tier: one Parquet file per day below the watermark, written by DuckDB, registered in
 * the cold store's `events` manifest with statistics read back from the files, and the watermark
 * set, in one commit.
 */
export async function prepareCold(
  dir: string,
  layout: Layout,
  log: (line: string) => void,
): Promise<ColdData> {
  const path = join(dir, "cold");
  const spec = specOf(layout, "cold");
  const marker = await readFile(coldMarkerFile(dir), "utf8")
    .then((text) => JSON.parse(text) as { spec: string } & ColdData)
    .catch(() => undefined);
  if (marker?.spec === spec && existsSync(path)) {
    log(`cold store ${path}: data present (${marker.files} files)`);
    return { path, baseVersion: marker.baseVersion, files: marker.files, bytes: marker.bytes };
  }
  const started = performance.now();
  await rm(coldMarkerFile(dir), { force: true });
  await rm(path, { recursive: true, force: true });
  const tableDir = join(path, "main", COLD_TABLE);
  const dataDir = join(tableDir, "data");
  const startMs = Number(layout.startUs / 1000n);
  const days = Math.round((layout.watermarkMs - startMs) / DAY_MS);
  const instance = await DuckDBInstance.create(":memory:", { threads: "2" });
  const duck = await instance.connect();
  try {
    const kinds = `[${KINDS.map((k) => `'${k}'`).join(", ")}]`;
    for (let d = 0; d < days; d++) {
      const dayMs = startMs + d * DAY_MS;
      const from = indexAt(layout, dayMs);
      const to = indexAt(layout, dayMs + DAY_MS);
      if (to <= from) continue;
      const partDir = join(dataDir, `created_at_day=${dayText(dayMs)}`);
      await mkdir(partDir, { recursive: true });
      await duck.run(
        `COPY (SELECT (i + 1)::BIGINT AS id, make_timestamp(${layout.startUs}::BIGINT + i * ${layout.stepUs}::BIGINT) AS created_at, ${kinds}[(i % 10)::INTEGER + 1] AS kind, ((i * 7919) % 100000 + 1)::INTEGER AS user_id, ((i * 7919) % 100000)::DOUBLE / 100 AS amount FROM range(${from}, ${to}) t(i) ORDER BY i) TO '${join(partDir, "bench-0.parquet")}' (FORMAT parquet)`,
      );
    }
    // Statistics of every file, as the manifest keeps them (timestamps as ns, bigints as text).
    const reader = await duck.runAndReadAll(
      `SELECT filename, count(*)::BIGINT, min(id)::VARCHAR, max(id)::VARCHAR,
        (epoch_us(min(created_at)) * 1000)::VARCHAR, (epoch_us(max(created_at)) * 1000)::VARCHAR,
        min(kind), max(kind), min(user_id), max(user_id), min(amount), max(amount),
        count(*) - count(id), count(*) - count(created_at), count(*) - count(kind),
        count(*) - count(user_id), count(*) - count(amount)
       FROM read_parquet('${dataDir}/*/*.parquet', filename = true) GROUP BY filename ORDER BY filename`,
    );
    const files: DataFile[] = [];
    for (const row of reader.getRowsJS()) {
      const [file, count, ...rest] = row as [string, bigint, ...unknown[]];
      const [idMin, idMax, tsMin, tsMax, kMin, kMax, uMin, uMax, aMin, aMax, ...nulls] = rest;
      const rel = relative(tableDir, file).split("\\").join("/");
      const day = /created_at_day=(\d{4}-\d{2}-\d{2})/.exec(rel)?.[1] ?? null;
      const n = (v: unknown) => Number(v);
      files.push({
        path: rel,
        partition: { created_at_day: day },
        rowCount: Number(count),
        bytes: (await stat(file)).size,
        columns: {
          id: { min: idMin, max: idMax, nulls: n(nulls[0]) },
          created_at: { min: tsMin, max: tsMax, nulls: n(nulls[1]) },
          kind: { min: kMin, max: kMax, nulls: n(nulls[2]) },
          user_id: { min: n(uMin), max: n(uMax), nulls: n(nulls[3]) },
          amount: { min: n(aMin), max: n(aMax), nulls: n(nulls[4]) },
        },
      });
    }
    const rows = files.reduce((sum, f) => sum + f.rowCount, 0);
    const expected = indexAt(layout, layout.watermarkMs);
    if (rows !== expected) throw new Error(`cold files hold ${rows} rows, expected ${expected}`);
    const store = await ColdStore.open({ path });
    let version: number;
    try {
      await store.create(COLD_TABLE, COLD_COLUMNS, [{ source: "created_at", transform: "day" }]);
      const committed = await store.commit(COLD_TABLE, "append", () => ({
        files,
        properties: { [WATERMARK_PROPERTY]: new Date(layout.watermarkMs).toISOString() },
        summary: { "added-files": String(files.length), "added-rows": String(rows) },
      }));
      version = committed.version;
    } finally {
      await store.close();
    }
    const data: ColdData = {
      path,
      baseVersion: version,
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.bytes, 0),
    };
    await writeFile(coldMarkerFile(dir), `${JSON.stringify({ spec, ...data })}\n`);
    log(
      `cold store ${path}: wrote ${files.length} Parquet files (${rows.toLocaleString("en")} events, ${(data.bytes / 1024 ** 2).toFixed(0)} MiB) in ${seconds(started)}`,
    );
    return data;
  } finally {
    duck.closeSync();
    instance.closeSync();
  }
}

/**
 * Puts the cold table back as generated: metadata versions after the base one and the data files
 * it does not list are removed (a move's commit and files). Only while no worker runs.
 */
export async function resetCold(cold: ColdData): Promise<number> {
  const tableDir = join(cold.path, "main", COLD_TABLE);
  const metaDir = join(tableDir, "metadata");
  let removed = 0;
  for (const name of await readdir(metaDir)) {
    const m = /^v(\d+)\.metadata\.json$/.exec(name);
    if ((m && Number(m[1]) > cold.baseVersion) || name.startsWith(".tmp-")) {
      await rm(join(metaDir, name), { force: true });
      removed++;
    }
  }
  const base = JSON.parse(
    await readFile(join(metaDir, `v${cold.baseVersion}.metadata.json`), "utf8"),
  ) as { currentSnapshotId?: number; snapshots: { snapshotId: number; files: DataFile[] }[] };
  const listed = new Set(
    base.snapshots.find((s) => s.snapshotId === base.currentSnapshotId)?.files.map((f) => f.path),
  );
  const entries = await readdir(join(tableDir, "data"), { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const rel = relative(tableDir, join(entry.parentPath, entry.name)).split("\\").join("/");
    if (!listed.has(rel)) {
      await rm(join(tableDir, rel), { force: true });
      removed++;
    }
  }
  // Anything else a lifecycle kept beside the table (its state) goes too.
  for (const name of await readdir(tableDir)) {
    if (name === "metadata" || name === "data") continue;
    await rm(join(tableDir, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Makes the hot table hold exactly the events of [fromMs, toMs) that it held as generated. */
export async function restoreHotRange(
  url: string,
  layout: Layout,
  fromMs: number,
  toMs: number,
): Promise<void> {
  await withPg(url, async (c) => {
    await c.query("BEGIN");
    await c.query("DELETE FROM events WHERE created_at >= $1 AND created_at < $2", [
      new Date(fromMs).toISOString(),
      new Date(toMs).toISOString(),
    ]);
    await c.query(pgInsertEvents(layout, "events", indexAt(layout, fromMs), indexAt(layout, toMs)));
    await c.query("COMMIT");
  });
}

/** Moves whatever the baseline's archive table holds back into its events table. */
export async function restoreBaseline(url: string): Promise<number> {
  return withPg(url, async (c) => {
    await c.query("BEGIN");
    const moved = await c.query("INSERT INTO events SELECT * FROM events_archive");
    await c.query("DELETE FROM events_archive");
    await c.query("COMMIT");
    return moved.rowCount ?? 0;
  });
}

/** VACUUM ANALYZE of a database's events table, after moves have churned it. */
export async function vacuumEvents(url: string): Promise<void> {
  await withPg(url, (c) => c.query("VACUUM ANALYZE events"));
}

/**
 * The cold store: Parquet files under a directory, one table per `main/<table>/` with Iceberg-like
 * metadata versions. Writers stage files first and make them visible with one optimistic commit;
 * readers take the highest metadata version and see one snapshot's files, never a mix.
 */
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { EntenteError } from "@entente/protocol";
import type { ColumnBounds, QueryResult, Row, Value } from "../types.ts";
import { createVersion, latestVersion, readVersion, removeVersionsBelow } from "./catalog.ts";
import { batchesChecksum } from "./checksum.ts";
import {
  type ColdColumn,
  type ColdSnapshot,
  type ColdTableMetadata,
  type ColdTableStats,
  type ColumnStats,
  type CommitChange,
  checkColumns,
  checkIdentifier,
  checkSpec,
  currentFiles,
  currentSpecId,
  type DataFile,
  type MaintenanceResult,
  type PartitionCheck,
  type PartitionField,
  sameSchema,
  specIdOf,
} from "./model.ts";
import { filesRelation, literal, ParquetIO, q, READ_OPTIONS, sortColumn } from "./parquet.ts";
import { partitionHash } from "./partition.ts";
import {
  filePartition,
  nextMetadata,
  partitionKey,
  planCompaction,
  planExpiry,
  referencedFiles,
} from "./plan.ts";
import { pruneFiles } from "./prune.ts";
import { compareNormal, sqlLiteral, statFromJson, statToJson } from "./values.ts";

export interface ColdStoreConfig {
  path: string;
  /** Size files are split at and compacted to (default 128 MiB). */
  targetFileBytes?: number;
  /** Default age before snapshots expire and orphan files are removed (default 1 day). */
  snapshotRetentionMs?: number;
  /**
   * The youngest an uncommitted (orphan) file can be and still be deleted by expireSnapshots,
   * whatever `olderThanMs` it is given (default 1 day, as Iceberg's remove_orphan_files keeps 3):
   * a move, compaction or materialization writes its files before it commits them.
   */
  orphanMinAgeMs?: number;
  /** Most partitions a table (and one write) may have; more is refused (default 10,000). */
  maxPartitions?: number;
}

const DEFAULT_TARGET_BYTES = 128 * 1024 * 1024;
const DEFAULT_RETENTION_MS = 24 * 60 * 60 * 1000;
const DEFAULT_ORPHAN_MIN_AGE_MS = 24 * 60 * 60 * 1000;
const DEFAULT_MAX_PARTITIONS = 10_000;
/** Commits lost to other writers before giving up. */
const COMMIT_ATTEMPTS = 100;
/** Metadata versions kept behind the current one. */
const METADATA_VERSIONS_KEPT = 10;
const PREFIX = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$/;

export class ColdStore {
  readonly path: string;
  readonly targetFileBytes: number;
  readonly snapshotRetentionMs: number;
  readonly orphanMinAgeMs: number;
  readonly maxPartitions: number;
  readonly #io: ParquetIO;
  readonly #cache = new Map<string, ColdTableMetadata>();

  private constructor(config: ColdStoreConfig, io: ParquetIO) {
    this.path = config.path;
    this.targetFileBytes = config.targetFileBytes ?? DEFAULT_TARGET_BYTES;
    this.snapshotRetentionMs = config.snapshotRetentionMs ?? DEFAULT_RETENTION_MS;
    this.orphanMinAgeMs = config.orphanMinAgeMs ?? DEFAULT_ORPHAN_MIN_AGE_MS;
    this.maxPartitions = config.maxPartitions ?? DEFAULT_MAX_PARTITIONS;
    this.#io = io;
  }

  /** `sourceName` names the source in errors from reading files (the connector's name). */
  static async open(config: ColdStoreConfig, sourceName?: string): Promise<ColdStore> {
    if (typeof config.path !== "string" || config.path === "") {
      throw new EntenteError("BAD_REQUEST", "cold store: path must be a directory");
    }
    for (const key of ["targetFileBytes", "snapshotRetentionMs", "maxPartitions"] as const) {
      const value = config[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new EntenteError("BAD_REQUEST", `cold store: ${key} must be a positive number`);
      }
    }
    const minAge = config.orphanMinAgeMs;
    if (minAge !== undefined && !(Number.isFinite(minAge) && minAge >= 0)) {
      throw new EntenteError("BAD_REQUEST", "cold store: orphanMinAgeMs must be a number >= 0");
    }
    await mkdir(join(config.path, "main"), { recursive: true });
    return new ColdStore(config, await ParquetIO.open(sourceName ?? `coldstore:${config.path}`));
  }

  /** The embedded DuckDB the store reads and writes files with. */
  get io(): ParquetIO {
    return this.#io;
  }

  tableDir(table: string): string {
    checkIdentifier("table", table);
    return join(this.path, "main", table);
  }

  absolute(table: string, file: Pick<DataFile, "path">): string {
    return join(this.tableDir(table), file.path);
  }

  /** Tables with at least one metadata version, sorted. */
  async tables(): Promise<string[]> {
    const names = await readdir(join(this.path, "main")).catch(() => [] as string[]);
    const tables: string[] = [];
    for (const name of names.sort()) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) continue;
      if ((await latestVersion(join(this.path, "main", name))) > 0) tables.push(name);
    }
    return tables;
  }

  /** Current metadata, or undefined when the table does not exist: one readdir, cached by version. */
  async load(table: string): Promise<ColdTableMetadata | undefined> {
    const dir = this.tableDir(table);
    const version = await latestVersion(dir);
    if (version === 0) return undefined;
    const cached = this.#cache.get(table);
    if (cached?.version === version) return cached;
    const metadata = await readVersion(dir, version);
    this.#cache.set(table, metadata);
    return metadata;
  }

  /** The current metadata, or NOT_FOUND naming the tables there are. */
  async require(table: string): Promise<ColdTableMetadata> {
    const metadata = await this.load(table);
    if (metadata === undefined) {
      const tables = await this.tables();
      throw new EntenteError(
        "NOT_FOUND",
        `cold store: no table ${table}; tables: ${tables.length > 0 ? tables.join(", ") : "(none)"}`,
      );
    }
    return metadata;
  }

  /** Creates the table (first metadata version, no snapshot) unless it exists with the same columns. */
  async create(
    table: string,
    columns: ColdColumn[],
    spec: PartitionField[],
  ): Promise<ColdTableMetadata> {
    const dir = this.tableDir(table);
    checkColumns(table, columns);
    checkSpec(table, columns, spec);
    const existing = await this.load(table);
    if (existing !== undefined) return this.#sameOrFail(table, existing, columns);
    const now = Date.now();
    const metadata: ColdTableMetadata = {
      formatVersion: 1,
      tableUuid: randomUUID(),
      location: dir,
      version: 1,
      lastUpdatedMs: now,
      schema: {
        columns: columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable })),
      },
      partitionSpec: { specId: 0, fields: spec.map((f) => ({ ...f })) },
      properties: {},
      snapshots: [],
    };
    if (await createVersion(dir, metadata)) {
      this.#cache.set(table, metadata);
      return metadata;
    }
    return this.#sameOrFail(table, await this.require(table), columns);
  }

  #sameOrFail(table: string, existing: ColdTableMetadata, columns: ColdColumn[]) {
    if (sameSchema(existing.schema.columns, columns)) return existing;
    throw new EntenteError(
      "BAD_REQUEST",
      `cold store: table ${table} exists with other columns: ${existing.schema.columns.map((c) => `${c.name} ${c.type}`).join(", ")}`,
    );
  }

  /**
   * Writes rows (normal form, in column order) into Parquet files of the current spec, one or more
   * per partition, named `<prefix>-<partition hash>-<n>.parquet`: writing again with the same
   * prefix replaces them. Files belong to no snapshot until committed.
   */
  async writeFiles(
    table: string,
    rows: AsyncIterable<Row[]>,
    options: { prefix: string; signal?: AbortSignal },
  ): Promise<DataFile[]> {
    if (!PREFIX.test(options.prefix) || options.prefix.includes("..")) {
      throw new EntenteError(
        "BAD_REQUEST",
        `cold store: file prefix ${JSON.stringify(options.prefix)} must be letters, digits, _ . -`,
      );
    }
    const metadata = await this.require(table);
    return this.#guard(table, () =>
      this.#write(
        table,
        metadata,
        metadata.partitionSpec.fields,
        currentSpecId(metadata),
        rows,
        options,
      ),
    );
  }

  #write(
    table: string,
    metadata: ColdTableMetadata,
    spec: readonly PartitionField[],
    specId: number,
    rows: AsyncIterable<Row[]>,
    options: { prefix: string; signal?: AbortSignal },
  ): Promise<DataFile[]> {
    return this.#io.write({
      tableDir: this.tableDir(table),
      columns: metadata.schema.columns,
      spec,
      specId,
      maxPartitions: this.maxPartitions,
      table,
      rows,
      prefix: options.prefix,
      targetFileBytes: this.targetFileBytes,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /**
   * Runs `work` with its failures named by the table and by paths relative to the store: fs and
   * DuckDB errors otherwise carry the store's absolute path (and fs ones no code of ours).
   */
  async #guard<T>(table: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw this.wrapError(table, err);
    }
  }

  /** An error as the store reports it: an EntenteError naming the table, no absolute paths. */
  wrapError(table: string, err: unknown): EntenteError {
    const scrub = (text: string) => text.split(`${this.path}/`).join("").split(this.path).join(".");
    if (err instanceof EntenteError) {
      const message = scrub(err.message);
      if (message === err.message) return err;
      return new EntenteError(err.code, message, {
        retryable: err.retryable,
        ...(err.details ? { details: err.details } : {}),
        cause: err,
      });
    }
    const errno = (err as NodeJS.ErrnoException | undefined)?.code;
    const message = scrub(err instanceof Error ? err.message : String(err));
    const unavailable = errno === "ENOSPC" || errno === "EIO" || errno === "EMFILE";
    const tooLong = errno === "ENAMETOOLONG";
    return new EntenteError(
      tooLong ? "BAD_REQUEST" : unavailable ? "UNAVAILABLE" : "INTERNAL",
      `cold store: table ${table}: ${message}`,
      { retryable: unavailable, ...(errno ? { details: { errno } } : {}), cause: err },
    );
  }

  /** Streams the rows of some files, read back in the table's column order and types. */
  async readFiles(
    table: string,
    files: readonly DataFile[],
    signal?: AbortSignal,
  ): Promise<QueryResult> {
    const metadata = await this.require(table);
    const paths = files.map((f) => this.absolute(table, f));
    const result = await this.#guard(table, () =>
      this.#io.query(
        `SELECT * FROM ${filesRelation(metadata.schema.columns, paths)}`,
        signal,
        10_000,
      ),
    );
    return { columns: result.columns, batches: this.guardBatches(table, result.batches) };
  }

  /** Batches whose failures are reported as wrapError reports them. */
  async *guardBatches(table: string, batches: AsyncIterable<Row[]>): AsyncIterable<Row[]> {
    try {
      yield* batches;
    } catch (err) {
      throw this.wrapError(table, err);
    }
  }

  /** Row count and order-independent checksum per partition, read back from the files. */
  async checkFiles(table: string, files: DataFile[]): Promise<PartitionCheck[]> {
    const byPartition = new Map<string, DataFile[]>();
    for (const file of files) {
      const key = filePartition(file);
      byPartition.set(key, [...(byPartition.get(key) ?? []), file]);
    }
    const checks: PartitionCheck[] = [];
    for (const partition of [...byPartition.keys()].sort()) {
      const result = await this.readFiles(table, byPartition.get(partition) ?? []);
      checks.push({ partition, ...(await batchesChecksum(result.batches)) });
    }
    return checks;
  }

  /**
   * Optimistic commit: `change` gets the current metadata and returns the next snapshot's files
   * (and properties), or undefined for no change; it runs again when another writer won the race.
   */
  async commit(
    table: string,
    operation: ColdSnapshot["operation"],
    change: (current: ColdTableMetadata) => CommitChange | undefined,
  ): Promise<ColdTableMetadata> {
    return this.#guard(table, () =>
      this.#commitMetadata(table, async (current) => {
        const next = change(current);
        if (next === undefined) return undefined;
        if (next.partitionSpec) checkSpec(table, current.schema.columns, next.partitionSpec);
        const metadata = nextMetadata(current, operation, next, Date.now());
        await this.#checkCommit(table, operation, current, metadata);
        return metadata;
      }),
    );
  }

  /**
   * Refuses, before anything is written, a commit that would name files that are not there (an
   * expiry removed them as orphans, or they were never written), append files written under
   * another partition spec than the table's (a repartition committed meanwhile: their partition
   * values mean another spec's), or give the table more than maxPartitions partitions.
   */
  async #checkCommit(
    table: string,
    operation: ColdSnapshot["operation"],
    current: ColdTableMetadata,
    next: ColdTableMetadata,
  ): Promise<void> {
    const files = currentFiles(next);
    const before = new Set(currentFiles(current).map((f) => f.path));
    const added = files.filter((f) => !before.has(f.path));
    const specId = currentSpecId(next);
    if (operation === "append") {
      const other = added.find((f) => specIdOf(f) !== specId);
      if (other !== undefined) {
        throw new EntenteError(
          "UNAVAILABLE",
          `cold store: table ${table} was repartitioned (partition spec ${specId}) after ${other.path} was written under spec ${specIdOf(other)}; write the files again`,
          { retryable: true },
        );
      }
    }
    const partitions = new Set(files.map(partitionKey));
    if (partitions.size > this.maxPartitions) {
      throw new EntenteError(
        "BAD_REQUEST",
        `cold store: table ${table} would have ${partitions.size} partitions, more than ${this.maxPartitions} (maxPartitions); repartition it by fewer values`,
        { retryable: false },
      );
    }
    for (const file of added) {
      const info = await stat(this.absolute(table, file)).catch(() => undefined);
      if (info?.isFile()) continue;
      throw new EntenteError(
        "UNAVAILABLE",
        `cold store: table ${table}: ${file.path} is not there to be committed (removed as an orphan, or never written); write the files again`,
        { retryable: true },
      );
    }
  }

  /** Writes the next metadata version `build` makes from the current one, retrying lost races. */
  async #commitMetadata(
    table: string,
    build: (
      current: ColdTableMetadata,
    ) => ColdTableMetadata | undefined | Promise<ColdTableMetadata | undefined>,
  ): Promise<ColdTableMetadata> {
    const dir = this.tableDir(table);
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
      const current = await this.require(table);
      const next = await build(current);
      if (next === undefined) return current;
      if (await createVersion(dir, { ...next, version: current.version + 1 })) {
        const committed = { ...next, version: current.version + 1 };
        this.#cache.set(table, committed);
        return committed;
      }
    }
    throw new EntenteError(
      "UNAVAILABLE",
      `cold store: table ${table}: lost ${COMMIT_ATTEMPTS} commits in a row to other writers`,
    );
  }

  /** The current snapshot's files whose partition values and min/max can hold rows within `bounds`. */
  prune(metadata: ColdTableMetadata, bounds: Record<string, ColumnBounds>): DataFile[] {
    return pruneFiles(
      currentFiles(metadata),
      metadata.schema.columns,
      metadata.partitionSpec.fields,
      bounds,
      currentSpecId(metadata),
    );
  }

  /** Merges each partition's files below the target size into target-sized ones, in one replace snapshot. */
  async compact(
    table: string,
    options: { targetFileBytes?: number; signal?: AbortSignal } = {},
  ): Promise<MaintenanceResult> {
    const metadata = await this.require(table);
    const files = currentFiles(metadata);
    // Files of an earlier spec are left to a repartition: merged, they would keep its values.
    const specId = currentSpecId(metadata);
    const groups = planCompaction(
      files.filter((f) => specIdOf(f) === specId),
      options.targetFileBytes ?? this.targetFileBytes,
    );
    const rows = files.reduce((n, f) => n + f.rowCount, 0);
    if (groups.length === 0) {
      return { filesBefore: files.length, filesAfter: files.length, rows };
    }
    return this.#guard(table, () =>
      this.#compactGroups(table, metadata, groups, specId, options.signal),
    );
  }

  async #compactGroups(
    table: string,
    metadata: ColdTableMetadata,
    groups: DataFile[][],
    specId: number,
    signal: AbortSignal | undefined,
  ): Promise<MaintenanceResult> {
    const { columns } = metadata.schema;
    const sort = sortColumn(columns, metadata.partitionSpec.fields);
    const tag = randomUUID().slice(0, 8);
    const replaced = new Set<string>();
    const added: DataFile[] = [];
    for (const [i, group] of groups.entries()) {
      const first = group[0] as DataFile;
      const partition = filePartition(first);
      const path = `${partition === "" ? "data" : `data/${partition}`}/compact-${tag}-${partitionHash(partition)}-${i}.parquet`;
      const sources = group.map((f) => literal(this.absolute(table, f))).join(", ");
      await this.#io.copyTo(
        `SELECT * FROM read_parquet([${sources}], ${READ_OPTIONS})${sort ? ` ORDER BY ${q(sort)}` : ""}`,
        this.absolute(table, { path }),
        signal,
      );
      const file = await this.#io.describe(this.tableDir(table), path, columns, signal);
      added.push({ ...file, partition: first.partition, specId });
      for (const f of group) replaced.add(f.path);
    }
    return this.#replace(table, metadata, replaced, added, "compact");
  }

  /** Commits `added` in place of `replaced`; fails when another writer changed those files meanwhile. */
  async #replace(
    table: string,
    planned: ColdTableMetadata,
    replaced: Set<string>,
    added: DataFile[],
    why: string,
    partitionSpec?: PartitionField[],
  ): Promise<MaintenanceResult> {
    const filesBefore = currentFiles(planned).length;
    const committed = await this.commit(table, "replace", (current) => {
      const files = currentFiles(current);
      const present = new Set(files.map((f) => f.path));
      const gone = [...replaced].filter((p) => !present.has(p));
      if (gone.length > 0 || (partitionSpec && current.version !== planned.version)) {
        throw new EntenteError(
          "UNAVAILABLE",
          `cold store: table ${table} changed during ${why} (${gone[0] ?? "new snapshot"}); run it again`,
        );
      }
      return {
        files: [...files.filter((f) => !replaced.has(f.path)), ...added],
        summary: { maintenance: why },
        ...(partitionSpec ? { partitionSpec } : {}),
      };
    });
    const after = currentFiles(committed);
    return {
      filesBefore,
      filesAfter: after.length,
      rows: after.reduce((n, f) => n + f.rowCount, 0),
      ...(committed.currentSnapshotId !== undefined
        ? { snapshotId: committed.currentSnapshotId }
        : {}),
    };
  }

  /** Rewrites every row under a new spec; the spec changes in the same replace snapshot. */
  async repartition(
    table: string,
    spec: PartitionField[],
    options: { signal?: AbortSignal } = {},
  ): Promise<MaintenanceResult> {
    const metadata = await this.require(table);
    checkSpec(table, metadata.schema.columns, spec);
    const files = currentFiles(metadata);
    const { signal } = options;
    const io = this.#io;
    const sql = `SELECT * FROM ${filesRelation(
      metadata.schema.columns,
      files.map((f) => this.absolute(table, f)),
    )}`;
    // Opened only once the writer asks for rows, and released when it stops asking (yield*
    // passes return on): a read connection is never left held by a write that failed first.
    async function* rows(): AsyncIterable<Row[]> {
      yield* (await io.query(sql, signal, 10_000)).batches;
    }
    const added = await this.#guard(table, () =>
      files.length === 0
        ? Promise.resolve([])
        : this.#write(table, metadata, spec, currentSpecId(metadata) + 1, rows(), {
            prefix: `repart-${randomUUID().slice(0, 8)}`,
            ...(signal ? { signal } : {}),
          }),
    );
    return this.#replace(
      table,
      metadata,
      new Set(files.map((f) => f.path)),
      added,
      "repartition",
      spec,
    );
  }

  /**
   * Drops snapshots older than `olderThanMs` (keeping the current one and the newest `retainLast`),
   * then deletes files no remaining snapshot refers to, orphan files older than `olderThanMs` and
   * than orphanMinAgeMs (a younger file may be one a writer has yet to commit), and metadata
   * versions well behind the current one.
   */
  async expireSnapshots(
    table: string,
    options: { olderThanMs?: number; retainLast?: number } = {},
  ): Promise<{ expiredSnapshots: number; deletedFiles: number }> {
    return this.#guard(table, () => this.#expireSnapshots(table, options));
  }

  async #expireSnapshots(
    table: string,
    options: { olderThanMs?: number; retainLast?: number },
  ): Promise<{ expiredSnapshots: number; deletedFiles: number }> {
    const olderThanMs = options.olderThanMs ?? this.snapshotRetentionMs;
    const retainLast = Math.max(1, options.retainLast ?? 1);
    let expired = 0;
    let deletable: string[] = [];
    const committed = await this.#commitMetadata(table, (current) => {
      const plan = planExpiry(current, Date.now(), olderThanMs, retainLast);
      expired = plan.expired.length;
      deletable = plan.deletable;
      if (expired === 0) return undefined;
      return { ...current, lastUpdatedMs: Date.now(), snapshots: plan.keep };
    });
    // What the committed metadata still refers to is never deleted.
    const referenced = referencedFiles(committed);
    let deleted = 0;
    for (const path of deletable) {
      if (referenced.has(path)) continue;
      await rm(this.absolute(table, { path }), { force: true });
      deleted++;
    }
    deleted += await this.#removeOrphans(
      table,
      referenced,
      Date.now() - Math.max(olderThanMs, this.orphanMinAgeMs),
    );
    await removeVersionsBelow(
      this.tableDir(table),
      committed.version - METADATA_VERSIONS_KEPT + 1,
      Date.now() - olderThanMs,
    );
    return { expiredSnapshots: expired, deletedFiles: deleted };
  }

  /** Files under data/ no snapshot refers to, last written before `beforeMs`. */
  async #removeOrphans(table: string, referenced: Set<string>, beforeMs: number): Promise<number> {
    const dir = this.tableDir(table);
    const entries = await readdir(join(dir, "data"), {
      recursive: true,
      withFileTypes: true,
    }).catch(() => []);
    let removed = 0;
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const abs = join(entry.parentPath, entry.name);
      const path = relative(dir, abs).split("\\").join("/");
      if (referenced.has(path)) continue;
      const info = await stat(abs).catch(() => undefined);
      if (info === undefined || info.mtimeMs >= beforeMs) continue;
      await rm(abs, { force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Cold retention: a delete snapshot without the rows whose `column` is below `before`; files
   * straddling it are rewritten with the rest (rows where `column` is null stay).
   */
  async expireRows(
    table: string,
    column: string,
    before: Value,
  ): Promise<{ removedRows: number; removedFiles: number }> {
    const metadata = await this.require(table);
    const col = metadata.schema.columns.find((c) => c.name === column);
    if (col === undefined) {
      throw new EntenteError(
        "NOT_FOUND",
        `cold store: table ${table} has no column ${column}; columns: ${metadata.schema.columns.map((c) => c.name).join(", ")}`,
      );
    }
    const files = currentFiles(metadata);
    const replaced = new Set<string>();
    const added: DataFile[] = [];
    let removedRows = 0;
    let removedFiles = 0;
    const tag = randomUUID().slice(0, 8);
    for (const [i, file] of files.entries()) {
      const stats = file.columns[column];
      const min = statFromJson(stats?.min, col.type);
      const max = statFromJson(stats?.max, col.type);
      const maxBelow = max !== undefined && (compareNormal(max, before) ?? 1) < 0;
      const minAtOrAbove = min !== undefined && (compareNormal(min, before) ?? -1) >= 0;
      if (minAtOrAbove || (stats !== undefined && stats.nulls === file.rowCount)) continue;
      replaced.add(file.path);
      if (maxBelow && stats?.nulls === 0) {
        removedRows += file.rowCount;
        removedFiles++;
        continue;
      }
      // Straddles `before` (or its statistics are unknown): keep only the rows at or above it.
      const partition = filePartition(file);
      const path = `${partition === "" ? "data" : `data/${partition}`}/expire-${tag}-${partitionHash(partition)}-${i}.parquet`;
      const kept = await this.#guard(table, async () => {
        await this.#io.copyTo(
          `SELECT * FROM read_parquet([${literal(this.absolute(table, file))}], ${READ_OPTIONS}) WHERE ${q(column)} >= ${sqlLiteral(before, col.type)} OR ${q(column)} IS NULL`,
          this.absolute(table, { path }),
        );
        return this.#io.describe(this.tableDir(table), path, metadata.schema.columns);
      });
      removedRows += file.rowCount - kept.rowCount;
      if (kept.rowCount === 0) {
        await rm(this.absolute(table, kept), { force: true });
        removedFiles++;
      } else {
        added.push({
          ...kept,
          partition: file.partition,
          ...(file.specId !== undefined ? { specId: file.specId } : {}),
        });
      }
    }
    if (replaced.size === 0) return { removedRows: 0, removedFiles: 0 };
    await this.commit(table, "delete", (current) => {
      const present = new Set(currentFiles(current).map((f) => f.path));
      const gone = [...replaced].filter((p) => !present.has(p));
      if (gone.length > 0) {
        throw new EntenteError(
          "UNAVAILABLE",
          `cold store: table ${table} changed during row expiry (${gone[0]}); run it again`,
        );
      }
      return {
        files: [...currentFiles(current).filter((f) => !replaced.has(f.path)), ...added],
        summary: { "expired-before": String(statToJson(before, col.type) ?? before) },
      };
    });
    return { removedRows, removedFiles };
  }

  /** Rows, files, bytes and snapshots, per-column min/max/nulls and per-partition figures, from the manifest. */
  async stats(table: string): Promise<ColdTableStats> {
    const metadata = await this.require(table);
    const files = currentFiles(metadata);
    const columns: Record<string, ColumnStats> = {};
    for (const col of metadata.schema.columns) {
      let min: Value | undefined;
      let max: Value | undefined;
      let nulls = 0;
      for (const file of files) {
        const s = file.columns[col.name];
        if (s === undefined) continue;
        nulls += s.nulls;
        const fmin = statFromJson(s.min, col.type);
        const fmax = statFromJson(s.max, col.type);
        if (fmin !== undefined && (min === undefined || (compareNormal(fmin, min) ?? 0) < 0)) {
          min = fmin;
        }
        if (fmax !== undefined && (max === undefined || (compareNormal(fmax, max) ?? 0) > 0)) {
          max = fmax;
        }
      }
      // In the engine's normal form, as rows are: a timestamp's bounds are bigint nanoseconds.
      columns[col.name] = { min: min ?? null, max: max ?? null, nulls };
    }
    const partitions = new Map<string, { rows: number; files: number; bytes: number }>();
    for (const file of files) {
      const key = filePartition(file);
      const p = partitions.get(key) ?? { rows: 0, files: 0, bytes: 0 };
      p.rows += file.rowCount;
      p.files++;
      p.bytes += file.bytes;
      partitions.set(key, p);
    }
    return {
      rows: files.reduce((n, f) => n + f.rowCount, 0),
      files: files.length,
      bytes: files.reduce((n, f) => n + f.bytes, 0),
      snapshots: metadata.snapshots.length,
      ...(metadata.currentSnapshotId !== undefined
        ? { currentSnapshotId: metadata.currentSnapshotId }
        : {}),
      columns,
      partitions: [...partitions.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([partition, p]) => ({ partition, ...p })),
    };
  }

  async close(): Promise<void> {
    await this.#io.close();
  }
}

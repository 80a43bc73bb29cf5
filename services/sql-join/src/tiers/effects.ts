/**
 * What a move does to the databases, for one lifecycle table: reads a day of hot rows through
 * the hot source's connector (statements in its dialect, bounds bound as the engine's pushdown
 * binds them), writes and checks Parquet files and commits snapshots through the ColdStore, and
 * deletes a day from hot in one short transaction that first reads (and locks) the day's rows,
 * compares their count and checksum with what cold holds for the day (found by content, whatever
 * compaction or repartitioning did), makes cold hold exactly them where they differ, and writes a
 * marker of the delete (`entente_tier_deletes`) so that a retry knows whether it committed.
 */

import { randomBytes } from "node:crypto";
import {
  type ColdStore,
  type ColdTableMetadata,
  type ColumnBounds,
  type Connector,
  type DataFile,
  type PartitionCheck,
  type Row,
  RowsChecksum,
  rowsChecksum,
  type SourceSession,
  type Value,
  type ValueType,
} from "@entente/connectors";
import { EntenteError } from "@entente/protocol";
import { ParamList } from "@entente/sql";
import { WATERMARK_PROPERTY } from "../logical-config.ts";
import {
  addDays,
  type CommitInput,
  type CommitOutput,
  type CopyInput,
  type CopyOutput,
  type DeleteInput,
  type DeleteOutput,
  dayMs,
  dayOf,
  type ExpireInput,
  type ExpireOutput,
  type MovedFile,
  type PlanInput,
  type PlanOutput,
  type VerifyInput,
  type VerifyOutput,
  watermarkDay,
} from "./move-machine.ts";

/** The acts of a move, as the machine's actors call them. */
export interface TierEffects {
  plan(input: PlanInput, signal: AbortSignal): Promise<PlanOutput>;
  copyDay(input: CopyInput, signal: AbortSignal): Promise<CopyOutput>;
  verifyDay(input: VerifyInput, signal: AbortSignal): Promise<VerifyOutput>;
  commit(input: CommitInput, signal: AbortSignal): Promise<CommitOutput>;
  deleteDay(input: DeleteInput, signal: AbortSignal): Promise<DeleteOutput>;
  expire(input: ExpireInput, signal: AbortSignal): Promise<ExpireOutput>;
}

/** Summary keys of the snapshots a move commits. */
export const MOVE_SUMMARY = "entente.tier.move";
export const OP_SUMMARY = "entente.tier.op";
export const DAY_SUMMARY = "entente.tier.day";

export interface HotTable {
  connector: Connector;
  schema: string;
  name: string;
  /** The cold table's columns, read from the hot table in that order. */
  columns: Array<{ name: string; type: string }>;
}

export interface TableTiers {
  /** The logical table. */
  table: string;
  column: string;
  columnType: "date" | "timestamp";
  hot: HotTable;
  cold: ColdStore;
  coldTable: string;
  /** The last watermark the tier store records as committed (null: none): a cold table without it is refused. */
  committedWatermark?: () => Promise<string | null>;
}

/** The current snapshot's files. */
export function currentFilesOf(metadata: ColdTableMetadata): DataFile[] {
  return metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId)?.files ?? [];
}

/** The watermark a cold table's current metadata holds, null before any move. */
export function watermarkOf(metadata: ColdTableMetadata | undefined): string | null {
  return metadata?.properties[WATERMARK_PROPERTY] ?? null;
}

/**
 * File names of one copy of one move's day: each copy attempt has a nonce of its own (saved in
 * the move's record before the copy), so no copy ever rewrites a file another one committed.
 */
export function copyPrefix(moveId: string, day: string, nonce: string): string {
  return `tier-${moveId}-${day}-${nonce}`;
}

/** Files written at delete time (replacements, rewrites, late rows): a nonce per attempt. */
export function deletePrefix(moveId: string, day: string, nonce: string): string {
  return `tier-${moveId}-${day}-d${nonce}`;
}

/** A fresh nonce for file names. */
export function newNonce(): string {
  return randomBytes(4).toString("hex");
}

/** Bounds of a day of the tier column, `[day, day + 1)`, in the engine's normal form. */
export function dayBounds(
  column: string,
  columnType: "date" | "timestamp",
  day: string,
): Record<string, ColumnBounds> {
  return {
    [column]: {
      lo: { v: boundValue(day, columnType), inclusive: true },
      hi: { v: boundValue(addDays(day, 1), columnType), inclusive: false },
    },
  };
}

/**
 * The current files that may hold rows of a day, found by content: every file whose min/max of
 * the tier column overlaps `[day, day + 1)` (and whose day partition, where there is one, is that
 * day). Whatever wrote them — a move, a compaction, a repartition — they are all found.
 */
export function dayFilesOf(
  cold: ColdStore,
  metadata: ColdTableMetadata | undefined,
  column: string,
  columnType: "date" | "timestamp",
  day: string,
): DataFile[] {
  if (!metadata) return [];
  return cold.prune(metadata, dayBounds(column, columnType, day));
}

const MOD = 1n << 64n;

/** Row count and checksum of several partitions together (checksums add modulo 2^64). */
export function combineChecks(checks: readonly PartitionCheck[]): {
  rowCount: number;
  checksum: string;
} {
  let sum = 0n;
  let rowCount = 0;
  for (const c of checks) {
    rowCount += c.rowCount;
    sum = (sum + BigInt(`0x${c.checksum}`)) % MOD;
  }
  return { rowCount, checksum: sum.toString(16).padStart(16, "0") };
}

/** A day bound in the engine's normal form of the column. */
export function boundValue(day: string, columnType: "date" | "timestamp"): Value {
  return columnType === "date" ? day : BigInt(dayMs(day)) * 1_000_000n;
}

export function dayOfValue(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") {
    const ms = value / 1_000_000n - (value % 1_000_000n < 0n ? 1n : 0n);
    return dayOf(Number(ms));
  }
  if (typeof value === "number") return dayOf(value);
  if (value instanceof Date) return dayOf(value.getTime());
  return String(value).slice(0, 10);
}

const asFiles = (files: readonly MovedFile[]): DataFile[] => files as unknown as DataFile[];
const asMoved = (files: readonly DataFile[]): MovedFile[] => files as unknown as MovedFile[];

async function* single(rows: Row[]): AsyncIterable<Row[]> {
  if (rows.length > 0) yield rows;
}

/** What a statement reads: one day's rows, or with `below`, every row below that watermark. */
type Unit = { day: string; below?: string | undefined };

/** The hot source's table of committed day deletes: `(move_id, day)` and what cold held then. */
export const TIER_DELETES = "entente_tier_deletes";

/** The statements of one hot table, in its source's dialect. */
class HotStatements {
  readonly #t: TableTiers;
  constructor(tiers: TableTiers) {
    this.#t = tiers;
  }

  get #table(): string {
    const q = this.#t.hot.connector.dialect.quoteIdentifier;
    return `${q(this.#t.hot.schema)}.${q(this.#t.hot.name)}`;
  }

  get #column(): string {
    return this.#t.hot.connector.dialect.quoteIdentifier(this.#t.column);
  }

  /** The rows of a day, or of a sweep: every row below its watermark. */
  #day(select: string, unit: Unit, suffix = "") {
    const params = new ParamList(this.#t.hot.connector.dialect);
    if (unit.below !== undefined) {
      const below = params.add(
        boundValue(watermarkDay(unit.below), this.#t.columnType),
        this.#t.columnType,
      );
      return params.statement(`${select} WHERE ${this.#column} < ${below}${suffix}`);
    }
    const day = unit.day;
    const lo = params.add(boundValue(day, this.#t.columnType), this.#t.columnType);
    const hi = params.add(boundValue(addDays(day, 1), this.#t.columnType), this.#t.columnType);
    return params.statement(
      `${select} WHERE ${this.#column} >= ${lo} AND ${this.#column} < ${hi}${suffix}`,
    );
  }

  min() {
    return { sql: `SELECT MIN(${this.#column}) FROM ${this.#table}`, params: [] };
  }

  rows(unit: Unit) {
    const q = this.#t.hot.connector.dialect.quoteIdentifier;
    const list = this.#t.hot.columns.map((c) => q(c.name)).join(", ");
    return this.#day(`SELECT ${list} FROM ${this.#table}`, unit);
  }

  /** Hot rows below a watermark: written there directly, or racing a day's delete. */
  countBelow(watermark: string) {
    return this.#day(`SELECT COUNT(*) FROM ${this.#table}`, { day: "", below: watermark });
  }

  /** Reads the day's rows, locking them until the transaction ends where the source can. */
  lockedRows(day: Unit) {
    const kind = this.#t.hot.connector.kind;
    const q = this.#t.hot.connector.dialect.quoteIdentifier;
    const list = this.#t.hot.columns.map((c) => q(c.name)).join(", ");
    return this.#day(
      `SELECT ${list} FROM ${this.#table}`,
      day,
      kind === "postgres" || kind === "mysql" ? " FOR UPDATE" : "",
    );
  }

  /** The markers of committed day deletes, in the hot source (like `entente_idempotency`). */
  markersTable(): string {
    const kind = this.#t.hot.connector.kind;
    const key = kind === "mysql" ? "varbinary(200)" : "varchar(200)";
    return (
      `CREATE TABLE IF NOT EXISTS ${TIER_DELETES} (move_id ${key} NOT NULL, day varchar(40) NOT NULL, ` +
      "row_count bigint NOT NULL, checksum varchar(32) NOT NULL, PRIMARY KEY (move_id, day))"
    );
  }

  marker(moveId: string, day: string) {
    const params = new ParamList(this.#t.hot.connector.dialect);
    const m = params.add(moveId, "text");
    const d = params.add(day, "text");
    return params.statement(
      `SELECT row_count, checksum FROM ${TIER_DELETES} WHERE move_id = ${m} AND day = ${d}`,
    );
  }

  /** Records (or moves on) what cold holds for a day as of a committed delete. */
  putMarker(moveId: string, day: string, rows: number, checksum: string, update: boolean) {
    const params = new ParamList(this.#t.hot.connector.dialect);
    if (update) {
      const r = params.add(BigInt(rows), "bigint");
      const c = params.add(checksum, "text");
      const m = params.add(moveId, "text");
      const d = params.add(day, "text");
      return params.statement(
        `UPDATE ${TIER_DELETES} SET row_count = ${r}, checksum = ${c} WHERE move_id = ${m} AND day = ${d}`,
      );
    }
    const m = params.add(moveId, "text");
    const d = params.add(day, "text");
    const r = params.add(BigInt(rows), "bigint");
    const c = params.add(checksum, "text");
    return params.statement(
      `INSERT INTO ${TIER_DELETES} (move_id, day, row_count, checksum) VALUES (${m}, ${d}, ${r}, ${c})`,
    );
  }

  dropMarkers(moveId: string) {
    const params = new ParamList(this.#t.hot.connector.dialect);
    const m = params.add(moveId, "text");
    return params.statement(`DELETE FROM ${TIER_DELETES} WHERE move_id = ${m}`);
  }

  delete(day: Unit) {
    return this.#day(`DELETE FROM ${this.#table}`, day);
  }

  begin(): string {
    const kind = this.#t.hot.connector.kind;
    return kind === "mysql"
      ? "START TRANSACTION"
      : kind === "duckdb"
        ? "BEGIN TRANSACTION"
        : "BEGIN";
  }
}

/** Makes cold hold exactly `rows` for a delete's day or sweep; returns the files it added. */
type Replace = (
  input: DeleteInput,
  rows: Row[],
  nonce: string,
  signal: AbortSignal,
) => Promise<DataFile[]>;

/** The acts of moves of one table, on its real hot source and cold store. */
export function tableEffects(tiers: TableTiers): TierEffects {
  const sql = new HotStatements(tiers);
  const { cold, coldTable, hot } = tiers;
  const columnIndex = hot.columns.findIndex((c) => c.name === tiers.column);
  // Hot rows hold decimals as exact text, cold files as doubles: checksums hash both alike.
  const types = hot.columns.map((c) => c.type as ValueType);
  const inDay = (row: Row, day: string) => dayOfValue(row[columnIndex]) === day;

  const hotRows = async (day: Unit, signal: AbortSignal) =>
    (await hot.connector.query(sql.rows(day), { signal })).batches;

  const coldCheck = async (files: readonly MovedFile[]) =>
    combineChecks(files.length === 0 ? [] : await cold.checkFiles(coldTable, asFiles(files)));

  /** Streams the rows of some files, `keep` ones only. */
  async function* filtered(
    files: readonly DataFile[],
    keep: (row: Row) => boolean,
    signal: AbortSignal,
  ): AsyncIterable<Row[]> {
    if (files.length === 0) return;
    const result = await cold.readFiles(coldTable, files, signal);
    for await (const batch of result.batches) {
      const rows = batch.filter(keep);
      if (rows.length > 0) yield rows;
    }
  }

  /** What cold holds for a day now, read from every file that may hold rows of it. */
  const coldDay = async (day: string, signal: AbortSignal) => {
    const metadata = await cold.require(coldTable);
    const files = dayFilesOf(cold, metadata, tiers.column, tiers.columnType, day);
    const sum = new RowsChecksum(types);
    for await (const rows of filtered(files, (r) => inDay(r, day), signal)) sum.add(rows);
    return { files, rowCount: sum.rowCount, checksum: sum.checksum };
  };

  /** Writes rows to new files and checks them against what was written. */
  const writeChecked = async (day: string, rows: Row[], prefix: string, signal: AbortSignal) => {
    if (rows.length === 0) return [];
    const files = await cold.writeFiles(coldTable, single(rows), { prefix, signal });
    const want = rowsChecksum(rows, types);
    const got = await coldCheck(asMoved(files));
    if (want.rowCount !== got.rowCount || want.checksum !== got.checksum) {
      throw new EntenteError(
        "UNAVAILABLE",
        `day ${day}: the files written hold ${got.rowCount} rows (${got.checksum}), hot ${want.rowCount} (${want.checksum})`,
        { retryable: true },
      );
    }
    return files;
  };

  const summaryOf = (input: DeleteInput, op: string) => ({
    [MOVE_SUMMARY]: input.moveId,
    [OP_SUMMARY]: op,
    [DAY_SUMMARY]: input.day,
  });

  /**
   * Commits a day's replace snapshot: the `removed` files out, `added` in. `refuse` sees which
   * removed files cold no longer holds (rewritten meanwhile) and throws where that is unsafe; it
   * runs again on each commit race, like the rest.
   */
  const commitReplace = (
    input: DeleteInput,
    removed: ReadonlySet<string>,
    added: DataFile[],
    refuse: (gone: string[], current: ColdTableMetadata) => void,
  ) =>
    cold.commit(coldTable, "replace", (current) => {
      const present = currentFilesOf(current);
      const paths = new Set(present.map((f) => f.path));
      refuse(
        [...removed].filter((p) => !paths.has(p)),
        current,
      );
      return {
        files: [...present.filter((f) => !removed.has(f.path)), ...added],
        properties: current.properties,
        summary: summaryOf(input, "replace"),
      };
    });

  /**
   * Makes the cold day hold exactly `rows`: each file that may hold rows of the day is rewritten
   * without them, and the rows go into new files, in one replace snapshot. A file changed
   * meanwhile (a compaction) makes it retry.
   */
  const replaceDay: Replace = async (input, rows, nonce, signal) => {
    const metadata = await cold.require(coldTable);
    const old = dayFilesOf(cold, metadata, tiers.column, tiers.columnType, input.day);
    const prefix = deletePrefix(input.moveId, input.day, nonce);
    const kept: DataFile[] = [];
    const replaced = new Set<string>();
    for (const [i, file] of old.entries()) {
      const rest: Row[] = [];
      for await (const batch of filtered([file], (r) => !inDay(r, input.day), signal))
        rest.push(...batch);
      if (rest.length === file.rowCount) continue; // none of the day's rows: kept as it is
      replaced.add(file.path);
      if (rest.length > 0) {
        kept.push(...(await writeChecked(input.day, rest, `${prefix}-k${i}`, signal)));
      }
    }
    const added = await writeChecked(input.day, rows, prefix, signal);
    const looked = new Set(old.map((f) => f.path));
    await commitReplace(input, replaced, [...kept, ...added], (gone, current) => {
      const now = new Set(
        dayFilesOf(cold, current, tiers.column, tiers.columnType, input.day).map((f) => f.path),
      );
      if (gone.length > 0 || [...now].some((p) => !looked.has(p))) {
        throw new EntenteError(
          "UNAVAILABLE",
          `day ${input.day}: cold table ${coldTable} changed during the delete step; retrying`,
          { retryable: true },
        );
      }
    });
    return added;
  };

  /** Replaces a sweep's committed files by files of the rows hot holds below its watermark now. */
  const replaceSweep: Replace = async (input, rows, nonce, signal) => {
    const added = await writeChecked(
      input.day,
      rows,
      deletePrefix(input.moveId, input.day, nonce),
      signal,
    );
    const old = new Set(input.files.map((f) => f.path));
    await commitReplace(input, old, added, (gone) => {
      if (gone.length > 0) {
        throw new EntenteError(
          "CONFLICT",
          `tiers: ${tiers.table}: rows below the watermark changed in hot after they were swept, and cold rewrote the swept files (${gone[0]}) since: the sweep cannot be redone; its rows stay in hot`,
        );
      }
    });
    return added;
  };

  let markersReady: Promise<void> | undefined;
  const ensureMarkers = () => {
    markersReady ??= (async () => {
      const ddl = { sql: sql.markersTable(), params: [] };
      // Two workers creating it at once may race on PostgreSQL's catalog: once more settles it.
      await hot.connector.execute(ddl).catch(() => hot.connector.execute(ddl));
    })().catch((err: unknown) => {
      markersReady = undefined;
      throw err;
    });
    return markersReady;
  };

  /** The hot table's columns must be the cold table's: a column added in hot would be lost. */
  const checkColumns = async () => {
    const info = (await hot.connector.listTables()).find(
      (t) => t.schema === hot.schema && t.name === hot.name,
    );
    if (!info) {
      throw new EntenteError(
        "NOT_FOUND",
        `tiers: ${tiers.table}: no table ${hot.schema}.${hot.name}`,
      );
    }
    const hotCols = info.columns.map((c) => `${c.name} ${c.type}`);
    const coldCols = hot.columns.map((c) => `${c.name} ${c.type}`);
    const extra = hotCols.filter((c) => !coldCols.includes(c));
    const missing = coldCols.filter((c) => !hotCols.includes(c));
    if (extra.length > 0 || missing.length > 0) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tiers: ${tiers.table}: the hot table ${hot.schema}.${hot.name} and the cold table ${coldTable} differ in columns` +
          (extra.length > 0 ? `; only in hot: ${extra.join(", ")}` : "") +
          (missing.length > 0 ? `; only in cold: ${missing.join(", ")}` : "") +
          "; a move would drop or lose them: change the cold table (or the hot one) to match, then move again",
      );
    }
  };

  return {
    async plan() {
      await checkColumns();
      const metadata = await cold.load(coldTable);
      const watermark = watermarkOf(metadata);
      const recorded = (await tiers.committedWatermark?.()) ?? null;
      if (
        recorded !== null &&
        (watermark === null || watermarkDay(watermark) < watermarkDay(recorded))
      ) {
        throw new EntenteError(
          "UNAVAILABLE",
          `tiers: ${tiers.table}: the tier store says watermark ${recorded} was committed, but the cold table ${coldTable} at ${cold.path} ${metadata === undefined ? "is missing" : `holds ${watermark ?? "none"}`}; is the cold store's path shared and mounted here?`,
        );
      }
      if (watermark !== null) {
        // Rows below the watermark are read from cold only: any in hot are swept there.
        let strays = 0;
        const counted = await hot.connector.query(sql.countBelow(watermark));
        for await (const batch of counted.batches) strays = Number(batch[0]?.[0] ?? strays);
        return { watermark, firstDay: null, ...(strays > 0 ? { strays } : {}) };
      }
      const result = await hot.connector.query(sql.min());
      let min: unknown = null;
      for await (const batch of result.batches) min = batch[0]?.[0] ?? min;
      return { watermark: null, firstDay: dayOfValue(min) };
    },

    async copyDay(input, signal) {
      const files = await cold.writeFiles(coldTable, await hotRows(input, signal), {
        prefix: copyPrefix(input.moveId, input.day, input.nonce),
        signal,
      });
      return { files: asMoved(files) };
    },

    async verifyDay(input, signal) {
      const sum = new RowsChecksum(types);
      for await (const batch of await hotRows(input, signal)) sum.add(batch);
      const coldSide = await coldCheck(input.files);
      return {
        ok: sum.rowCount === coldSide.rowCount && sum.checksum === coldSide.checksum,
        hotRows: sum.rowCount,
        hotChecksum: sum.checksum,
        coldRows: coldSide.rowCount,
        coldChecksum: coldSide.checksum,
      };
    },

    async commit({ move, files, watermark }) {
      let at: number | undefined;
      const metadata = await cold.commit(coldTable, "append", (current) => {
        const mine = current.snapshots.find(
          (s) => s.summary[MOVE_SUMMARY] === move.id && s.summary[OP_SUMMARY] === "move",
        );
        if (mine) {
          at = mine.timestampMs;
          return undefined;
        }
        // The files' names are this move's own: any of them there means it committed.
        const present = new Set(currentFilesOf(current).map((f) => f.path));
        if (files.some((f) => present.has(f.path))) {
          at = Date.now();
          return undefined;
        }
        const now = watermarkOf(current);
        if (now !== move.from) {
          if (now !== null && watermarkDay(now) >= watermarkDay(watermark)) {
            // Committed by this move, its snapshot since expired: wait a whole grace from here.
            at = Date.now();
            return undefined;
          }
          throw new EntenteError(
            "CONFLICT",
            `cold table ${coldTable}: its watermark is ${now ?? "unset"}, this move planned from ${move.from ?? "unset"}`,
          );
        }
        return {
          files: [...currentFilesOf(current), ...asFiles(files)],
          properties: { ...current.properties, [WATERMARK_PROPERTY]: watermark },
          summary: {
            [MOVE_SUMMARY]: move.id,
            [OP_SUMMARY]: "move",
            "entente.tier.watermark": watermark,
            "entente.tier.days": String(move.days.length),
          },
        };
      });
      if (at !== undefined) return { committedAt: at };
      const snapshot = metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId);
      return { committedAt: snapshot?.timestampMs ?? Date.now() };
    },

    /**
     * In one hot transaction: the day's hot rows read and locked, compared (count and checksum)
     * with what cold holds for the day, cold made to hold them where it differs, the rows deleted
     * and a marker of the delete written. A marker found on a retry says an earlier attempt's
     * delete committed: rows in hot now arrived since, and are added to the cold day.
     */
    async deleteDay(input, signal) {
      await ensureMarkers();
      const session = await hot.connector.openSession(signal);
      const nonce = newNonce();
      let open = false;
      let released = false;
      try {
        await session.execute({ sql: sql.begin(), params: [] }, signal);
        open = true;
        const marked = (await session.queryAll(sql.marker(input.moveId, input.day), { signal }))
          .rows[0];
        const { rows } = await session.queryAll(sql.lockedRows(input), {
          signal,
          maxRows: 10_000_000,
        });
        const hotSide = rowsChecksum(rows, types);
        const commit = async () => {
          await session.execute({ sql: "COMMIT", params: [] }, signal);
          open = false;
        };
        /** Makes cold hold exactly hot's rows where `coldSide` differs, then deletes them. */
        const replaceAndDelete = async (
          coldSide: { rowCount: number; checksum: string },
          replace: Replace,
        ): Promise<DeleteOutput> => {
          let replaced: DataFile[] | undefined;
          if (coldSide.rowCount !== hotSide.rowCount || coldSide.checksum !== hotSide.checksum) {
            replaced = await replace(input, rows, nonce, signal);
          }
          const deleted = rows.length === 0 ? 0 : await deleteExactly(session, rows.length);
          await session.execute(
            sql.putMarker(input.moveId, input.day, hotSide.rowCount, hotSide.checksum, false),
            signal,
          );
          await commit();
          return replaced === undefined
            ? { deleted }
            : { deleted, replaced: { files: asMoved(replaced), rows: rows.length } };
        };
        if (input.below !== undefined) {
          // A sweep: the rows below the watermark. Rows gone there since its delete committed
          // are the next move's to sweep.
          if (marked !== undefined) {
            await commit();
            return { deleted: 0 };
          }
          // Awaited here so that a failure rolls the transaction back below.
          return await replaceAndDelete(await coldCheck(input.files), replaceSweep);
        }
        if (marked !== undefined) {
          // The day's delete committed before: what is in hot now arrived since.
          if (rows.length === 0) {
            await commit();
            return { deleted: 0 };
          }
          const base = { rowCount: Number(marked[0]), checksum: String(marked[1]) };
          const now = await coldDay(input.day, signal);
          const after = combineChecks([
            { partition: "", ...base },
            { partition: "", ...hotSide },
          ]);
          if (now.rowCount === base.rowCount && now.checksum === base.checksum) {
            const files = await writeChecked(
              input.day,
              rows,
              deletePrefix(input.moveId, input.day, nonce),
              signal,
            );
            await cold.commit(coldTable, "append", (current) => ({
              files: [...currentFilesOf(current), ...files],
              properties: current.properties,
              summary: summaryOf(input, "late-rows"),
            }));
          } else if (now.rowCount !== after.rowCount || now.checksum !== after.checksum) {
            // Neither before nor after adding them: cold changed otherwise; do not guess.
            throw new EntenteError(
              "CONFLICT",
              `day ${input.day} of ${tiers.table}: ${rows.length} rows arrived in hot after its delete; cold holds ${now.rowCount} rows (${now.checksum}) for the day, the delete left ${base.rowCount} (${base.checksum}) and with the new rows it would be ${after.rowCount} (${after.checksum})`,
            );
          } // else: an earlier attempt added these very rows to cold, and its hot delete rolled back.
          const deleted = await deleteExactly(session, rows.length);
          await session.execute(
            sql.putMarker(input.moveId, input.day, after.rowCount, after.checksum, true),
            signal,
          );
          await commit();
          const metadata = await cold.load(coldTable);
          return {
            deleted,
            replaced: {
              files: asMoved(dayFilesOf(cold, metadata, tiers.column, tiers.columnType, input.day)),
              rows: after.rowCount,
            },
          };
        }
        // No delete of the day committed yet: hot is the whole truth for the day.
        return await replaceAndDelete(await coldDay(input.day, signal), replaceDay);
      } catch (err) {
        if (open) await session.execute({ sql: "ROLLBACK", params: [] }).catch(() => {});
        released = true;
        await session.release(true).catch(() => {});
        throw err;
      } finally {
        if (!released) await session.release().catch(() => {});
      }

      async function deleteExactly(s: SourceSession, n: number): Promise<number> {
        const deleted = await s.execute(sql.delete(input), signal);
        if (deleted !== n) {
          throw new EntenteError(
            "UNAVAILABLE",
            `day ${input.day}: the delete would remove ${deleted} rows where ${n} were read; retrying`,
            { retryable: true },
          );
        }
        return deleted;
      }
    },

    async expire(input) {
      // The move's deletes are all done: their markers are needed no more.
      await ensureMarkers();
      await hot.connector.execute(sql.dropMarkers(input.moveId));
      if ((await cold.load(coldTable)) === undefined) return { removedRows: 0, removedFiles: 0 };
      return cold.expireRows(coldTable, tiers.column, boundValue(input.before, tiers.columnType));
    },
  };
}

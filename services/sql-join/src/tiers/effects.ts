/**
 * What a move does to the databases, for one lifecycle table: reads a day of hot rows through
 * the hot source's connector (statements in its dialect, bounds bound as the engine's pushdown
 * binds them), writes and checks Parquet files and commits snapshots through the ColdStore, and
 * deletes a day from hot in one short transaction that first counts (and locks) what it deletes.
 */
import {
  type ColdStore,
  type ColdTableMetadata,
  type Connector,
  type DataFile,
  type PartitionCheck,
  type Row,
  RowsChecksum,
  rowsChecksum,
  type SourceSession,
  type Value,
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
}

/** The current snapshot's files. */
export function currentFilesOf(metadata: ColdTableMetadata): DataFile[] {
  return metadata.snapshots.find((s) => s.snapshotId === metadata.currentSnapshotId)?.files ?? [];
}

/** The watermark a cold table's current metadata holds, null before any move. */
export function watermarkOf(metadata: ColdTableMetadata | undefined): string | null {
  return metadata?.properties[WATERMARK_PROPERTY] ?? null;
}

/** File names of one move's copies of one day: the same for every copy before the commit. */
export function copyPrefix(moveId: string, day: string): string {
  return `tier-${moveId}-${day}`;
}

/** A replacement made at delete time: a name of its own per attempt, never a committed one's. */
export function replacementPrefix(moveId: string, day: string, attempt: number): string {
  return `tier-${moveId}-${day}-r${attempt}`;
}

/** Whether a cold file is one of a move's copies or replacements of a day. */
export function isDayFile(file: Pick<DataFile, "path">, moveId: string, day: string): boolean {
  const base = file.path.slice(file.path.lastIndexOf("/") + 1);
  return base.startsWith(`${copyPrefix(moveId, day)}-`);
}

/**
 * The current files holding a moved day: the move's own, or — once compaction rewrote them —
 * those of the day's partition where the table is partitioned by the day of the tier column.
 */
export function dayFilesOf(
  metadata: ColdTableMetadata | undefined,
  column: string,
  moveId: string,
  day: string,
): DataFile[] {
  if (!metadata) return [];
  const files = currentFilesOf(metadata);
  const own = files.filter((f) => isDayFile(f, moveId, day));
  if (own.length > 0) return own;
  const byDay = metadata.partitionSpec.fields.some(
    (f) => f.source === column && f.transform === "day",
  );
  return byDay ? files.filter((f) => f.partition[`${column}_day`] === day) : [];
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

function dayOfValue(value: unknown): string | null {
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

  #day(select: string, day: string, suffix = "") {
    const params = new ParamList(this.#t.hot.connector.dialect);
    const lo = params.add(boundValue(day, this.#t.columnType), this.#t.columnType);
    const hi = params.add(boundValue(addDays(day, 1), this.#t.columnType), this.#t.columnType);
    return params.statement(
      `${select} WHERE ${this.#column} >= ${lo} AND ${this.#column} < ${hi}${suffix}`,
    );
  }

  min() {
    return { sql: `SELECT MIN(${this.#column}) FROM ${this.#table}`, params: [] };
  }

  rows(day: string) {
    const q = this.#t.hot.connector.dialect.quoteIdentifier;
    const list = this.#t.hot.columns.map((c) => q(c.name)).join(", ");
    return this.#day(`SELECT ${list} FROM ${this.#table}`, day);
  }

  /** Counts the day's rows, locking them until the transaction ends where the source can. */
  lockedCount(day: string) {
    const kind = this.#t.hot.connector.kind;
    if (kind === "postgres") {
      const inner = this.#day(`SELECT 1 FROM ${this.#table}`, day, " FOR UPDATE");
      return { ...inner, sql: `SELECT count(*) FROM (${inner.sql}) AS locked` };
    }
    return this.#day(
      `SELECT COUNT(*) FROM ${this.#table}`,
      day,
      kind === "mysql" ? " FOR UPDATE" : "",
    );
  }

  delete(day: string) {
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

/** The acts of moves of one table, on its real hot source and cold store. */
export function tableEffects(tiers: TableTiers): TierEffects {
  const sql = new HotStatements(tiers);
  const { cold, coldTable, hot } = tiers;

  const hotRows = async (day: string, signal: AbortSignal) =>
    (await hot.connector.query(sql.rows(day), { signal })).batches;

  const coldCheck = async (files: readonly MovedFile[]) =>
    combineChecks(files.length === 0 ? [] : await cold.checkFiles(coldTable, asFiles(files)));

  return {
    async plan() {
      const watermark = watermarkOf(await cold.load(coldTable));
      if (watermark !== null) return { watermark, firstDay: null };
      const result = await hot.connector.query(sql.min());
      let min: unknown = null;
      for await (const batch of result.batches) min = batch[0]?.[0] ?? min;
      return { watermark: null, firstDay: dayOfValue(min) };
    },

    async copyDay(input, signal) {
      const files = await cold.writeFiles(coldTable, await hotRows(input.day, signal), {
        prefix: copyPrefix(input.moveId, input.day),
        signal,
      });
      return { files: asMoved(files) };
    },

    async verifyDay(input, signal) {
      const sum = new RowsChecksum();
      for await (const batch of await hotRows(input.day, signal)) sum.add(batch);
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
        const now = watermarkOf(current);
        if (now !== null && watermarkDay(now) >= watermarkDay(watermark)) {
          // Committed by this move, its snapshot since expired: wait a whole grace from here.
          at = Date.now();
          return undefined;
        }
        if (now !== move.from) {
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

    async deleteDay(input, signal) {
      const session = await hot.connector.openSession(signal);
      let open = false;
      let released = false;
      try {
        await session.execute({ sql: sql.begin(), params: [] }, signal);
        open = true;
        const count = Number((await one(session, sql.lockedCount(input.day), signal)) ?? 0);
        const dayFiles = dayFilesOf(
          await cold.load(coldTable),
          tiers.column,
          input.moveId,
          input.day,
        );
        // What cold holds for the day now: the copy, or a replacement an earlier attempt committed.
        const expected =
          dayFiles.length > 0 ? dayFiles.reduce((n, f) => n + f.rowCount, 0) : input.rows;
        if (count === 0 || count === expected) {
          const deleted = count === 0 ? 0 : await deleteExactly(session, count);
          await session.execute({ sql: "COMMIT", params: [] }, signal);
          open = false;
          return { deleted };
        }
        // Rows arrived (or went) since the copy: cold takes the day as hot has it now, then the
        // rows go from hot. After an earlier attempt that may have deleted, fewer rows than cold
        // holds are ones that arrived since: they are added to the day instead.
        const { rows } = await session.queryAll(sql.rows(input.day), {
          signal,
          maxRows: 10_000_000,
        });
        const adding = input.attempt > 1 && count < expected;
        const files = await cold.writeFiles(coldTable, single(rows), {
          prefix: replacementPrefix(input.moveId, input.day, input.attempt),
          signal,
        });
        const want = rowsChecksum(rows);
        const got = await coldCheck(asMoved(files));
        if (want.rowCount !== got.rowCount || want.checksum !== got.checksum) {
          throw new EntenteError(
            "UNAVAILABLE",
            `day ${input.day}: the replacement holds ${got.rowCount} rows (${got.checksum}), hot ${want.rowCount} (${want.checksum})`,
            { retryable: true },
          );
        }
        await cold.commit(coldTable, "replace", (current) => {
          const present = currentFilesOf(current);
          const paths = new Set(present.map((f) => f.path));
          if (files.every((f) => paths.has(f.path))) return undefined;
          const old = new Set(
            dayFilesOf(current, tiers.column, input.moveId, input.day).map((f) => f.path),
          );
          const kept = adding ? present : present.filter((f) => !old.has(f.path));
          return {
            files: [...kept, ...files],
            properties: current.properties,
            summary: {
              [MOVE_SUMMARY]: input.moveId,
              [OP_SUMMARY]: adding ? "late-rows" : "replace",
              [DAY_SUMMARY]: input.day,
            },
          };
        });
        const deleted = await deleteExactly(session, rows.length);
        await session.execute({ sql: "COMMIT", params: [] }, signal);
        open = false;
        const allRows = adding ? expected + rows.length : rows.length;
        return {
          deleted,
          replaced: { files: asMoved(adding ? [...dayFiles, ...files] : files), rows: allRows },
        };
      } catch (err) {
        if (open) await session.execute({ sql: "ROLLBACK", params: [] }).catch(() => {});
        released = true;
        await session.release(true).catch(() => {});
        throw err;
      } finally {
        if (!released) await session.release().catch(() => {});
      }

      async function deleteExactly(s: SourceSession, n: number): Promise<number> {
        const deleted = await s.execute(sql.delete(input.day), signal);
        if (deleted !== n) {
          throw new EntenteError(
            "UNAVAILABLE",
            `day ${input.day}: the delete would remove ${deleted} rows where ${n} were counted; retrying`,
            { retryable: true },
          );
        }
        return deleted;
      }
    },

    async expire(input) {
      if ((await cold.load(coldTable)) === undefined) return { removedRows: 0, removedFiles: 0 };
      return cold.expireRows(coldTable, tiers.column, boundValue(input.before, tiers.columnType));
    },
  };
}

async function one(
  session: SourceSession,
  statement: { sql: string; params: Value[] },
  signal: AbortSignal,
): Promise<unknown> {
  const { rows } = await session.queryAll(statement, { signal, maxRows: 1 });
  return rows[0]?.[0];
}

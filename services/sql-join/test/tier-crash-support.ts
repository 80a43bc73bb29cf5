/**
 * Support for tier-crashes.test.ts: a private NATS server, a PostgreSQL database per lifecycle
 * table, cold stores in temporary directories, and sql-join workers as separate `entente serve
 * sql-join` processes.
 *
 * Each crash point gets a table of its own (its own hot database, its own cold directory) moved
 * by workers of a deployment of its own, so that a move request reaches the worker armed to
 * crash and no other: a worker of the same deployment would take the request, or take up the
 * move left behind, itself. Readers go through one more worker, of a deployment of its own that
 * knows every table: its lifecycle never moves anything (`every: "off"`, and nothing left in its
 * own moves bucket), it only reads each table's watermark from the cold store as every worker
 * does — an ordinary worker reading the tables while other workers move them.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type Connector, createConnector } from "@entente/connectors";
import {
  collectSqlResult,
  subjectsOf,
  type TierStatus,
  type TiersMoveReply,
  type TiersStatusReply,
} from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import {
  type ManagedProcess,
  type NatsServer,
  type PostgresService,
  postgres,
  startNatsServer,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startWorkerProcess } from "../../../test/e2e/workers.ts";

export type TierCrashPoint = "after-copy" | "after-verify" | "after-commit" | "mid-delete";

export const DAY_MS = 86_400_000;
/** A row every hour. */
export const STEP_MS = 3_600_000;
/** A year of them, ending at midnight UTC today. */
export const HISTORY_DAYS = 365;
export const HOT_DAYS = 30;
/**
 * Between a move's commit and its hot deletes: longer than the reader's statements take from
 * planning to their hot scan even on a loaded machine (a statement planned before the commit
 * reads the moved rows from hot), yet short enough for a year's backlog of moves.
 */
export const GRACE_MS = 1_000;
/** A dead mover's move is taken up this long after its last renewal. */
export const LEASE_MS = 4_000;

/** Midnight UTC today. */
export const todayMs = (): number => Math.floor(Date.now() / DAY_MS) * DAY_MS;

/** One lifecycle table: its rows are ids 1..rows, id i at `start + (i - 1) * STEP_MS`. */
export interface CrashTable {
  point: TierCrashPoint;
  /** Its logical name at the reader. */
  name: string;
  /** The deployment of the workers that move it. */
  deployment: string;
  configFile: string;
  hotUrl: string;
  coldDir: string;
  hot: Connector;
  cold: Connector;
  start: number;
  rows: number;
}

export class TierCrashLab {
  readonly nats: NatsServer;
  readonly pg: PostgresService;
  readonly nc: NatsConnection;
  readonly client: EntenteClient;
  readonly dir: string;
  readonly tables: CrashTable[] = [];
  readonly #workers = new Set<ManagedProcess>();
  #count = 0;

  private constructor(nats: NatsServer, pg: PostgresService, nc: NatsConnection, dir: string) {
    this.nats = nats;
    this.pg = pg;
    this.nc = nc;
    this.client = new EntenteClient(nc);
    this.dir = dir;
  }

  static async start(dir: string): Promise<TierCrashLab> {
    const [nats, pg] = await Promise.all([startNatsServer(), postgres()]);
    const nc = await connect({ servers: nats.url });
    return new TierCrashLab(nats, pg, nc, dir);
  }

  /** A table for `point`: a year of rows in a new database, an empty cold directory. */
  async addTable(point: TierCrashPoint): Promise<CrashTable> {
    const slug = point.replace("-", "_");
    const hotUrl = await this.pg.createDatabase();
    const coldDir = join(this.dir, `cold_${slug}`);
    const hot = await createConnector(`hot_${slug}`, { kind: "postgres", url: hotUrl });
    const cold = await createConnector(`archive_${slug}`, { kind: "coldstore", path: coldDir });
    const start = todayMs() - HISTORY_DAYS * DAY_MS;
    const rows = (HISTORY_DAYS * DAY_MS) / STEP_MS;
    await hot.execute({
      sql: "CREATE TABLE events (id bigint PRIMARY KEY, created_at timestamp NOT NULL, payload text NOT NULL)",
      params: [],
    });
    await hot.execute({
      sql: `INSERT INTO events
              SELECT i, to_timestamp(${start / 1000} + (i - 1) * ${STEP_MS / 1000}) AT TIME ZONE 'UTC', 'payload ' || i
                FROM generate_series(1, ${rows}) AS i`,
      params: [],
    });
    const deployment = `tiercrash_${slug}`;
    const configFile = join(this.dir, `mover_${slug}.yaml`);
    await writeFile(
      configFile,
      `nats: { servers: ["${this.nats.url}"] }
deployment: ${deployment}
sources:
  hot: { kind: postgres, url: "${hotUrl}" }
  archive: { kind: coldstore, path: "${coldDir}" }
logicalTables:
  events:
    tiers:
      column: created_at
      hot: hot.public.events
      cold: archive.main.events
      lifecycle: { hotRetention: "${HOT_DAYS} days", every: "off", graceMs: ${GRACE_MS} }
tiers: { leaseMs: ${LEASE_MS}, checkEveryMs: 500 }
`,
    );
    const table: CrashTable = {
      point,
      name: `events_${slug}`,
      deployment,
      configFile,
      hotUrl,
      coldDir,
      hot,
      cold,
      start,
      rows,
    };
    this.tables.push(table);
    return table;
  }

  /** The reader's configuration: every table, under deployment `tiercrash_reader`. */
  async readerConfig(): Promise<string> {
    const file = join(this.dir, "reader.yaml");
    const sources = this.tables
      .map((t) => {
        const slug = t.point.replace("-", "_");
        return `  hot_${slug}: { kind: postgres, url: "${t.hotUrl}" }\n  archive_${slug}: { kind: coldstore, path: "${t.coldDir}" }`;
      })
      .join("\n");
    const tables = this.tables
      .map((t) => {
        const slug = t.point.replace("-", "_");
        return `  ${t.name}:
    tiers:
      column: created_at
      hot: hot_${slug}.public.events
      cold: archive_${slug}.main.events
      lifecycle: { hotRetention: "${HOT_DAYS} days", every: "off", graceMs: ${GRACE_MS} }`;
      })
      .join("\n");
    await writeFile(
      file,
      `nats: { servers: ["${this.nats.url}"] }
deployment: tiercrash_reader
sources:
${sources}
logicalTables:
${tables}
`,
    );
    return file;
  }

  /** An `entente serve sql-join` process on `configFile`, armed to crash at `crashAt` if given. */
  async startWorker(configFile: string, crashAt?: TierCrashPoint): Promise<ManagedProcess> {
    const n = ++this.#count;
    const worker = await startWorkerProcess({
      service: "sql-join",
      natsUrl: this.nats.url,
      name: `sql-join #${n} ${configFile.split("/").at(-1)}${crashAt ? ` (crashes at ${crashAt})` : ""}`,
      env: {
        ENTENTE_CONFIG: configFile,
        ENTENTE_TIER_CRASH_AT: crashAt ?? "",
      },
    });
    this.#workers.add(worker);
    void worker.exited.then(() => this.#workers.delete(worker));
    return worker;
  }

  get workers(): ManagedProcess[] {
    return [...this.#workers];
  }

  async stopWorkers(): Promise<void> {
    await Promise.all([...this.#workers].map((w) => w.kill("SIGKILL")));
  }

  /** Every id of a table through the reader's `entente.sql`, sorted. */
  async readIds(table: CrashTable, timeoutMs = 60_000): Promise<number[]> {
    const items = await this.client.collect(
      subjectsOf("tiercrash_reader").sql,
      { sql: `SELECT id FROM ${table.name}` },
      { timeoutMs },
    );
    return collectSqlResult(items)
      .rows.map((r) => Number(r[0]))
      .sort((a, b) => a - b);
  }

  /**
   * count(*), count(DISTINCT id), min(id) and max(id) of a table through the reader: every id
   * 1..rows once exactly when they are rows, rows, 1 and rows (the ids are integers).
   */
  async readSummary(table: CrashTable, timeoutMs = 60_000): Promise<number[]> {
    const items = await this.client.collect(
      subjectsOf("tiercrash_reader").sql,
      {
        sql: `SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM ${table.name}`,
      },
      { timeoutMs },
    );
    return (collectSqlResult(items).rows[0] ?? []).map(Number);
  }

  move(table: CrashTable, timeoutMs: number): Promise<TiersMoveReply> {
    return this.client.request<TiersMoveReply>(
      subjectsOf(table.deployment).tiers,
      { op: "move", table: "events", wait: true },
      { timeoutMs },
    );
  }

  async status(table: CrashTable): Promise<TierStatus> {
    const reply = await this.client.request<TiersStatusReply>(
      subjectsOf(table.deployment).tiers,
      { op: "status", table: "events" },
      { timeoutMs: 20_000 },
    );
    const status = reply.tables[0];
    if (!status) throw new Error(`no status of ${table.name}`);
    return status;
  }

  async close(): Promise<void> {
    await this.stopWorkers();
    for (const t of this.tables) {
      await t.hot.close().catch(() => {});
      await t.cold.close().catch(() => {});
    }
    await this.nc?.close().catch(() => {});
    await this.nats?.stop();
    await this.pg?.stop?.();
  }
}

/** Every value of the first column of `sql` on a connector (the test's own connection). */
export async function column(connector: Connector, sql: string): Promise<unknown[]> {
  const result = await connector.query({ sql, params: [] });
  const out: unknown[] = [];
  for await (const batch of result.batches) for (const row of batch) out.push(row[0]);
  return out;
}

/** 1..n. */
export const range = (from: number, to: number): number[] =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Reads each table over and over through the reader until `stop()`: every fourth read all its
 * ids, compared with 1..rows (a wrong answer is kept with what differs), the others its count,
 * distinct count, min and max, which must be rows, rows, 1 and rows. A request error is kept
 * apart from wrong answers; the loop is bounded by `maxReads`.
 */
export class ReaderLoop {
  reads = 0;
  readonly wrong: string[] = [];
  readonly errors: string[] = [];
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(lab: TierCrashLab, tables: readonly CrashTable[], maxReads = 5_000) {
    this.#done = (async () => {
      while (!this.#stopped && this.reads < maxReads) {
        for (const table of tables) {
          if (this.#stopped) break;
          try {
            const n = this.reads;
            let problem: string | undefined;
            if (n % 4 === 0) {
              problem = differs(await lab.readIds(table), table.rows);
            } else {
              const summary = await lab.readSummary(table);
              const want = [table.rows, table.rows, 1, table.rows];
              if (summary.join() !== want.join()) {
                problem = `count, distinct, min, max ${summary.join(", ")}; want ${want.join(", ")}`;
              }
            }
            this.reads++;
            if (problem) this.wrong.push(`${table.name} read ${n}: ${problem}`);
            await sleep(20);
          } catch (err) {
            this.errors.push(`${table.name}: ${String(err)}`);
            await sleep(100);
          }
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

/** What is wrong with `ids` (sorted) as the ids 1..rows; undefined when nothing is. */
export function differs(ids: readonly number[], rows: number): string | undefined {
  if (ids.length === rows && ids.every((v, i) => v === i + 1)) return undefined;
  const seen = new Map<number, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const missing = range(1, rows).filter((id) => !seen.has(id));
  const doubled = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  const stray = [...seen.keys()].filter((id) => id < 1 || id > rows);
  return `${ids.length} ids for ${rows} rows; missing ${missing.length} (${missing.slice(0, 10).join(", ")}), doubled ${doubled.length} (${doubled.slice(0, 10).join(", ")}), stray ${stray.length}`;
}

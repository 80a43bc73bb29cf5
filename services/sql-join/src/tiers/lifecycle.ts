/**
 * The life of lifecycle-managed tiered tables on this worker: the cold table created from the
 * hot one's columns when missing, moves run on each table's schedule and on demand, and moves a
 * dead worker left taken up again. A table is moved by one worker at a time: whoever holds its
 * lease in the `<deployment>_tiers` bucket, renewed while the move runs and let go after.
 */

import { randomBytes } from "node:crypto";
import type { ColdColumn, ColdStore, Connector, PartitionField } from "@entente/connectors";
import { EntenteError, type TierMoveProgress, type TierStatus } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import { createActor, fromPromise } from "xstate";
import type { TierLifecycleConfig } from "../logical-config.ts";
import { tierCrashPoint } from "../writes/crash-points.ts";
import {
  newNonce,
  type TableTiers,
  type TierEffects,
  tableEffects,
  watermarkOf,
} from "./effects.ts";
import {
  DEFAULT_MOVE_POLICY,
  isFinalMove,
  type MoveData,
  type MovePolicy,
  moveMachine,
  newMove,
  progressOf,
  watermarkDay,
} from "./move-machine.ts";
import { committedWatermark, type TierLease, type TierRecord, TierStore } from "./store.ts";

export interface TierLifecycleOptions {
  tables: readonly TierLifecycleConfig[];
  /** Sources by name: the hot tables' and the coldstore sources (ColdstoreConnector, `.store`). */
  connectors: ReadonlyMap<string, Connector>;
  nc: NatsConnection;
  deployment: string;
  /** This worker's name: the owner its leases name. */
  worker: string;
  logger: Logger;
  /** How long a lease lasts without renewal (default 30 s). */
  leaseMs?: number;
  /** How often each table is looked at for a move due or one left by a dead worker (default 15 s). */
  checkEveryMs?: number;
  policy?: Partial<MovePolicy>;
  /** Wraps a table's effects, e.g. to watch each act. */
  wrapEffects?: (table: string, effects: TierEffects) => TierEffects;
}

/** A coldstore source's store. */
export function coldStoreOf(connector: Connector | undefined): ColdStore | undefined {
  if (connector?.kind !== "coldstore") return undefined;
  return (connector as Connector & { store?: ColdStore }).store;
}

/** `source.schema.table`, split. */
export function splitTableRef(ref: string): { source: string; schema: string; name: string } {
  const parts = ref.split(".");
  if (parts.length !== 3 || parts.some((p) => p === "")) {
    throw new EntenteError("BAD_REQUEST", `${ref}: a tier table is source.schema.table`);
  }
  return { source: parts[0] as string, schema: parts[1] as string, name: parts[2] as string };
}

interface Running {
  moveId: string;
  lease: TierLease;
  current(): MoveData;
  done: Promise<MoveData | undefined>;
  stop(): void;
}

export class TierLifecycle {
  readonly #options: TierLifecycleOptions;
  readonly #leaseMs: number;
  readonly #checkEveryMs: number;
  readonly #policy: MovePolicy;
  readonly #tables: Map<string, TierLifecycleConfig>;
  readonly #prepared = new Map<string, TableTiers>();
  readonly #running = new Map<string, Running>();
  readonly #checking = new Set<string>();
  readonly #starting = new Map<string, Promise<void>>();
  readonly #recorded = new Map<string, { watermark: string | undefined; at: number }>();
  #store: TierStore | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: TierLifecycleOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#checkEveryMs = options.checkEveryMs ?? 15_000;
    this.#policy = { ...DEFAULT_MOVE_POLICY, ...options.policy };
    this.#tables = new Map(options.tables.map((t) => [t.table, t]));
  }

  /** The lifecycle tables, by logical name. */
  get tables(): ReadonlyMap<string, TierLifecycleConfig> {
    return this.#tables;
  }

  /**
   * Opens the moves' bucket, creates missing cold tables, takes up moves dead workers left and
   * starts the schedule. A table whose sources are not reachable yet is logged and tried again
   * at each check.
   */
  async start(): Promise<void> {
    this.#store = await TierStore.open(this.#options.nc, this.#options.deployment);
    for (const table of this.#tables.keys()) {
      await this.#prepare(table).catch((err: unknown) =>
        this.#options.logger.warn({ table, err: String(err) }, "tiers: table not ready yet"),
      );
    }
    await this.check();
    this.#schedule();
  }

  /** Stops every move here and lets its lease go, so another worker takes it up at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const running = [...this.#running.values()];
    for (const r of running) r.stop();
    await Promise.all(running.map((r) => r.lease.release()));
  }

  #schedule(): void {
    if (this.#stopped) return;
    // Jittered, so that workers started together do not all look at once.
    const delay = Math.round(this.#checkEveryMs * (0.75 + Math.random() * 0.5));
    this.#timer = setTimeout(() => {
      this.check()
        .catch((err: unknown) =>
          this.#options.logger.warn({ err: String(err) }, "tiers: check failed"),
        )
        .finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  /** Looks at every table once: a move left by a dead worker, or one due, is started here. */
  async check(): Promise<void> {
    for (const table of this.#tables.keys()) {
      if (this.#stopped) return;
      await this.#checkTable(table).catch((err: unknown) =>
        this.#options.logger.warn({ table, err: String(err) }, "tiers: check of table failed"),
      );
    }
  }

  async #checkTable(table: string): Promise<void> {
    if (this.#running.has(table) || this.#checking.has(table)) return;
    this.#checking.add(table);
    try {
      const config = this.#config(table);
      const held = await this.#requireStore().get(table);
      const now = Date.now();
      const record = held?.record;
      const abandoned = record?.running !== undefined && record.leaseUntil <= now;
      if (!abandoned && !isDue(record, config, now)) return;
      await this.#begin(table);
    } finally {
      this.#checking.delete(table);
    }
  }

  /**
   * Starts a move of `table` now (or joins the one running); with `wait`, resolves once it has
   * finished. A move another worker runs is followed through the stored record.
   */
  async move(
    table: string,
    options: { wait?: boolean; signal?: AbortSignal } = {},
  ): Promise<TierMoveProgress> {
    this.#config(table);
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    // The caller's deadline ends the waiting, never the move.
    const until = <T>(promise: Promise<T>): Promise<T> => untilAborted(promise, signal);
    let running = this.#running.get(table);
    if (!running) {
      await this.#begin(table);
      running = this.#running.get(table);
    }
    if (running) {
      if (!options.wait) return progressOf(running.current());
      let ended = await until(running.done);
      // A backlog longer than one move's days is moved by the moves that follow it at once.
      while (ended && this.#behind(table, ended)) {
        if (!this.#running.has(table)) await until(this.#begin(table));
        const next = this.#running.get(table);
        if (!next) break;
        ended = await until(next.done);
      }
      if (ended) return progressOf(ended);
      return this.#follow(table, running.moveId, signal);
    }
    // Another worker holds the table.
    const held = await this.#requireStore().get(table);
    const move = held?.record.running ?? held?.record.last;
    if (!move)
      throw new EntenteError("UNAVAILABLE", `tiers: ${table} is busy`, { retryable: true });
    return options.wait ? this.#follow(table, move.id, signal) : progressOf(move);
  }

  /** Waits for a move of `table` to end, wherever it runs, reading its record, until `signal`. */
  async #follow(table: string, moveId: string, signal?: AbortSignal): Promise<TierMoveProgress> {
    for (;;) {
      if (this.#stopped) {
        throw new EntenteError("SHUTTING_DOWN", "tiers: this worker is stopping");
      }
      if (signal?.aborted) throw abortError(signal);
      const here = this.#running.get(table);
      if (here?.moveId === moveId) {
        const ended = await untilAborted(here.done, signal);
        if (ended) return progressOf(ended);
      }
      const record = (await this.#requireStore().get(table))?.record;
      if (record?.last?.id === moveId) return progressOf(record.last);
      if (record?.running?.id !== moveId && record?.last?.id !== moveId) {
        throw new EntenteError("NOT_FOUND", `tiers: move ${moveId} of ${table} is gone`);
      }
      if (record.running !== undefined && record.leaseUntil <= Date.now()) {
        await this.#checkTable(table);
      }
      await untilAborted(new Promise((resolve) => setTimeout(resolve, 250)), signal);
    }
  }

  /** Whether a finished move stopped short of today's target: it was capped at `maxDays`. */
  #behind(table: string, ended: MoveData): boolean {
    if (ended.state !== "done") return false;
    const target = newMove({
      id: ended.id,
      table,
      columnType: ended.columnType,
      hotRetentionDays: this.#config(table).hotRetentionDays,
      now: Date.now(),
    }).to;
    return ended.to < target;
  }

  /** Takes the table's lease and runs its move: the one left under way, or a new one. */
  #begin(table: string): Promise<void> {
    if (this.#stopped) {
      return Promise.reject(new EntenteError("SHUTTING_DOWN", "tiers: this worker is stopping"));
    }
    if (this.#running.has(table)) return Promise.resolve();
    const starting = this.#starting.get(table);
    if (starting) return starting;
    const started = this.#start(table).finally(() => this.#starting.delete(table));
    this.#starting.set(table, started);
    return started;
  }

  async #start(table: string): Promise<void> {
    const config = this.#config(table);
    const tiers = await this.#prepare(table);
    const lease = await this.#requireStore().acquire(table, {
      owner: this.#options.worker,
      leaseMs: this.#leaseMs,
    });
    if (!lease) return;
    if (this.#stopped) {
      await lease.release();
      return;
    }
    const record = lease.record;
    let move: MoveData;
    if (record.running !== undefined && !isFinalMove(record.running.state)) {
      move = record.running;
      this.#options.logger.info(
        { table, move: move.id, state: move.state },
        "tiers: taking up a move left under way",
      );
    } else if (
      record.last?.state === "failed" &&
      committed(record.last, await this.watermark(table).catch(() => null))
    ) {
      // Failed at or after its commit: its rows may be in cold but are still in hot, and the
      // next move would start above them: this one goes on from where it failed instead.
      const { error: _e, finishedAt: _f, failedIn, ...rest } = record.last;
      move = {
        ...rest,
        state: failedIn ?? "deleting",
        attempts: 0,
        resumes: (record.last.resumes ?? 0) + 1,
      };
      this.#options.logger.info(
        { table, move: move.id },
        "tiers: resuming a move failed after its commit",
      );
    } else {
      move = newMove({
        id: newMoveId(),
        table,
        columnType: tiers.columnType,
        hotRetentionDays: config.hotRetentionDays,
        now: Date.now(),
      });
      this.#options.logger.info({ table, move: move.id, to: move.to }, "tiers: move started");
    }
    this.#run(lease, move, config, tiers);
  }

  #run(lease: TierLease, move: MoveData, config: TierLifecycleConfig, tiers: TableTiers): void {
    const { logger } = this.#options;
    const table = config.table;
    const base = tableEffects(tiers);
    const effects = this.#options.wrapEffects ? this.#options.wrapEffects(table, base) : base;
    const machine = moveMachine.provide({
      actors: {
        persist: fromPromise<void, { move: MoveData }>(({ input }) => lease.save(input.move)),
        plan: fromPromise(({ input, signal }) => effects.plan(input, signal)),
        copyDay: fromPromise(async ({ input, signal }) => {
          const out = await effects.copyDay(input, signal);
          if (input.last) tierCrashPoint("after-copy");
          return out;
        }),
        verifyDay: fromPromise(async ({ input, signal }) => {
          const out = await effects.verifyDay(input, signal);
          if (input.last && out.ok) tierCrashPoint("after-verify");
          return out;
        }),
        commit: fromPromise(async ({ input, signal }) => {
          const out = await effects.commit(input, signal);
          tierCrashPoint("after-commit");
          return out;
        }),
        deleteDay: fromPromise(async ({ input, signal }) => {
          const out = await effects.deleteDay(input, signal);
          if (input.first) tierCrashPoint("mid-delete");
          return out;
        }),
        expire: fromPromise(({ input, signal }) => effects.expire(input, signal)),
      },
    });
    const actor = createActor(machine, {
      input: {
        move,
        policy: this.#policy,
        graceMs: config.graceMs,
        coldRetentionDays: config.coldRetentionDays,
        now: Date.now,
        nonce: newNonce,
      },
    });
    const renewEveryMs = Math.max(100, Math.floor(this.#leaseMs / 3));
    let resolve!: (move: MoveData | undefined) => void;
    const done = new Promise<MoveData | undefined>((r) => {
      resolve = r;
    });
    let finished = false;
    const finish = (ended: MoveData | undefined) => {
      if (finished) return;
      finished = true;
      clearInterval(renewal);
      if (this.#running.get(table)?.moveId === move.id) this.#running.delete(table);
      resolve(ended);
      if (ended && this.#behind(table, ended) && !this.#stopped) {
        this.#begin(table).catch((err: unknown) =>
          logger.warn({ table, err: String(err) }, "tiers: next move of a backlog failed to start"),
        );
      }
    };
    // The grace and long copies outlast a lease: it is renewed meanwhile, and the move stopped
    // here once a renewal has not been confirmed in time (another worker may take it then).
    const renewal = setInterval(() => {
      if (Date.now() + renewEveryMs >= lease.validUntil) {
        logger.warn(
          { table, move: move.id },
          "tiers: lease not renewed in time: stopping the move here",
        );
        actor.stop();
        finish(undefined);
        return;
      }
      lease.renew().catch((err: unknown) => {
        logger.warn(
          { table, move: move.id, err: String(err) },
          "tiers: lease lost: stopping the move here",
        );
        actor.stop();
        finish(undefined);
      });
    }, renewEveryMs);
    renewal.unref();
    let state = move.state;
    actor.subscribe({
      next: (snapshot) => {
        const now = snapshot.context.move;
        if (now.state !== state) {
          state = now.state;
          if (!isFinalMove(state)) logger.debug({ table, move: now.id, state }, "tiers: move");
        }
      },
      complete: () => {
        const snapshot = actor.getSnapshot();
        if (snapshot.status !== "done") return;
        const ended = snapshot.output;
        if (snapshot.value === "lost" || ended === undefined) {
          logger.warn(
            { table, move: move.id },
            "tiers: move taken by another worker: stopped here",
          );
          finish(undefined);
          return;
        }
        const progress = progressOf(ended);
        if (ended.state === "failed") {
          logger.error({ table, move: ended.id, error: ended.error }, "tiers: move failed");
        } else {
          logger.info(
            { table, move: ended.id, to: ended.to, days: progress.partitions, rows: progress.rows },
            "tiers: move done",
          );
        }
        finish(ended);
      },
      error: (err) => {
        logger.error({ table, move: move.id, err }, "tiers: move machine failed");
        finish(undefined);
        lease.release();
      },
    });
    this.#running.set(table, {
      moveId: move.id,
      lease,
      current: () => actor.getSnapshot().context.move,
      done,
      stop: () => {
        actor.stop();
        finish(undefined);
      },
    });
    actor.start();
  }

  /** Lifecycle state of one table, or of all. */
  async status(table?: string): Promise<TierStatus[]> {
    const names = table === undefined ? [...this.#tables.keys()] : [this.#config(table).table];
    const out: TierStatus[] = [];
    for (const name of names) {
      const config = this.#config(name);
      const record = this.#store ? (await this.#store.get(name))?.record : undefined;
      const here = this.#running.get(name);
      const running = here ? here.current() : record?.running;
      let watermark: string | null = null;
      let error: string | undefined;
      try {
        watermark = await this.watermark(name);
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      const status: TierStatus = {
        table: name,
        column: config.column,
        hot: config.hot,
        cold: config.cold,
        watermark,
        hotRetention: days(config.hotRetentionDays),
        coldRetention: days(config.coldRetentionDays),
        // The cold side cannot be trusted: say why rather than show no watermark.
        ...(error !== undefined ? { error } : {}),
      };
      if (running && !isFinalMove(running.state)) status.running = progressOf(running);
      if (record?.last) status.last = progressOf(record.last);
      const last = record?.last;
      if (last && resumable(last)) {
        status.resume = {
          resumes: last.resumes ?? 0,
          nextAt: new Date(resumeAt(last)).toISOString(),
          ...(last.error !== undefined ? { error: last.error } : {}),
        };
      }
      const next = nextRunAt(record, config);
      if (next !== undefined) status.nextRunAt = new Date(next).toISOString();
      out.push(status);
    }
    return out;
  }

  /**
   * The watermark the table's cold side holds now; null before any move. UNAVAILABLE when the
   * tier store records a committed watermark the cold table does not hold (it is missing, or
   * holds an older one): its cold rows would be hidden otherwise.
   */
  async watermark(table: string): Promise<string | null> {
    const { store, table: coldTable } = this.cold(table);
    const metadata = await store.load(coldTable);
    const watermark = watermarkOf(metadata);
    const recorded = await this.#recordedWatermark(table);
    if (
      recorded !== null &&
      (watermark === null || watermarkDay(watermark) < watermarkDay(recorded))
    ) {
      throw new EntenteError(
        "UNAVAILABLE",
        `tiers: ${table}: the tier store records watermark ${recorded} as committed, but the cold table ${coldTable} at ${store.path} ${metadata === undefined ? "is missing" : `holds ${watermark ?? "no watermark"}`}; is the cold store's path right, shared by every host and mounted?`,
        { retryable: true },
      );
    }
    return watermark;
  }

  /**
   * The last committed watermark the tier store records for the table; null for none. It only
   * grows, so the highest one seen is kept and KV read again at most once a second (statements
   * read the watermark each).
   */
  async #recordedWatermark(table: string): Promise<string | null> {
    const seen = this.#recorded.get(table);
    if (seen && Date.now() - seen.at < 1_000) return seen.watermark ?? null;
    // Before start (statements may already read watermarks): what was seen, if anything.
    if (!this.#store) return seen?.watermark ?? null;
    const record = (await this.#store.get(table))?.record;
    let out = seen?.watermark;
    if (record?.watermark !== undefined) {
      out = committedWatermark(out, { to: record.watermark, committedAt: 0 } as MoveData);
    }
    for (const move of [record?.running, record?.last]) {
      if (move) out = committedWatermark(out, move);
    }
    this.#recorded.set(table, { watermark: out, at: Date.now() });
    return out ?? null;
  }

  /** The cold store and table of a lifecycle table. */
  cold(table: string): { store: ColdStore; table: string } {
    const config = this.#config(table);
    const ref = splitTableRef(config.cold);
    const store = coldStoreOf(this.#options.connectors.get(ref.source));
    if (!store) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tiers: ${config.cold} of ${table} is not in a coldstore source`,
      );
    }
    return { store, table: ref.name };
  }

  #config(table: string): TierLifecycleConfig {
    const config = this.#tables.get(table);
    if (!config) {
      const known = [...this.#tables.keys()];
      throw new EntenteError(
        "NOT_FOUND",
        `no tiered table with a lifecycle named ${table}; ${known.length > 0 ? `known: ${known.join(", ")}` : "none is configured"}`,
      );
    }
    return config;
  }

  #requireStore(): TierStore {
    if (!this.#store)
      throw new EntenteError(
        "UNAVAILABLE",
        "tiers: moves are not running on this worker: it is starting, or its NATS server runs without JetStream",
        { retryable: true },
      );
    return this.#store;
  }

  /** The table's hot and cold sides, the cold table created from the hot one when missing. */
  async #prepare(table: string): Promise<TableTiers> {
    const ready = this.#prepared.get(table);
    if (ready) return ready;
    const config = this.#config(table);
    const hotRef = splitTableRef(config.hot);
    const connector = this.#options.connectors.get(hotRef.source);
    if (!connector) {
      throw new EntenteError(
        "NOT_FOUND",
        `tiers: ${table}: no source ${hotRef.source} for ${config.hot}`,
      );
    }
    const info = (await connector.listTables()).find(
      (t) => t.schema === hotRef.schema && t.name === hotRef.name,
    );
    if (!info) throw new EntenteError("NOT_FOUND", `tiers: ${table}: no table ${config.hot}`);
    const column = info.columns.find((c) => c.name === config.column);
    if (!column || (column.type !== "date" && column.type !== "timestamp")) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tiers: ${table}: ${config.column} must be a date or timestamp column of ${config.hot}`,
      );
    }
    const cold = this.cold(table);
    const columns: ColdColumn[] = info.columns.map((c) => ({
      name: c.name,
      type: c.type,
      nullable: c.nullable,
    }));
    const spec: PartitionField[] = (
      config.partitionBy ?? [{ column: config.column, transform: "day" as const }]
    ).map((f) =>
      f.transform === "bucket"
        ? { source: f.column, transform: "bucket", buckets: f.buckets }
        : { source: f.column, transform: f.transform },
    );
    let metadata = await cold.store.load(cold.table);
    if (metadata === undefined) {
      const recorded = this.#store ? await this.#recordedWatermark(table) : null;
      if (recorded !== null || !this.#store) {
        throw new EntenteError(
          "UNAVAILABLE",
          recorded !== null
            ? `tiers: ${table}: the cold table ${cold.table} at ${cold.store.path} is missing, but the tier store records watermark ${recorded} as committed: not creating an empty one over the moved rows; is the cold store's path right, shared by every host and mounted?`
            : `tiers: ${table}: not started`,
          { retryable: true },
        );
      }
      metadata = await cold.store.create(cold.table, columns, spec);
      this.#options.logger.info({ table, cold: config.cold }, "tiers: cold table created");
    }
    // Rows are copied in the cold table's column order; each of its columns must be in hot.
    const missing = metadata.schema.columns.filter(
      (c) => !info.columns.some((h) => h.name === c.name),
    );
    if (missing.length > 0) {
      throw new EntenteError(
        "BAD_REQUEST",
        `tiers: ${table}: ${config.hot} has no column ${missing.map((c) => c.name).join(", ")} of its cold table ${config.cold}`,
      );
    }
    const tiers: TableTiers = {
      table,
      column: config.column,
      columnType: column.type,
      hot: {
        connector,
        schema: hotRef.schema,
        name: hotRef.name,
        columns: metadata.schema.columns.map((c) => ({ name: c.name, type: c.type })),
      },
      cold: cold.store,
      coldTable: cold.table,
      committedWatermark: () => this.#recordedWatermark(table),
    };
    this.#prepared.set(table, tiers);
    return tiers;
  }
}

const AFTER_COMMIT = new Set(["grace", "deleting", "expiring"]);

/** A failed move taken up again automatically, with a pause doubling each time, capped. */

/** The pause before the first automatic resume of a failed move, doubling after each. */
export const RESUME_BACKOFF_MS = 60_000;
/** The longest pause between automatic resumes. */
export const MAX_RESUME_BACKOFF_MS = 3_600_000;

/** Whether a failed move may have committed (so it is taken up again, not replaced). */
function resumable(move: MoveData): boolean {
  return (
    move.state === "failed" &&
    (move.committedAt !== undefined || AFTER_COMMIT.has(move.failedIn ?? ""))
  );
}

/** When a failed move is next taken up again: after a backoff on its resumes so far. */
export function resumeAt(move: MoveData): number {
  const pause = Math.min(MAX_RESUME_BACKOFF_MS, RESUME_BACKOFF_MS * 2 ** (move.resumes ?? 0));
  return (move.finishedAt ?? move.updatedAt) + pause;
}

/** Whether a failed move's snapshot is in cold (it failed in its commit, or after it). */
function committed(move: MoveData, watermark: string | null): boolean {
  if (move.committedAt !== undefined || AFTER_COMMIT.has(move.failedIn ?? "")) return true;
  return (
    move.failedIn === "committing" &&
    watermark !== null &&
    watermarkDay(watermark) >= watermarkDay(move.to)
  );
}

/** `promise`, or the abort's reason once `signal` aborts first (the work itself goes on). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

function abortError(signal: AbortSignal): Error {
  if (signal.reason instanceof EntenteError) return signal.reason;
  return new EntenteError(
    "DEADLINE_EXCEEDED",
    "tiers: stopped waiting for the move at the caller's deadline; the move goes on (see status)",
    { retryable: true },
  );
}

const days = (n: number) => `${n} ${n === 1 ? "day" : "days"}`;

function newMoveId(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `${stamp}-${randomBytes(3).toString("hex")}`;
}

/** When the table's next scheduled move is due; undefined for on-demand tables. */
function nextRunAt(
  record: TierRecord | undefined,
  config: TierLifecycleConfig,
): number | undefined {
  const last = record?.last;
  // A move failed past its commit is taken up again, backing off, scheduled table or not.
  if (last && resumable(last)) return resumeAt(last);
  if (config.everyMs === undefined) return undefined;
  if (!last) return Date.now();
  return last.startedAt + config.everyMs;
}

function isDue(record: TierRecord | undefined, config: TierLifecycleConfig, now: number): boolean {
  if (record?.running !== undefined) return false;
  const next = nextRunAt(record, config);
  return next !== undefined && next <= now;
}

import pg from "pg";
import type { Row } from "./types.ts";

/** Batches that wait, read and not yet taken, before the connection's socket is paused. */
const BATCHES_AHEAD = 4;

interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * A statement's rows from one plain query — the extended protocol's Execute with no row limit —
 * in batches of `size`. PostgreSQL plans no parallel workers for a portal fetched a few rows at a
 * time, as a cursor is, but may for this (TPC-H Q3 at SF 1, whose join of orders and lineitem
 * took 1.7 s through a cursor, went from 1.8–2.8 s to 1.1–1.5). Rows arrive as fast as the
 * server sends them: past a few batches waiting here the connection's socket is paused, and the
 * server waits on it as it would behind a slow cursor.
 */
export class StreamedRows {
  readonly #size: number;
  readonly #socket: Pausable | undefined;
  #ready: Row[][] = [];
  #filling: Row[] = [];
  #fields: pg.FieldDef[] | undefined;
  #ended = false;
  #error: unknown;
  #paused = false;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(
    client: pg.PoolClient,
    statement: { text: string; values: unknown[]; types: unknown },
    size: number,
  ) {
    this.#size = size;
    this.#socket = (client as unknown as { connection?: { stream?: Pausable } }).connection?.stream;
    const config: pg.QueryArrayConfig & { queryMode: "extended" } = {
      text: statement.text,
      values: statement.values,
      rowMode: "array",
      types: statement.types as pg.CustomTypesConfig,
      // Parse, Bind and Execute even without parameters: one statement, never several.
      queryMode: "extended",
    };
    const query = new pg.Query(config);
    // With a row listener and no callback, pg hands rows on instead of gathering them.
    query.on("row", (row: Row, result?: { fields: pg.FieldDef[] }) => {
      this.#fields ??= result?.fields ?? [];
      this.#filling.push(row);
      if (this.#filling.length >= this.#size) this.#hand();
    });
    query.on("end", (result: pg.QueryResult | undefined) => {
      this.#fields ??= result?.fields ?? [];
      if (this.#filling.length > 0) this.#hand();
      this.#ended = true;
      this.#notify();
    });
    query.on("error", (err: unknown) => {
      this.#error = err;
      this.#ended = true;
      this.#notify();
    });
    client.query(query);
  }

  /** Whether the server has finished sending (or failed): nothing more will arrive. */
  get ended(): boolean {
    return this.#ended;
  }

  /** The result's fields, once its first row or its end has arrived; the failure, if it failed. */
  async fields(): Promise<pg.FieldDef[]> {
    while (this.#fields === undefined && !this.#ended) await this.#next();
    if (this.#error !== undefined) throw this.#error;
    return this.#fields ?? [];
  }

  /** The next batch; an empty array at the end. */
  async read(): Promise<Row[]> {
    while (this.#ready.length === 0 && !this.#ended) await this.#next();
    if (this.#error !== undefined) throw this.#error;
    const batch = this.#ready.shift() ?? [];
    if (this.#paused && this.#ready.length < BATCHES_AHEAD) {
      this.#paused = false;
      this.#socket?.resume();
    }
    return batch;
  }

  /**
   * Drops what came and what comes, and lets the socket read again: the reader is gone, and the
   * connection goes back to its pool (a paused socket there would never answer again) or closes.
   */
  stop(): void {
    this.#stopped = true;
    this.#ready = [];
    this.#filling = [];
    if (this.#paused) {
      this.#paused = false;
      this.#socket?.resume();
    }
  }

  #hand(): void {
    if (this.#stopped) {
      this.#filling = [];
      return;
    }
    this.#ready.push(this.#filling);
    this.#filling = [];
    if (this.#ready.length >= BATCHES_AHEAD && !this.#paused) {
      this.#paused = true;
      this.#socket?.pause();
    }
    this.#notify();
  }

  #next(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

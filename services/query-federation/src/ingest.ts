/**
 * Ingest: points published to `<prefix>.<instance>` are kept by a JetStream stream that
 * captures `<prefix>.>`, so publishing works (and is acknowledged by JetStream) even while no
 * store is running. Each DuckDB instance of each worker follows the stream with an ordered
 * consumer, from the sequence after the highest one it has stored, and writes every batch in
 * one statement that also records the batch's sequence (see DuckdbStore.applyBatch). A file
 * store resumes where it stopped; an in-memory store starts from nothing, so it replays the
 * whole stream — every worker's in-memory copy ends up holding every point exactly once.
 */
import { EntenteError, jsonCodec, msgpackCodec, parseMessage } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import {
  type ConsumerMessages,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { z } from "zod";
import { parseTimestamp } from "./duration.ts";
import type { DuckdbStore } from "./instances/duckdb-store.ts";
import type { Point } from "./points.ts";
import { INSTANCE_TAG, TAG_NAME } from "./query.ts";

export interface IngestSettings {
  stream: string;
  subjectPrefix: string;
  maxAgeMs: number;
  maxBatchPoints: number;
}

const pointSchema = z.strictObject({
  metric: z.string().min(1).max(256),
  tags: z.record(z.string(), z.string()).optional(),
  timestamp: z.union([z.string(), z.number(), z.bigint()]),
  value: z.number(),
});

export interface DecodedBatch {
  points: Point[];
  /** Malformed points, left out: one bad point does not cost the batch its good ones. */
  rejected: Array<{ index: number; problem: string }>;
}

/**
 * A published batch → its well-formed points and what is wrong with each other one; a batch
 * that is not a list of at most `maxPoints` items is a BAD_REQUEST naming the problem.
 */
export function decodeBatch(
  data: Uint8Array,
  contentType: string | undefined,
  maxPoints: number,
): DecodedBatch {
  const json = contentType?.toLowerCase().includes("json") ?? looksLikeJson(data);
  const decoded = (json ? jsonCodec : msgpackCodec).decode(data);
  const list = parseMessage(
    z.array(z.unknown()).max(maxPoints, `a batch holds at most ${maxPoints} points`),
    decoded,
    "ingest batch",
  );
  const batch: DecodedBatch = { points: [], rejected: [] };
  list.forEach((item, index) => {
    try {
      const p = parseMessage(pointSchema, item, `point ${index}`);
      for (const tag of Object.keys(p.tags ?? {})) tagProblem(index, tag);
      const timestamp = parseTimestamp(p.timestamp);
      if (timestamp === undefined || timestamp < 0n) {
        throw new EntenteError(
          "BAD_REQUEST",
          `invalid point ${index}: timestamp: ${JSON.stringify(String(p.timestamp))} is not nanoseconds or RFC 3339`,
        );
      }
      batch.points.push({ metric: p.metric, tags: p.tags ?? {}, timestamp, value: p.value });
    } catch (err) {
      batch.rejected.push({ index, problem: (err as Error).message });
    }
  });
  return batch;
}

/** Tags a query could not name, or that would pose as an instance, are refused. */
function tagProblem(index: number, tag: string): void {
  const problem =
    tag === INSTANCE_TAG
      ? `${INSTANCE_TAG} names the instance; it is not stored`
      : TAG_NAME.test(tag)
        ? undefined
        : `malformed tag name ${JSON.stringify(tag)}: use letters, digits, '_', '.', ':' and '-', starting with a letter or '_'`;
  if (problem) throw new EntenteError("BAD_REQUEST", `invalid point ${index}: tags: ${problem}`);
}

function looksLikeJson(data: Uint8Array): boolean {
  for (const byte of data) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x5b || byte === 0x7b; // '[' or '{': never the first byte of a MessagePack array
  }
  return false;
}

/** Creates the ingest stream, or widens an existing one to the settings. */
export async function ensureIngestStream(nc: NatsConnection, settings: IngestSettings) {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: settings.stream,
    subjects: [`${settings.subjectPrefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: settings.maxAgeMs * 1_000_000,
  };
  try {
    await jsm.streams.info(settings.stream);
    await jsm.streams.update(settings.stream, config);
  } catch (err) {
    if (!/not found/i.test(String((err as Error).message))) throw err;
    await jsm.streams.add(config);
  }
}

export interface IngestFigures {
  applied: number;
  points: number;
  skipped: number;
  /** Batches that are not a list of points. */
  rejected: number;
  /** Malformed points left out of otherwise stored batches. */
  rejectedPoints: number;
  watermark: number;
}

/** Follows the stream for one store. */
export class StoreWriter {
  readonly figures: IngestFigures = {
    applied: 0,
    points: 0,
    skipped: 0,
    rejected: 0,
    rejectedPoints: 0,
    watermark: 0,
  };
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly nc: NatsConnection;
  private readonly store: DuckdbStore;
  private readonly settings: IngestSettings;
  private readonly logger: Logger;

  constructor(nc: NatsConnection, store: DuckdbStore, settings: IngestSettings, logger: Logger) {
    this.nc = nc;
    this.store = store;
    this.settings = settings;
    this.logger = logger;
  }

  async start(): Promise<void> {
    this.figures.watermark = await this.store.watermark();
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(this.settings.stream, {
      // One subject as a string: servers before 2.10 know only `filter_subject`.
      filter_subjects: `${this.settings.subjectPrefix}.${this.store.name}`,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.figures.watermark + 1,
    });
    this.messages = await consumer.consume({ max_messages: 256 });
    const messages = this.messages;
    this.running = (async () => {
      for await (const m of messages) {
        if (this.stopped) break;
        await this.apply(m.seq, m.data, m.headers?.get("content-type") || undefined);
      }
    })().catch((err: unknown) => {
      if (!this.stopped) this.logger.error({ err, instance: this.store.name }, "ingest stopped");
    });
  }

  /** Applies one batch; bad batches are logged and counted, never fatal. */
  async apply(sequence: number, data: Uint8Array, contentType: string | undefined): Promise<void> {
    if (sequence <= this.figures.watermark) {
      this.figures.skipped += 1;
      return;
    }
    let points: Point[];
    try {
      const batch = decodeBatch(data, contentType, this.settings.maxBatchPoints);
      points = batch.points;
      if (batch.rejected.length > 0) {
        this.figures.rejectedPoints += batch.rejected.length;
        this.logger.warn(
          {
            instance: this.store.name,
            sequence,
            rejected: batch.rejected.length,
            problems: batch.rejected.slice(0, 10),
          },
          "malformed points left out of an ingest batch",
        );
      }
    } catch (err) {
      this.figures.rejected += 1;
      this.figures.watermark = sequence;
      this.logger.warn(
        { instance: this.store.name, sequence, err: (err as Error).message },
        "ingest batch rejected",
      );
      return;
    }
    // A failed write is retried (the store may be busy); the batch is never skipped.
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await this.store.applyBatch(sequence, points);
        if (rows === 0 && points.length > 0) this.figures.skipped += 1;
        else this.figures.applied += 1;
        this.figures.points += rows;
        this.figures.watermark = sequence;
        return;
      } catch (err) {
        if (this.stopped) throw err;
        this.logger.warn(
          { err, instance: this.store.name, sequence, attempt },
          "ingest write failed",
        );
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * attempt)));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.running;
  }
}

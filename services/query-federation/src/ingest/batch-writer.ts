/**
 * Writes one batch from the stream into one store, or gives up on it: a batch that cannot be
 * read is dead-lettered at once (reading it again gives the same answer); a write that fails
 * is tried again with backoff, `writeRetry.attempts` times in all, and then dead-lettered. The
 * store moves on either way, so one batch never stops an instance's ingest.
 */

import { setTimeout as sleep } from "node:timers/promises";
import type { IngestFigures } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import type { Point } from "../points.ts";
import { nextBackoff, type RetrySettings } from "../retry.ts";
import { type DeadLetter, type DeadLetterSink, headerReason } from "./dead-letter.ts";
import { readStoredBatch } from "./validate.ts";

/** What a writer needs of a store; DuckdbStore is one. */
export interface IngestStore {
  readonly name: string;
  /** The highest stream sequence stored; 0 when none. */
  watermark(): Promise<number>;
  /** Stores a batch unless its sequence (or a later one) is stored; returns rows written. */
  applyBatch(sequence: number, points: Point[]): Promise<number>;
}

export interface BatchWriterOptions {
  store: IngestStore;
  deadLetters: DeadLetterSink;
  figures: IngestFigures;
  retry: RetrySettings;
  maxBatchPoints: number;
  logger: Logger;
  /** Stops a writer waiting between retries. */
  signal: AbortSignal;
}

export class BatchWriter {
  private readonly options: BatchWriterOptions;

  constructor(options: BatchWriterOptions) {
    this.options = options;
  }

  async apply(sequence: number, data: Uint8Array, contentType: string | undefined): Promise<void> {
    const { store, figures, retry, signal, logger } = this.options;
    if (sequence <= figures.watermark) {
      figures.skipped += 1;
      return;
    }
    let points: Point[];
    try {
      points = readStoredBatch(data, contentType, this.options.maxBatchPoints);
    } catch (err) {
      const reason = `unreadable batch: ${messageOf(err)}`;
      await this.deadLetter({
        instance: store.name,
        sequence,
        data,
        contentType,
        reason,
        attempts: 0,
      });
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = await store.applyBatch(sequence, points);
        if (rows === 0 && points.length > 0) figures.skipped += 1;
        else figures.applied += 1;
        figures.points += rows;
        figures.watermark = sequence;
        return;
      } catch (err) {
        signal.throwIfAborted();
        figures.writeFailures += 1;
        const reason = `the store refused the batch: ${messageOf(err)}`;
        // A store replaying the stream meets its dead letters again: no second round of retries.
        if (attempt === 1 && (await this.alreadyDeadLettered(sequence, data))) {
          this.passOver(sequence, reason);
          logger.warn(
            { instance: store.name, sequence },
            "ingest batch already dead-lettered; passed over",
          );
          return;
        }
        const wait = nextBackoff(attempt, true, Number.POSITIVE_INFINITY, retry);
        if (wait === undefined) {
          const letter = { instance: store.name, sequence, data, contentType, reason };
          await this.deadLetter({ ...letter, attempts: attempt });
          return;
        }
        logger.warn(
          { instance: store.name, sequence, attempt, err: messageOf(err), retryInMs: wait },
          "ingest write failed",
        );
        await sleep(wait, undefined, { signal });
      }
    }
  }

  /** Puts the batch in the dead-letter stream, trying until it is there or the writer stops. */
  private async deadLetter(letter: DeadLetter): Promise<void> {
    const { deadLetters, signal, logger } = this.options;
    for (let attempt = 1; ; attempt++) {
      try {
        await deadLetters.put(letter);
        break;
      } catch (err) {
        signal.throwIfAborted();
        logger.warn(
          { instance: letter.instance, sequence: letter.sequence, err: messageOf(err) },
          "could not dead-letter an ingest batch; trying again",
        );
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(attempt, 6)), undefined, { signal });
      }
    }
    this.passOver(letter.sequence, letter.reason);
    logger.error(
      {
        instance: letter.instance,
        sequence: letter.sequence,
        attempts: letter.attempts,
        reason: headerReason(letter.reason),
      },
      "ingest batch dead-lettered",
    );
  }

  private async alreadyDeadLettered(sequence: number, data: Uint8Array): Promise<boolean> {
    try {
      return await this.options.deadLetters.holds(this.options.store.name, sequence, data);
    } catch {
      return false; // Not knowing means retrying as usual.
    }
  }

  private passOver(sequence: number, reason: string): void {
    const { figures } = this.options;
    figures.deadLettered += 1;
    figures.lastDeadLetter = { sequence, reason: headerReason(reason) };
    figures.watermark = sequence;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

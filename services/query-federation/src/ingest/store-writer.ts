/**
 * Follows the ingest stream for one store: an ordered consumer on the store's stream subject,
 * from the sequence after the highest one it holds, each batch handed to a BatchWriter. The
 * store's own highest sequence is its acknowledgment, so a file store resumes where it
 * stopped and an in-memory store replays the stream.
 */
import type { IngestFigures } from "@entente/protocol";
import type { Logger } from "@entente/runtime";
import { type ConsumerMessages, DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { BatchWriter, type IngestStore } from "./batch-writer.ts";
import type { DeadLetterSink } from "./dead-letter.ts";
import { type IngestSettings, streamSubject } from "./streams.ts";

export interface StoreWriterOptions {
  nc: NatsConnection;
  store: IngestStore;
  settings: IngestSettings;
  deadLetters: DeadLetterSink;
  figures: IngestFigures;
  logger: Logger;
}

export class StoreWriter {
  readonly figures: IngestFigures;
  private readonly options: StoreWriterOptions;
  private readonly stopping = new AbortController();
  private readonly writer: BatchWriter;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;

  constructor(options: StoreWriterOptions) {
    this.options = options;
    this.figures = options.figures;
    this.writer = new BatchWriter({
      store: options.store,
      deadLetters: options.deadLetters,
      figures: options.figures,
      retry: options.settings.writeRetry,
      maxBatchPoints: options.settings.maxBatchPoints,
      logger: options.logger,
      signal: this.stopping.signal,
    });
  }

  async start(): Promise<void> {
    const { nc, store, settings, logger } = this.options;
    this.figures.watermark = await store.watermark();
    const consumer = await jetstream(nc).consumers.get(settings.stream, {
      // One subject as a string: servers before 2.10 know only `filter_subject`.
      filter_subjects: streamSubject(settings, store.name),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.figures.watermark + 1,
    });
    const messages = await consumer.consume({ max_messages: 256 });
    this.messages = messages;
    this.running = (async () => {
      for await (const m of messages) {
        if (this.stopping.signal.aborted) break;
        await this.writer.apply(m.seq, m.data, m.headers?.get("content-type") || undefined);
      }
    })().catch((err: unknown) => {
      if (!this.stopping.signal.aborted)
        logger.error({ err, instance: store.name }, "ingest stopped");
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.messages?.close();
    await this.running;
  }
}

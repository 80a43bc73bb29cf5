/** Everything ingest runs on in one worker: the streams, the validating endpoint, the writers. */
import type { Logger } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";
import { IngestStats } from "../stats.ts";
import type { IngestStore } from "./batch-writer.ts";
import { JetStreamDeadLetters } from "./dead-letter.ts";
import { IngestGate } from "./gate.ts";
import { StoreWriter } from "./store-writer.ts";
import { ensureIngestStreams, type IngestSettings } from "./streams.ts";

export interface IngestRuntime {
  gate: IngestGate;
  /** The instances ingest takes points for. */
  instances: ReadonlySet<string>;
  writers: StoreWriter[];
  stats: IngestStats;
  stop(): Promise<void>;
}

export interface IngestParts {
  nc: NatsConnection;
  settings: IngestSettings;
  /** DuckDB instances ingest may name, read-only ones included (another worker writes them). */
  instances: ReadonlySet<string>;
  /** The stores this worker writes. */
  stores: IngestStore[];
  logger: Logger;
}

export async function startIngest(parts: IngestParts): Promise<IngestRuntime> {
  const { nc, settings, logger } = parts;
  await ensureIngestStreams(nc, settings);
  const stats = new IngestStats();
  const deadLetters = new JetStreamDeadLetters(nc, settings);
  const writers: StoreWriter[] = [];
  try {
    for (const store of parts.stores) {
      const writer = new StoreWriter({
        nc,
        store,
        settings,
        deadLetters,
        figures: stats.of(store.name),
        logger,
      });
      await writer.start();
      writers.push(writer);
    }
  } catch (err) {
    await Promise.allSettled(writers.map((w) => w.stop()));
    throw err;
  }
  return {
    gate: new IngestGate(nc, settings, parts.instances, stats),
    instances: parts.instances,
    writers,
    stats,
    async stop() {
      await Promise.allSettled(writers.map((w) => w.stop()));
    },
  };
}

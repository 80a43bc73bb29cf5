/**
 * The validating front of ingest. `<subjectPrefix>.<instance>` is served here (the stream does
 * not capture it): every point is checked, the valid ones go into the stream as one batch on
 * the instance's stream subject, and the publisher is told how many were accepted and which
 * were refused, and why. A refused point never reaches a store.
 */
import { EntenteError, HEADERS, type IngestReply, MSGPACK } from "@entente/protocol";
import { jetstream, type PubAck } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import type { IngestStats } from "../stats.ts";
import { type IngestSettings, streamSubject } from "./streams.ts";
import { encodeStoredBatch, type ValidatedBatch, validateBatch } from "./validate.ts";

/** A reply names at most this many refused points; `rejectedCount` has them all. */
export const MAX_LISTED_REJECTIONS = 100;

/** The publisher's answer for a validated batch, and where its valid points went. Pure. */
export function ingestReply(
  batch: ValidatedBatch,
  ack?: Pick<PubAck, "stream" | "seq" | "duplicate">,
): IngestReply {
  return {
    accepted: batch.points.length,
    rejected: batch.rejected.slice(0, MAX_LISTED_REJECTIONS),
    rejectedCount: batch.rejected.length,
    ...(ack ? { stream: ack.stream, seq: ack.seq } : {}),
    ...(ack?.duplicate ? { duplicate: true as const } : {}),
  };
}

export interface IngestOptions {
  /** The publisher's `Nats-Msg-Id`: a retried publish with the same id is stored once. */
  msgId?: string | undefined;
  timeoutMs: number;
}

export class IngestGate {
  private readonly nc: NatsConnection;
  private readonly settings: IngestSettings;
  private readonly instances: ReadonlySet<string>;
  private readonly stats: IngestStats;

  constructor(
    nc: NatsConnection,
    settings: IngestSettings,
    instances: ReadonlySet<string>,
    stats: IngestStats,
  ) {
    this.nc = nc;
    this.settings = settings;
    this.instances = instances;
    this.stats = stats;
  }

  /**
   * Only configured DuckDB instances are taken: a name nothing stores would otherwise leave
   * its points in the stream for ever, and any name a publisher invents would add a subject.
   */
  async ingest(instance: string, decoded: unknown, options: IngestOptions): Promise<IngestReply> {
    if (!this.instances.has(instance)) {
      throw new EntenteError(
        "NOT_FOUND",
        `no DuckDB instance ${JSON.stringify(instance)} takes ingest (known: ${[...this.instances].join(", ")})`,
      );
    }
    const batch = validateBatch(decoded, this.settings.maxBatchPoints);
    const figures = this.stats.of(instance);
    figures.rejected += batch.rejected.length;
    if (batch.points.length === 0) return ingestReply(batch);
    const ack = await this.publish(instance, batch, options);
    if (!ack.duplicate) figures.accepted += batch.points.length;
    return ingestReply(batch, ack);
  }

  private async publish(
    instance: string,
    batch: ValidatedBatch,
    options: IngestOptions,
  ): Promise<PubAck> {
    const h = headers();
    h.set(HEADERS.contentType, MSGPACK);
    try {
      return await jetstream(this.nc).publish(
        streamSubject(this.settings, instance),
        encodeStoredBatch(batch.points),
        {
          headers: h,
          timeout: Math.max(1, options.timeoutMs),
          expect: { streamName: this.settings.stream },
          ...(options.msgId ? { msgID: options.msgId } : {}),
        },
      );
    } catch (err) {
      throw new EntenteError(
        "UNAVAILABLE",
        `the ingest stream ${this.settings.stream} did not take the batch: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}

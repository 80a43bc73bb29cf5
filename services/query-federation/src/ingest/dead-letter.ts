/**
 * Dead letters: batches no store could write, kept in their own stream with the reason in
 * headers and the batch itself, unchanged, as the body (so it can be published again once the
 * cause is fixed).
 */
import { HEADERS } from "@entente/protocol";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { deadLetterSubject, type IngestSettings } from "./streams.ts";

export const DEAD_LETTER_HEADERS = {
  instance: "Entente-Ingest-Instance",
  stream: "Entente-Ingest-Stream",
  sequence: "Entente-Ingest-Sequence",
  reason: "Entente-Ingest-Reason",
  attempts: "Entente-Ingest-Attempts",
} as const;

const MAX_REASON_LENGTH = 500;

export interface DeadLetter {
  instance: string;
  /** The batch's sequence in the ingest stream. */
  sequence: number;
  data: Uint8Array;
  contentType: string | undefined;
  reason: string;
  /** Store writes tried; 0 when the batch could not even be read. */
  attempts: number;
}

/** Where a writer puts what it cannot store; an interface so writers test without JetStream. */
export interface DeadLetterSink {
  put(letter: DeadLetter): Promise<void>;
  /** Whether this very batch (instance, sequence and bytes) is already a dead letter. */
  holds(instance: string, sequence: number, data: Uint8Array): Promise<boolean>;
}

/** A reason fit for a header: one line, bounded (a store's error may quote the whole batch). */
export function headerReason(reason: string): string {
  const line = reason.replace(/\s+/g, " ").trim();
  return line.length <= MAX_REASON_LENGTH ? line : `${line.slice(0, MAX_REASON_LENGTH - 1)}…`;
}

export class JetStreamDeadLetters implements DeadLetterSink {
  private readonly nc: NatsConnection;
  private readonly settings: IngestSettings;

  constructor(nc: NatsConnection, settings: IngestSettings) {
    this.nc = nc;
    this.settings = settings;
  }

  async put(letter: DeadLetter): Promise<void> {
    const h = headers();
    h.set(DEAD_LETTER_HEADERS.instance, letter.instance);
    h.set(DEAD_LETTER_HEADERS.stream, this.settings.stream);
    h.set(DEAD_LETTER_HEADERS.sequence, String(letter.sequence));
    h.set(DEAD_LETTER_HEADERS.reason, headerReason(letter.reason));
    h.set(DEAD_LETTER_HEADERS.attempts, String(letter.attempts));
    if (letter.contentType) h.set(HEADERS.contentType, letter.contentType);
    await jetstream(this.nc).publish(
      deadLetterSubject(this.settings, letter.instance, letter.sequence),
      letter.data,
      {
        headers: h,
        // Workers replaying the same stream into in-memory copies meet the same batch.
        msgID: `${this.settings.stream}:${letter.instance}:${letter.sequence}`,
        expect: { streamName: this.settings.deadLetter.stream },
      },
    );
  }

  async holds(instance: string, sequence: number, data: Uint8Array): Promise<boolean> {
    const jsm = await jetstreamManager(this.nc);
    const stored = await jsm.streams.getMessage(this.settings.deadLetter.stream, {
      last_by_subj: deadLetterSubject(this.settings, instance, sequence),
    });
    // Same bytes, not just the same sequence: a recreated ingest stream reuses sequences.
    return stored !== null && Buffer.from(stored.data).equals(data);
  }
}

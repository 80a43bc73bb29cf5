/**
 * A store writer with stand-ins for the store and the dead-letter stream: a batch the store
 * refuses is tried a bounded number of times and dead-lettered with its reason, an unreadable
 * one at once, a known dead letter is passed over without retries, and the batches after any
 * of them are stored.
 */
import { createLogger } from "@entente/runtime";
import { describe, expect, it } from "vitest";
import {
  BatchWriter,
  type DeadLetter,
  type DeadLetterSink,
  encodeStoredBatch,
  IngestStats,
  type IngestStore,
  type Point,
} from "../src/index.ts";

const MSGPACK = "application/msgpack";
const logger = createLogger({ service: "test", level: "silent" });

function batchOf(metric: string): Uint8Array {
  return encodeStoredBatch([{ metric, tags: {}, timestamp: 1n, value: 1 }]);
}

/** Stores every batch, except that it throws for the metrics it is told to refuse. */
class StandInStore implements IngestStore {
  readonly name = "edge-b";
  readonly stored: Array<{ sequence: number; metrics: string[] }> = [];
  attempts = 0;
  private readonly refuse: (metric: string) => string | undefined;
  constructor(refuse: (metric: string) => string | undefined) {
    this.refuse = refuse;
  }
  async watermark() {
    return this.stored.at(-1)?.sequence ?? 0;
  }
  async applyBatch(sequence: number, points: Point[]) {
    this.attempts += 1;
    const refusal = points.map((p) => this.refuse(p.metric)).find((r) => r !== undefined);
    if (refusal) throw new Error(refusal);
    this.stored.push({ sequence, metrics: points.map((p) => p.metric) });
    return points.length;
  }
}

class StandInDeadLetters implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];
  failuresLeft = 0;
  async put(letter: DeadLetter) {
    if (this.failuresLeft-- > 0) throw new Error("no JetStream just now");
    this.letters.push(letter);
  }
  async holds(instance: string, sequence: number, data: Uint8Array) {
    return this.letters.some(
      (l) => l.instance === instance && l.sequence === sequence && Buffer.from(l.data).equals(data),
    );
  }
}

function writerFor(store: IngestStore, deadLetters: DeadLetterSink, stats = new IngestStats()) {
  const writer = new BatchWriter({
    store,
    deadLetters,
    figures: stats.of(store.name),
    retry: { attempts: 3, backoffMs: 1, maxBackoffMs: 2 },
    maxBatchPoints: 100,
    logger,
    signal: new AbortController().signal,
  });
  return { writer, figures: stats.of(store.name) };
}

describe("BatchWriter", () => {
  it("dead-letters a batch the store refuses after bounded retries, then stores what follows", async () => {
    const store = new StandInStore((m) =>
      m === "refused" ? "Constraint Error: CHECK" : undefined,
    );
    const deadLetters = new StandInDeadLetters();
    const { writer, figures } = writerFor(store, deadLetters);

    await writer.apply(1, batchOf("good"), MSGPACK);
    await writer.apply(2, batchOf("refused"), MSGPACK);
    await writer.apply(3, batchOf("later"), MSGPACK);

    expect(store.stored).toEqual([
      { sequence: 1, metrics: ["good"] },
      { sequence: 3, metrics: ["later"] },
    ]);
    expect(store.attempts).toBe(5); // 1 + 3 (bounded) + 1
    expect(deadLetters.letters).toHaveLength(1);
    const [letter] = deadLetters.letters;
    expect(letter).toMatchObject({
      instance: "edge-b",
      sequence: 2,
      contentType: MSGPACK,
      reason: "the store refused the batch: Constraint Error: CHECK",
      attempts: 3,
    });
    expect(Buffer.from(letter?.data ?? []).equals(batchOf("refused"))).toBe(true);
    expect(figures).toMatchObject({
      applied: 2,
      points: 2,
      writeFailures: 3,
      deadLettered: 1,
      lastDeadLetter: {
        sequence: 2,
        reason: "the store refused the batch: Constraint Error: CHECK",
      },
      watermark: 3,
    });
  });

  it("dead-letters a batch it cannot read without trying the store", async () => {
    const store = new StandInStore(() => undefined);
    const deadLetters = new StandInDeadLetters();
    const { writer, figures } = writerFor(store, deadLetters);
    const poison = new TextEncoder().encode(
      '[{"metric":"poison","timestamp":"9223372036854775808","value":1}]',
    );

    await writer.apply(1, poison, "application/json");
    await writer.apply(2, batchOf("good"), MSGPACK);

    expect(store.attempts).toBe(1);
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]).toMatchObject({ sequence: 1, attempts: 0 });
    expect(deadLetters.letters[0]?.data).toBe(poison);
    expect(deadLetters.letters[0]?.reason).toMatch(
      /^unreadable batch: invalid ingest batch: point 0: timestamp: "9223372036854775808" is past 2262/,
    );
    expect(figures).toMatchObject({ applied: 1, deadLettered: 1, watermark: 2 });
  });

  it("passes over a batch it meets again that is already a dead letter, without retries", async () => {
    const store = new StandInStore((m) => (m === "refused" ? "Constraint Error" : undefined));
    const deadLetters = new StandInDeadLetters();
    await writerFor(store, deadLetters).writer.apply(7, batchOf("refused"), MSGPACK);
    expect(store.attempts).toBe(3);

    // A restarted (or another worker's) copy replays the stream.
    const replay = writerFor(store, deadLetters);
    await replay.writer.apply(7, batchOf("refused"), MSGPACK);
    await replay.writer.apply(8, batchOf("later"), MSGPACK);

    expect(store.attempts).toBe(3 + 1 + 1);
    expect(deadLetters.letters).toHaveLength(1);
    expect(replay.figures).toMatchObject({ deadLettered: 1, applied: 1, watermark: 8 });
  });

  it("keeps a batch until the dead-letter stream takes it", async () => {
    const store = new StandInStore(() => "IO Error: disk full");
    const deadLetters = new StandInDeadLetters();
    deadLetters.failuresLeft = 2;
    const { writer, figures } = writerFor(store, deadLetters);

    await writer.apply(1, batchOf("m"), MSGPACK);

    expect(deadLetters.letters.map((l) => l.sequence)).toEqual([1]);
    expect(figures).toMatchObject({ deadLettered: 1, watermark: 1 });
  });

  it("stops waiting between retries when the writer stops, leaving the batch to a restart", async () => {
    const store = new StandInStore(() => "busy");
    const stopping = new AbortController();
    const figures = new IngestStats().of("edge-b");
    const writer = new BatchWriter({
      store,
      deadLetters: new StandInDeadLetters(),
      figures,
      retry: { attempts: 5, backoffMs: 60_000, maxBackoffMs: 60_000 },
      maxBatchPoints: 100,
      logger,
      signal: stopping.signal,
    });
    const applying = writer.apply(1, batchOf("m"), MSGPACK);
    stopping.abort();
    await expect(applying).rejects.toThrow();
    expect(figures).toMatchObject({ deadLettered: 0, watermark: 0 });
  });

  it("skips sequences it is done with", async () => {
    const store = new StandInStore(() => undefined);
    const { writer, figures } = writerFor(store, new StandInDeadLetters());
    await writer.apply(4, batchOf("m"), MSGPACK);
    await writer.apply(4, batchOf("m"), MSGPACK);
    expect(figures).toMatchObject({ applied: 1, skipped: 1, watermark: 4 });
  });
});

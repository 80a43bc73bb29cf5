/**
 * Hostile ingest: the point that used to stop an instance's ingest for good (a timestamp past
 * int64) is refused before JetStream with an answer naming it; a batch that still fails at the
 * store (here a CHECK constraint the operator put on the table) is dead-lettered with its reason
 * after bounded retries; the instance keeps ingesting and other clients keep being served.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createConnector } from "@entente/connectors";
import {
  type IngestFigures,
  type IngestReply,
  joinAnswerItems,
  jsonCodec,
  msgpackCodec,
  toJson,
} from "@entente/protocol";
import type { Worker } from "@entente/runtime";
import { type NatsServer, runCommand, startNatsServer } from "@entente/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/nats-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEAD_LETTER_HEADERS } from "../src/index.ts";
import { clientOf, startFederationWorker } from "./support.ts";

const BASE = 1_700_000_000_000_000_000n;
const POISON = '[{"metric":"poison","timestamp":"9223372036854775808","value":1}]';
const REFUSED_METRIC = "refused_by_store";
const DLQ = "ENTENTE_INGEST_DLQ";
const ROOT = resolve(import.meta.dirname, "../../..");

/** Runs `check` until it passes; its last failure is the error once `timeoutMs` has passed. */
async function waitFor(what: string, check: () => Promise<unknown>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms: ${err}`);
    }
    await sleep(50);
  }
}

function point(metric: string, i: number) {
  return { metric, tags: { host: "b-1" }, timestamp: String(BASE + BigInt(i)), value: i };
}

describe("poison ingest", () => {
  let nats: NatsServer;
  let dir: string;
  let workerConfig: string;
  let worker: Worker | undefined;
  let publisher: NatsConnection;
  let other: Awaited<ReturnType<typeof clientOf>>;

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "entente-poison-"));
    // The operator's table refuses one metric: a point validation accepts and the store refuses.
    const path = join(dir, "edge-b.duckdb");
    const setup = await createConnector("setup", { kind: "duckdb", path });
    await setup.execute({
      sql: `CREATE TABLE points (metric VARCHAR NOT NULL CHECK (metric <> '${REFUSED_METRIC}'), tags JSON, "time" BIGINT NOT NULL, value DOUBLE, ingest_seq BIGINT)`,
      params: [],
    });
    await setup.close();
    // A stream from before validation moved in front of it, capturing the public subject.
    ({ nc: publisher } = await clientOf(nats.url));
    await (await jetstreamManager(publisher)).streams.add({
      name: "ENTENTE_INGEST",
      subjects: ["entente.ingest.>"],
    });
    workerConfig = `instances:
  edge-b: { kind: duckdb, path: ${path} }
queryFederation:
  ingest: { writeRetry: { attempts: 3, backoffMs: 500, maxBackoffMs: 1000 } }
`;
    worker = await startFederationWorker(nats.url, workerConfig);
    other = await clientOf(nats.url);
  }, 60_000);

  afterAll(async () => {
    await publisher?.close();
    await other?.nc.close();
    await worker?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** As `nats req entente.ingest.edge-b '<body>' -H content-type:application/json` does it. */
  async function publish(body: string, msgId?: string): Promise<IngestReply> {
    const h = headers();
    h.set("content-type", "application/json");
    if (msgId) h.set("Nats-Msg-Id", msgId);
    const reply = await publisher.request("entente.ingest.edge-b", body, {
      headers: h,
      timeout: 10_000,
    });
    return jsonCodec.decode(reply.data) as IngestReply;
  }

  async function stored(metric: string): Promise<number[]> {
    const answer = joinAnswerItems(
      await other.client.collect(
        "entente.query",
        {
          metric,
          start: String(BASE),
          end: String(BASE + 10n ** 12n),
          tags: { __instance__: "edge-b" },
        },
        { timeoutMs: 10_000 },
      ),
    );
    return answer.points.map((p) => p.value as number).sort((a, b) => a - b);
  }

  async function figures(): Promise<IngestFigures> {
    const stats = (await other.client.request("entente.query.stats", {})) as {
      ingest: Record<string, IngestFigures>;
    };
    return stats.ingest["edge-b"] as IngestFigures;
  }

  async function deadLetter(sequence: number) {
    const jsm = await jetstreamManager(publisher);
    return jsm.streams.getMessage(DLQ, { last_by_subj: `entente.ingest-dlq.edge-b.${sequence}` });
  }

  it("refuses the poison point before JetStream, naming it and why, and stores what follows", async () => {
    const jsm = await jetstreamManager(publisher);
    // The stream no longer captures the public subject: the endpoint's answer is the only one.
    expect((await jsm.streams.info("ENTENTE_INGEST")).config.subjects).toEqual([
      "entente.ingested.>",
    ]);
    expect(await publish(POISON)).toEqual({
      accepted: 0,
      rejected: [
        {
          index: 0,
          reason:
            'timestamp: "9223372036854775808" is past 2262-04-11T23:47:16.854775807Z, the latest a 64-bit nanosecond timestamp holds',
        },
      ],
      rejectedCount: 1,
    });

    const mixed = await publish(
      toJson([point("good", 1), JSON.parse(POISON)[0], point("good", 2)]),
    );
    expect(mixed).toMatchObject({ accepted: 2, rejectedCount: 1, stream: "ENTENTE_INGEST" });
    expect(mixed.rejected.map((r) => r.index)).toEqual([1]);

    await waitFor(
      "the good points",
      async () => expect(await stored("good")).toEqual([1, 2]),
      20_000,
    );
    expect(await figures()).toMatchObject({ accepted: 2, rejected: 2, deadLettered: 0 });
    await expect(
      other.client.request("entente.ingest.nowhere", [point("good", 3)]),
    ).rejects.toThrow(/no DuckDB instance "nowhere" takes ingest \(known: edge-b\)/);
  });

  it("dead-letters a batch the store refuses after bounded retries, serving others meanwhile", async () => {
    const refused = await publish(toJson([point(REFUSED_METRIC, 10)]));
    expect(refused).toMatchObject({ accepted: 1, rejectedCount: 0 });
    const sequence = refused.seq as number;
    // Published while the store is stuck on the refused batch: queued behind it, not lost.
    expect(await publish(toJson([point("good", 11)]))).toMatchObject({ accepted: 1 });

    await waitFor(
      "a failed write",
      async () => expect((await figures()).writeFailures).toBeGreaterThan(0),
      20_000,
    );
    // Another client's query is answered while the writer retries.
    expect(await stored("good")).toEqual([1, 2]);

    await waitFor(
      "the dead letter",
      async () => expect(await deadLetter(sequence)).not.toBeNull(),
      30_000,
    );
    const letter = await deadLetter(sequence);
    expect(letter?.header.get(DEAD_LETTER_HEADERS.instance)).toBe("edge-b");
    expect(letter?.header.get(DEAD_LETTER_HEADERS.stream)).toBe("ENTENTE_INGEST");
    expect(letter?.header.get(DEAD_LETTER_HEADERS.sequence)).toBe(String(sequence));
    expect(letter?.header.get(DEAD_LETTER_HEADERS.attempts)).toBe("3");
    expect(letter?.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(
      /^the store refused the batch: .*CHECK constraint/i,
    );
    expect(msgpackCodec.decode(letter?.data as Uint8Array)).toEqual([
      { metric: REFUSED_METRIC, tags: { host: "b-1" }, timestamp: BASE + 10n, value: 10 },
    ]);

    await waitFor(
      "the point after it",
      async () => expect(await stored("good")).toEqual([1, 2, 11]),
      20_000,
    );
    expect(await figures()).toMatchObject({
      deadLettered: 1,
      writeFailures: 3,
      lastDeadLetter: { sequence, reason: expect.stringMatching(/CHECK constraint/i) },
    });
  });

  it("dead-letters a poison batch that reached the stream around the endpoint, at once", async () => {
    // A publisher with rights on the stream subject, or a batch stored before validation
    // moved in front of the stream: the store must not retry it for ever.
    const ack = await jetstream(publisher).publish("entente.ingested.edge-b", POISON);
    await waitFor(
      "the dead letter",
      async () => expect(await deadLetter(ack.seq)).not.toBeNull(),
      20_000,
    );
    const letter = await deadLetter(ack.seq);
    expect(letter?.header.get(DEAD_LETTER_HEADERS.attempts)).toBe("0");
    expect(letter?.header.get(DEAD_LETTER_HEADERS.reason)).toMatch(
      /^unreadable batch: .*point 0: timestamp: "9223372036854775808" is past 2262/,
    );
    expect(new TextDecoder().decode(letter?.data)).toBe(POISON);

    expect(await publish(toJson([point("good", 12)]))).toMatchObject({ accepted: 1 });
    await waitFor(
      "the point after it",
      async () => expect(await stored("good")).toEqual([1, 2, 11, 12]),
      20_000,
    );
    expect((await figures()).deadLettered).toBe(2);
  });

  it("shows ingest and dead letters in `entente status`", async () => {
    const configFile = join(dir, "cli.yaml");
    await writeFile(configFile, `nats: { servers: ["${nats.url}"] }\n`);
    const output = await runCommand(
      process.execPath,
      [
        "--conditions=@entente/source",
        join(ROOT, "packages/server/src/bin.ts"),
        "-c",
        configFile,
        "status",
        "--service",
        "query-federation",
      ],
      { cwd: ROOT, timeoutMs: 30_000 },
    );
    expect(output).toMatch(/entente\.ingest\.\*/);
    const header = output.split("\n").find((line) => line.includes("dead-lettered"));
    expect(header).toMatch(
      /instance\s+accepted\s+rejected\s+stored\s+dead-lettered\s+last dead letter/,
    );
    const row = output.split("\n").find((line) => /\bedge-b\b/.test(line));
    // Accepted: 2 good, the refused one, 2 more good; rejected: the poison twice; stored: 4.
    expect(row).toMatch(/edge-b\s+5\s+2\s+4\s+2\s+#\d+ unreadable batch/);
  });

  it("after a restart, passes over a dead letter it meets again without a second round of retries", async () => {
    const refused = await publish(toJson([point(REFUSED_METRIC, 20)]));
    const sequence = refused.seq as number;
    await waitFor(
      "the dead letter",
      async () => expect(await deadLetter(sequence)).not.toBeNull(),
      30_000,
    );

    // The refused batch is the file's last: the restarted store resumes right at it.
    await worker?.stop();
    worker = await startFederationWorker(nats.url, workerConfig);
    expect(await publish(toJson([point("good", 21)]))).toMatchObject({ accepted: 1 });
    await waitFor(
      "the point after it",
      async () => expect(await stored("good")).toEqual([1, 2, 11, 12, 21]),
      20_000,
    );
    expect(await figures()).toMatchObject({ writeFailures: 1, deadLettered: 1 });
    const jsm = await jetstreamManager(publisher);
    const info = await jsm.streams.info(DLQ, { subjects_filter: ">" });
    expect(info.state.subjects?.[`entente.ingest-dlq.edge-b.${sequence}`]).toBe(1);
  });

  it("stores a batch published twice with one Nats-Msg-Id once", async () => {
    const body = toJson([point("good", 30)]);
    const first = await publish(body, "good-30");
    expect(first).toMatchObject({ accepted: 1 });
    expect(first.duplicate).toBeUndefined();
    expect(await publish(body, "good-30")).toMatchObject({
      accepted: 1,
      duplicate: true,
      seq: first.seq,
    });
    await waitFor(
      "the point",
      async () => expect(await stored("good")).toEqual([1, 2, 11, 12, 21, 30]),
      20_000,
    );
  });
});

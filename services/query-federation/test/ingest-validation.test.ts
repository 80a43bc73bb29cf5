/** What ingest refuses before a batch enters the stream, and how it says so. Pure. */
import { INGEST_LIMITS, msgpackCodec, SUBJECTS, toJson } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  crossCheck,
  encodeStoredBatch,
  federationSettingsOf,
  ingestReply,
  MAX_LISTED_REJECTIONS,
  queryFederationSchema,
  readStoredBatch,
  validateBatch,
} from "../src/index.ts";
import { headerReason } from "../src/ingest/dead-letter.ts";

const NOW = 1_800_000_000_000_000_000n;
const good = { metric: "m", timestamp: "1", value: 1 };

function reasonFor(point: unknown): string | undefined {
  return validateBatch([point], 10, NOW).rejected[0]?.reason;
}

describe("ingest validation", () => {
  it("refuses the issue's poison point, naming its index and why, and keeps the good ones", () => {
    const poison = { metric: "poison", timestamp: "9223372036854775808", value: 1 };
    const batch = validateBatch(JSON.parse(toJson([good, poison, good])), 10, NOW);
    expect(batch.points.map((p) => p.timestamp)).toEqual([1n, 1n]);
    expect(batch.rejected).toEqual([
      {
        index: 1,
        reason: expect.stringMatching(
          /^timestamp: "9223372036854775808" is past 2262-04-11T23:47:16.854775807Z, the latest a 64-bit nanosecond timestamp holds$/,
        ),
      },
    ]);
  });

  it("takes the whole 64-bit range from 1970 on, and refuses what falls outside it", () => {
    expect(reasonFor({ ...good, timestamp: "9223372036854775807" })).toBeUndefined();
    expect(reasonFor({ ...good, timestamp: 2n ** 63n - 1n })).toBeUndefined();
    expect(reasonFor({ ...good, timestamp: 2n ** 64n })).toMatch(/past 2262/);
    expect(reasonFor({ ...good, timestamp: "2262-04-12T00:00:00Z" })).toMatch(/past 2262/);
    expect(reasonFor({ ...good, timestamp: "-1" })).toMatch(/before 1970/);
    expect(reasonFor({ ...good, timestamp: 1_700_000_000_000_000_000 })).toMatch(
      /send nanoseconds as a decimal string/,
    );
    expect(reasonFor({ ...good, timestamp: "yesterday" })).toMatch(
      /"yesterday" is not nanoseconds or RFC 3339/,
    );
    expect(reasonFor({ metric: "m", value: 1 })).toMatch(/^timestamp: required/);
  });

  it("resolves relative timestamps once, when the batch is accepted", () => {
    const [point] = validateBatch([{ ...good, timestamp: "-1m" }], 10, NOW).points;
    expect(point?.timestamp).toBe(NOW - 60_000_000_000n);
  });

  it("refuses values a store cannot hold, and takes 64-bit integers from MessagePack", () => {
    const decoded = msgpackCodec.decode(
      msgpackCodec.encode([
        { ...good, value: Number.NaN },
        { ...good, value: Number.POSITIVE_INFINITY },
        { ...good, value: 5_000_000_000n },
        { ...good, value: "high" },
        { metric: "m", timestamp: "1" },
      ]),
    );
    const batch = validateBatch(decoded, 10, NOW);
    expect(batch.points.map((p) => p.value)).toEqual([5_000_000_000]);
    expect(batch.rejected.map((r) => [r.index, r.reason])).toEqual([
      [0, "value: must be a finite number"],
      [1, "value: must be a finite number"],
      [3, "value: must be a finite number"],
      [4, "value: required: a finite number"],
    ]);
  });

  it("refuses text DuckDB cannot read, oversized or too many tags, and tags that are not tags", () => {
    const manyTags = Object.fromEntries(
      Array.from({ length: INGEST_LIMITS.tags + 1 }, (_, i) => [`t${i}`, "x"]),
    );
    const cases: Array<[unknown, RegExp]> = [
      [{ ...good, metric: "a\ud800b" }, /^metric: not well-formed Unicode/],
      [{ ...good, tags: { host: "\udc00" } }, /^tags.host: not well-formed Unicode/],
      [
        { ...good, tags: { host: "x".repeat(INGEST_LIMITS.tagValueLength + 1) } },
        /^tags.host: Too big/,
      ],
      [{ ...good, tags: manyTags }, /^tags: at most 64 tags/],
      [
        { ...good, tags: { ["a".repeat(INGEST_LIMITS.tagNameLength + 1)]: "x" } },
        /malformed tag name/,
      ],
      [{ ...good, tags: { "no spaces": "x" } }, /malformed tag name "no spaces"/],
      [{ ...good, tags: { __instance__: "elsewhere" } }, /__instance__ names the instance/],
      [{ ...good, metric: "m".repeat(INGEST_LIMITS.metricLength + 1) }, /^metric: Too big/],
      [{ ...good, metric: "" }, /^metric: Too small/],
      [{ ...good, extra: 1 }, /Unrecognized key/],
      ["a string", /^point: /],
    ];
    for (const [point, reason] of cases)
      expect(reasonFor(point), toJson(point).slice(0, 80)).toMatch(reason);
    expect(
      reasonFor({ ...good, tags: { host: "a-1", "k8s.io:pod-name": "p\u0000q" } }),
    ).toBeUndefined();
  });

  it("answers a batch that is not a list of at most maxPoints with BAD_REQUEST", () => {
    expect(() => validateBatch({ metric: "m" }, 10)).toThrow(/invalid ingest batch.*array/);
    expect(() => validateBatch(undefined, 10)).toThrow(/invalid ingest batch/);
    expect(() => validateBatch([good, good, good], 2)).toThrow(/at most 2 points/);
  });

  it("reads back what it stored, and refuses a stored batch that was never validated", () => {
    const points = validateBatch([good, { ...good, tags: { host: "a" }, value: 2.5 }], 10).points;
    expect(readStoredBatch(encodeStoredBatch(points), "application/msgpack", 10)).toEqual(points);
    const poison = new TextEncoder().encode(
      toJson([good, { metric: "poison", timestamp: "9223372036854775808", value: 1 }]),
    );
    expect(() => readStoredBatch(poison, undefined, 10)).toThrow(
      /point 1: timestamp: .* past 2262/,
    );
    expect(() =>
      readStoredBatch(new TextEncoder().encode("not json"), "application/json", 10),
    ).toThrow(/not valid JSON/);
  });

  it("lists at most MAX_LISTED_REJECTIONS refused points and counts them all", () => {
    const batch = validateBatch(
      Array.from({ length: MAX_LISTED_REJECTIONS + 5 }, () => ({ metric: "m" })),
      1_000,
      NOW,
    );
    const reply = ingestReply(batch);
    expect(reply).toMatchObject({ accepted: 0, rejectedCount: MAX_LISTED_REJECTIONS + 5 });
    expect(reply.rejected).toHaveLength(MAX_LISTED_REJECTIONS);
    expect(reply.stream).toBeUndefined();
    expect(ingestReply(validateBatch([good], 1), { stream: "S", seq: 7, duplicate: true })).toEqual(
      {
        accepted: 1,
        rejected: [],
        rejectedCount: 0,
        stream: "S",
        seq: 7,
        duplicate: true,
      },
    );
  });

  it("makes a store's error fit a header: one line, bounded", () => {
    expect(headerReason("Conversion Error:\n  bad\tinput ")).toBe("Conversion Error: bad input");
    const long = headerReason(`x ${"y".repeat(10_000)}`);
    expect(long.length).toBe(500);
    expect(long.endsWith("…")).toBe(true);
  });

  it("refuses ingest subjects that overlap, so the stream never captures unvalidated batches", () => {
    const settings = federationSettingsOf(
      queryFederationSchema.parse({
        ingest: {
          streamSubjectPrefix: "entente.ingest",
          deadLetter: { subjectPrefix: "entente.ingest.dead" },
        },
      }),
      SUBJECTS,
    );
    expect(crossCheck({}, settings)).toEqual([
      expect.stringMatching(/ingest.subjectPrefix and streamSubjectPrefix overlap/),
      expect.stringMatching(/ingest.subjectPrefix and deadLetter.subjectPrefix overlap/),
      expect.stringMatching(/ingest.streamSubjectPrefix and deadLetter.subjectPrefix overlap/),
    ]);
    expect(crossCheck({}, federationSettingsOf(queryFederationSchema.parse({}), SUBJECTS))).toEqual(
      [],
    );
  });
});

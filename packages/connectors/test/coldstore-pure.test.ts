import { describe, expect, it } from "vitest";
import { RowsChecksum, rowsChecksum } from "../src/coldstore/checksum.ts";
import type { ColdColumn, ColdTableMetadata, DataFile } from "../src/coldstore/model.ts";
import { checkSpec, currentSpecId, specIdOf } from "../src/coldstore/model.ts";
import {
  bucketOf,
  MAX_SEGMENT_BYTES,
  Partitioner,
  parsePartitionPath,
  partitionPath,
} from "../src/coldstore/partition.ts";
import {
  filePartition,
  nextMetadata,
  partitionKey,
  planCompaction,
  planExpiry,
  splitCount,
} from "../src/coldstore/plan.ts";
import { fileMayMatch, rangeMayMatch } from "../src/coldstore/prune.ts";
import { compareNormal, dayOf, statFromJson, statToJson } from "../src/coldstore/values.ts";

const NS_DAY = 86_400_000_000_000n;
const ts = (iso: string) => BigInt(Date.parse(iso)) * 1_000_000n;

describe("normal-form values", () => {
  it("compares numbers across number and bigint, text by UTF-8 bytes", () => {
    expect(compareNormal(1, 2n)).toBe(-1);
    expect(compareNormal(3n, 3)).toBe(0);
    expect(compareNormal(2.5, 2n)).toBe(1);
    expect(compareNormal("a", "B")).toBe(1);
    // U+FFFD sorts below U+1F600 in code points, above it in UTF-16 units.
    expect(compareNormal("\uFFFD", "\u{1F600}")).toBe(-1);
    expect(compareNormal(false, true)).toBeLessThan(0);
    expect(compareNormal("1", 1)).toBeUndefined();
    expect(compareNormal(null, 1)).toBeUndefined();
  });

  it("keeps min/max as JSON and reads them back", () => {
    expect(statToJson(123n, "bigint")).toBe("123");
    expect(statFromJson("123", "timestamp")).toBe(123n);
    expect(statToJson(Number.NaN, "double")).toBeNull();
    expect(statFromJson(null, "text")).toBeUndefined();
    expect(statToJson(new Uint8Array([1]), "blob")).toBeNull();
  });

  it("takes the UTC day of dates and timestamps, before the epoch too", () => {
    expect(dayOf(ts("2025-03-01T23:59:59Z"))).toBe("2025-03-01");
    expect(dayOf(-1n)).toBe("1969-12-31");
    expect(dayOf("2025-03-01")).toBe("2025-03-01");
    expect(dayOf(5)).toBeUndefined();
  });
});

describe("partitions", () => {
  const columns: ColdColumn[] = [
    { name: "ts", type: "timestamp", nullable: false },
    { name: "id", type: "bigint", nullable: false },
    { name: "region", type: "text", nullable: true },
  ];

  it("maps rows to paths and back", () => {
    const spec = [
      { source: "ts", transform: "day" as const },
      { source: "id", transform: "bucket" as const, buckets: 4 },
      { source: "region", transform: "identity" as const },
    ];
    const p = new Partitioner(columns, spec);
    const row = [ts("2025-03-01T10:00:00Z"), 7n, "eu/west"];
    expect(p.path(row)).toBe("ts_day=2025-03-01/id_bucket=3/region=eu%2Fwest");
    expect(p.values(row)).toEqual({ ts_day: "2025-03-01", id_bucket: 3, region: "eu/west" });
    expect(partitionPath(spec, p.values(row))).toBe(p.path(row));
    expect(parsePartitionPath(p.path([0n, 1n, null]))).toEqual({
      ts_day: "1970-01-01",
      id_bucket: "1",
      region: null,
    });
  });

  it("buckets like sharded tables: integers modulo, text by FNV-1a", () => {
    expect(bucketOf(-1, 4)).toBe(3);
    expect(bucketOf(10n, 4)).toBe(2);
    expect(bucketOf("a", 16)).toBe(0xe40c292c % 16);
    expect(bucketOf(null, 4)).toBeNull();
  });

  it("refuses bad specs", () => {
    expect(() => checkSpec("t", columns, [{ source: "nope", transform: "identity" }])).toThrow(
      /unknown column "nope"; columns: ts, id, region/,
    );
    expect(() => checkSpec("t", columns, [{ source: "id", transform: "day" }])).toThrow(
      /date or timestamp/,
    );
    expect(() =>
      checkSpec("t", columns, [{ source: "id", transform: "bucket", buckets: 0 }]),
    ).toThrow(/buckets between/);
    expect(() => checkSpec("t", columns, [{ source: "id", transform: "hour" } as never])).toThrow(
      /unknown partition transform "hour"/,
    );
  });
});

function file(
  path: string,
  partition: DataFile["partition"],
  min: unknown,
  max: unknown,
  nulls = 0,
  bytes = 100,
): DataFile {
  return { path, partition, rowCount: 10, bytes, columns: { ts: { min, max, nulls } } };
}

describe("pruning", () => {
  const columns: ColdColumn[] = [{ name: "ts", type: "timestamp", nullable: true }];
  const spec = [{ source: "ts", transform: "day" as const }];
  const d1 = file(
    "data/ts_day=2025-03-01/a.parquet",
    { ts_day: "2025-03-01" },
    String(ts("2025-03-01T00:00:00Z")),
    String(ts("2025-03-01T12:00:00Z")),
  );
  const d2 = file(
    "data/ts_day=2025-03-02/a.parquet",
    { ts_day: "2025-03-02" },
    String(ts("2025-03-02T00:00:00Z")),
    String(ts("2025-03-02T12:00:00Z")),
  );
  const nulls = file("data/ts_day=__null__/a.parquet", { ts_day: null }, null, null, 10);

  it("skips files whose partition or range is outside the bounds", () => {
    const lo = { v: ts("2025-03-02T00:00:00Z"), inclusive: true };
    expect(fileMayMatch(d1, columns, spec, { ts: { lo } })).toBe(false);
    expect(fileMayMatch(d2, columns, spec, { ts: { lo } })).toBe(true);
    expect(fileMayMatch(nulls, columns, spec, { ts: { lo } })).toBe(false);
    // The same day, but after the file's max.
    const late = { v: ts("2025-03-01T13:00:00Z"), inclusive: true };
    expect(fileMayMatch(d1, columns, spec, { ts: { lo: late } })).toBe(false);
    // Exclusive bound equal to the max.
    const atMax = { v: ts("2025-03-01T12:00:00Z"), inclusive: false };
    expect(fileMayMatch(d1, columns, spec, { ts: { lo: atMax } })).toBe(false);
    expect(fileMayMatch(d1, columns, spec, { ts: { lo: { ...atMax, inclusive: true } } })).toBe(
      true,
    );
  });

  it("keeps files when in doubt", () => {
    expect(fileMayMatch(d1, columns, spec, { ts: { lo: { v: "junk", inclusive: true } } })).toBe(
      true,
    );
    expect(fileMayMatch(d1, columns, spec, { other: { values: [1] } })).toBe(true);
    expect(fileMayMatch(nulls, columns, spec, { ts: { values: [null] } })).toBe(true);
    expect(fileMayMatch(d1, columns, spec, {})).toBe(true);
  });

  it("matches equality sets against ranges", () => {
    expect(rangeMayMatch(1n, 5n, { values: [7, 9] })).toBe(false);
    expect(rangeMayMatch(1n, 5n, { values: [7, 3] })).toBe(true);
    expect(rangeMayMatch(undefined, 5n, { values: [0] })).toBe(true);
    expect(rangeMayMatch(1, 5, { hi: { v: 1, inclusive: false } })).toBe(false);
  });

  it("prunes identity and bucket partitions", () => {
    const cols: ColdColumn[] = [{ name: "k", type: "bigint", nullable: false }];
    const f = { path: "x", partition: { k: "5", k_bucket: 1 }, rowCount: 1, bytes: 1, columns: {} };
    expect(
      fileMayMatch(f, cols, [{ source: "k", transform: "identity" }], { k: { values: [6n] } }),
    ).toBe(false);
    expect(
      fileMayMatch(f, cols, [{ source: "k", transform: "identity" }], { k: { values: [5n] } }),
    ).toBe(true);
    const bucket = [{ source: "k", transform: "bucket" as const, buckets: 4 }];
    expect(fileMayMatch(f, cols, bucket, { k: { values: [2n] } })).toBe(false);
    expect(fileMayMatch(f, cols, bucket, { k: { values: [5n] } })).toBe(true);
    expect(fileMayMatch(f, cols, bucket, { k: { lo: { v: 100n, inclusive: true } } })).toBe(true);
  });
});

const base: ColdTableMetadata = {
  formatVersion: 1,
  tableUuid: "u",
  location: "/x",
  version: 1,
  lastUpdatedMs: 0,
  schema: { columns: [{ name: "ts", type: "timestamp", nullable: false }] },
  partitionSpec: { fields: [] },
  properties: {},
  snapshots: [],
};

describe("planning", () => {
  it("builds the next snapshot with a summary", () => {
    const a = file("data/a.parquet", {}, null, null);
    const m1 = nextMetadata(base, "append", { files: [a], properties: { w: "1" } }, 5);
    expect(m1).toMatchObject({ version: 2, currentSnapshotId: 1, properties: { w: "1" } });
    expect(m1.snapshots[0]?.summary).toMatchObject({ "added-files": "1", "total-rows": "10" });
    const m2 = nextMetadata(
      m1,
      "replace",
      { files: [], partitionSpec: [{ source: "ts", transform: "day" }] },
      6,
    );
    expect(m2).toMatchObject({ version: 3, currentSnapshotId: 2, properties: { w: "1" } });
    expect(m2.snapshots[1]).toMatchObject({ parentSnapshotId: 1, operation: "replace" });
    expect(m2.snapshots[1]?.summary["removed-files"]).toBe("1");
    expect(m2.partitionSpec.fields).toHaveLength(1);
  });

  it("groups small files per partition, leaving big ones alone", () => {
    const f = (p: string, bytes: number) => file(p, {}, null, null, 0, bytes);
    const groups = planCompaction(
      [
        f("data/d=1/a.parquet", 40),
        f("data/d=1/b.parquet", 40),
        f("data/d=1/c.parquet", 40),
        f("data/d=1/big.parquet", 500),
        f("data/d=2/a.parquet", 10),
      ],
      100,
    );
    expect(groups.map((g) => g.map((x) => x.path))).toEqual([
      ["data/d=1/a.parquet", "data/d=1/b.parquet"],
    ]);
    expect(filePartition({ path: "data/d=1/e=2/a.parquet" })).toBe("d=1/e=2");
    expect(filePartition({ path: "data/a.parquet" })).toBe("");
    expect(splitCount(1000, 350, 100)).toBe(4);
    expect(splitCount(1, 350, 100)).toBe(1);
  });

  it("expires old snapshots but never files a kept one refers to", () => {
    const a = file("data/a.parquet", {}, null, null);
    const b = file("data/b.parquet", {}, null, null);
    const c = file("data/c.parquet", {}, null, null);
    let m = nextMetadata(base, "append", { files: [a] }, 1000);
    m = nextMetadata(m, "append", { files: [a, b] }, 2000);
    m = nextMetadata(m, "replace", { files: [c] }, 3000);
    const plan = planExpiry(m, 10_000, 1000, 1);
    expect(plan.expired.map((s) => s.snapshotId)).toEqual([1, 2]);
    expect(plan.deletable).toEqual(["data/a.parquet", "data/b.parquet"]);
    const keepTwo = planExpiry(m, 10_000, 1000, 2);
    expect(keepTwo.keep.map((s) => s.snapshotId)).toEqual([2, 3]);
    expect(keepTwo.deletable).toEqual([]);
    expect(planExpiry(m, 2500, 1000, 1).expired.map((s) => s.snapshotId)).toEqual([1]);
  });
});

describe("row checksums", () => {
  it("does not depend on order or batching", () => {
    const rows = [
      [1, "a", null, true],
      [2n, "b", new Uint8Array([1, 2]), false],
      [3.5, "", { y: 1, x: [1, 2] }, null],
    ];
    const whole = rowsChecksum(rows);
    expect(whole.rowCount).toBe(3);
    expect(whole.checksum).toMatch(/^[0-9a-f]{16}$/);
    const parts = new RowsChecksum()
      .add([rows[2] as never])
      .add([rows[0] as never, rows[1] as never]);
    expect(parts.result()).toEqual(whole);
  });

  it("treats integers alike as number or bigint, JSON key order aside", () => {
    expect(rowsChecksum([[5]]).checksum).toBe(rowsChecksum([[5n]]).checksum);
    expect(rowsChecksum([[{ a: 1, b: 2 }]]).checksum).toBe(
      rowsChecksum([[{ b: 2, a: 1 }]]).checksum,
    );
    expect(rowsChecksum([["ab", "c"]]).checksum).not.toBe(rowsChecksum([["a", "bc"]]).checksum);
    expect(rowsChecksum([["5"]]).checksum).not.toBe(rowsChecksum([[5]]).checksum);
    expect(rowsChecksum([[null]]).checksum).not.toBe(rowsChecksum([[""]]).checksum);
    // Duplicated rows count twice.
    expect(rowsChecksum([[1], [1]]).checksum).not.toBe(rowsChecksum([[1]]).checksum);
  });

  it("hashes a hot source's decimal text as the double the files keep, given the types", () => {
    expect(rowsChecksum([["12.50"]], ["decimal"]).checksum).toBe(rowsChecksum([[12.5]]).checksum);
    expect(rowsChecksum([["12.50"]], ["text"]).checksum).not.toBe(rowsChecksum([[12.5]]).checksum);
  });

  it("partitions a decimal's text as the double it is stored as", () => {
    const columns: ColdColumn[] = [{ name: "price", type: "decimal", nullable: true }];
    for (const field of [
      { source: "price", transform: "bucket" as const, buckets: 16 },
      { source: "price", transform: "identity" as const },
    ]) {
      const p = new Partitioner(columns, [field]);
      expect(p.path(["12.50"])).toBe(p.path([12.5]));
      expect(p.values(["5.00"])).toEqual(p.values([5]));
    }
  });

  it("is FNV-1a 64 of the canonical encoding", () => {
    // One row of zero columns: FNV-1a 64 of four zero bytes (its length prefix).
    let h = 0xcbf29ce484222325n;
    for (let i = 0; i < 4; i++) h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    expect(rowsChecksum([[]]).checksum).toBe(h.toString(16).padStart(16, "0"));
    expect(NS_DAY).toBe(86_400n * 1_000_000_000n);
  });
});

describe("partition specs and long values", () => {
  it("names a value too long for a directory by its hash, keeping the value itself", () => {
    const columns: ColdColumn[] = [{ name: "s", type: "text", nullable: true }];
    const spec = [{ source: "s", transform: "identity" as const }];
    const p = new Partitioner(columns, spec);
    const long = "好".repeat(40);
    expect(p.path([long])).toMatch(/^s=@h_[0-9a-f]{32}$/);
    expect(p.path([long])).toBe(p.path([long]));
    expect(p.path([`${long}x`])).not.toBe(p.path([long]));
    expect(p.values([long])).toEqual({ s: long });
    expect(partitionPath(spec, { s: long })).toBe(p.path([long]));
    // Up to the limit, the value is spelled out.
    const fits = "a".repeat(MAX_SEGMENT_BYTES - 2);
    expect(p.path([fits])).toBe(`s=${fits}`);
    expect(p.path([`${fits}a`])).toMatch(/^s=@h_/);
    // No spelled-out value shares a directory with a hashed one, nor with null.
    expect(p.path([p.path([long]).slice(2)])).toMatch(/^s=%40h_/);
    expect(p.path(["__null__"])).toMatch(/^s=@h_/);
    expect(p.path([null])).toBe("s=__null__");
    // Pruning reads the recorded value, never the directory name.
    const f: DataFile = {
      path: `data/${p.path([long])}/a.parquet`,
      partition: p.values([long]),
      rowCount: 1,
      bytes: 1,
      columns: {},
    };
    expect(fileMayMatch(f, columns, spec, { s: { values: [long] } })).toBe(true);
    expect(fileMayMatch(f, columns, spec, { s: { values: ["other"] } })).toBe(false);
  });

  it("counts specs up with each repartition; metadata without ids is spec 0", () => {
    expect(currentSpecId(base)).toBe(0);
    expect(specIdOf({})).toBe(0);
    const m1 = nextMetadata(base, "append", { files: [] }, 1);
    expect(currentSpecId(m1)).toBe(0);
    const m2 = nextMetadata(
      m1,
      "replace",
      { files: [], partitionSpec: [{ source: "ts", transform: "day" }] },
      2,
    );
    expect(m2.partitionSpec).toEqual({ specId: 1, fields: [{ source: "ts", transform: "day" }] });
    const m3 = nextMetadata(m2, "replace", { files: [], partitionSpec: [] }, 3);
    expect(currentSpecId(m3)).toBe(2);
    expect(currentSpecId(nextMetadata(m3, "append", { files: [] }, 4))).toBe(2);
  });

  it("trusts a file's partition values only under the spec it was written with", () => {
    const cols: ColdColumn[] = [{ name: "k", type: "bigint", nullable: false }];
    const bucket16 = [{ source: "k", transform: "bucket" as const, buckets: 16 }];
    // 11 written under bucket 8 (spec 0): id_bucket 3; under bucket 16 (spec 1) it would be 11.
    const old: DataFile = {
      path: "data/k_bucket=3/a.parquet",
      partition: { k_bucket: 3 },
      rowCount: 1,
      bytes: 1,
      columns: { k: { min: "11", max: "11", nulls: 0 } },
    };
    expect(fileMayMatch(old, cols, bucket16, { k: { values: [11n] } }, 0)).toBe(false);
    expect(fileMayMatch(old, cols, bucket16, { k: { values: [11n] } }, 1)).toBe(true);
    expect(fileMayMatch(old, cols, bucket16, { k: { values: [12n] } }, 1)).toBe(false);
    expect(fileMayMatch({ ...old, specId: 1 }, cols, bucket16, { k: { values: [11n] } }, 1)).toBe(
      false,
    );
  });

  it("compacts files of one spec and one set of values together only", () => {
    const f = (path: string, partition: DataFile["partition"], specId?: number): DataFile => ({
      ...file(path, partition, null, null, 0, 10),
      ...(specId !== undefined ? { specId } : {}),
    });
    const groups = planCompaction(
      [
        f("data/k_bucket=3/a.parquet", { k_bucket: 3 }),
        f("data/k_bucket=3/b.parquet", { k_bucket: 3 }, 1),
        f("data/k_bucket=3/c.parquet", { k_bucket: 3 }, 1),
        f("data/s=h_1/a.parquet", { s: "x".repeat(200) }),
        f("data/s=h_1/b.parquet", { s: "y".repeat(200) }),
      ],
      100,
    );
    expect(groups.map((g) => g.map((x) => x.path))).toEqual([
      ["data/k_bucket=3/b.parquet", "data/k_bucket=3/c.parquet"],
    ]);
    expect(partitionKey(f("data/a.parquet", {}))).toBe(partitionKey(f("data/b.parquet", {}, 0)));
  });
});

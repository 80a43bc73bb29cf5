/**
 * The cold store under the races and limits an adversarial review found: expiry against staged
 * files, maintenance against the connection pool, repartitions against moves, partition counts,
 * long partition values, and per-statement answers of the connector.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ColdColumn,
  ColdStore,
  ColdstoreConnector,
  type DataFile,
  DuckdbConnector,
  type Row,
} from "../src/index.ts";

async function* batches(rows: Row[], size = 500): AsyncIterable<Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

const current = (m: Awaited<ReturnType<ColdStore["require"]>>): DataFile[] =>
  m.snapshots.find((s) => s.snapshotId === m.currentSnapshotId)?.files ?? [];

async function append(store: ColdStore, table: string, rows: Row[], prefix: string) {
  const files = await store.writeFiles(table, batches(rows), { prefix });
  await store.commit(table, "append", (m) => ({ files: [...current(m), ...files] }));
  return files;
}

async function all(store: ColdStore, table: string): Promise<Row[]> {
  const result = await store.readFiles(table, current(await store.require(table)));
  const rows: Row[] = [];
  for await (const batch of result.batches) rows.push(...batch);
  return rows;
}

const idColumns: ColdColumn[] = [
  { name: "id", type: "integer", nullable: false },
  { name: "s", type: "text", nullable: true },
];

let dir: string;
let store: ColdStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "coldstore-review-"));
  store = await ColdStore.open({ path: dir });
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("expiry against files written and not yet committed", () => {
  it("keeps a staged file through olderThanMs: 0 (orphans must be a day old)", async () => {
    await store.create("staged", idColumns, []);
    await append(store, "staged", [[1, "a"]], "a");
    const staged = await store.writeFiles("staged", batches([[2, "b"]]), { prefix: "b" });
    expect(await store.expireSnapshots("staged", { olderThanMs: 0 })).toEqual({
      expiredSnapshots: 0,
      deletedFiles: 0,
    });
    expect(existsSync(join(dir, "main", "staged", staged[0]?.path ?? ""))).toBe(true);
    await store.commit("staged", "append", (m) => ({ files: [...current(m), ...staged] }));
    expect((await all(store, "staged")).map((r) => r[0]).sort()).toEqual([1, 2]);
    // Older than the floor, an uncommitted file does go.
    const old = await store.writeFiles("staged", batches([[3, "c"]]), { prefix: "c" });
    const oldPath = join(dir, "main", "staged", old[0]?.path ?? "");
    await utimes(oldPath, new Date(0), new Date(0));
    expect((await store.expireSnapshots("staged", { olderThanMs: 0 })).deletedFiles).toBe(1);
    expect(existsSync(oldPath)).toBe(false);
  });

  it("refuses, retryably and before writing metadata, a commit naming a file that is gone", async () => {
    const eager = await ColdStore.open({ path: dir, orphanMinAgeMs: 0 });
    try {
      await eager.create("gone", idColumns, []);
      await append(eager, "gone", [[1, "a"]], "a");
      const staged = await eager.writeFiles("gone", batches([[2, "b"]]), { prefix: "b" });
      await new Promise((r) => setTimeout(r, 20));
      expect((await eager.expireSnapshots("gone", { olderThanMs: 0 })).deletedFiles).toBe(1);
      const before = await eager.require("gone");
      const error = await eager
        .commit("gone", "append", (m) => ({ files: [...current(m), ...staged] }))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: "UNAVAILABLE",
        retryable: true,
        message: expect.stringMatching(/gone: data\/b-.*is not there to be committed/),
      });
      expect(String((error as Error).message)).not.toContain(dir);
      expect((await eager.require("gone")).version).toBe(before.version);
      expect(await all(eager, "gone")).toEqual([[1, "a"]]);
    } finally {
      await eager.close();
    }
  });

  it("validates orphanMinAgeMs and maxPartitions", async () => {
    await expect(ColdStore.open({ path: dir, orphanMinAgeMs: -1 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/orphanMinAgeMs/),
    });
    await expect(ColdStore.open({ path: dir, maxPartitions: 0 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: expect.stringMatching(/maxPartitions/),
    });
  });
});

describe("maintenance and the connection pool", () => {
  it("finishes six concurrent repartitions and a reader", async () => {
    await store.create(
      "pool",
      [
        { name: "a", type: "integer", nullable: false },
        { name: "b", type: "integer", nullable: false },
      ],
      [],
    );
    await append(
      store,
      "pool",
      Array.from({ length: 2000 }, (_, i) => [i, i % 7]),
      "a",
    );
    const outcomes = Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        store.repartition("pool", [{ source: "b", transform: "bucket", buckets: 3 + i }]).then(
          () => "done",
          (e: { code?: string }) => e.code,
        ),
      ),
    );
    const reader = (async () => {
      const result = await store.readFiles(
        "pool",
        current(await store.require("pool")),
        AbortSignal.timeout(20_000),
      );
      let n = 0;
      for await (const batch of result.batches) n += batch.length;
      return n;
    })();
    const results = await outcomes;
    expect(await reader).toBe(2000);
    // One wins; the others lost the race to it and say so, retryably.
    expect(results.filter((r) => r === "done").length).toBeGreaterThanOrEqual(1);
    for (const r of results) expect(["done", "UNAVAILABLE"]).toContain(r);
    expect((await all(store, "pool")).length).toBe(2000);
    // The store still answers afterwards: no connection was left held.
    for (let i = 0; i < 6; i++) expect((await all(store, "pool")).length).toBe(2000);
  }, 60_000);

  it("leaves the queue for a connection when aborted", async () => {
    const duck = await DuckdbConnector.open("pool-test", { kind: "duckdb" });
    try {
      // Four streams held open take every connection of the pool.
      const held = await Promise.all(
        Array.from({ length: 4 }, () =>
          duck.query({ sql: "SELECT * FROM range(100000)", params: [] }, { batchRows: 10 }),
        ),
      );
      const controller = new AbortController();
      const waiting = duck.query({ sql: "SELECT 1", params: [] }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      const started = Date.now();
      await expect(waiting).rejects.toMatchObject({ code: "CANCELLED" });
      expect(Date.now() - started).toBeLessThan(5_000);
      // Giving the connections back serves the next statement, not the one that left.
      for (const h of held) await h.batches[Symbol.asyncIterator]().return?.();
      const next = await duck.query({ sql: "SELECT 42", params: [] });
      const rows: Row[] = [];
      for await (const batch of next.batches) rows.push(...batch);
      expect(rows).toEqual([[42]]);
    } finally {
      await duck.close();
    }
  });
});

describe("partition specs and repartitions racing writes", () => {
  it("numbers specs and stamps files with theirs", async () => {
    await store.create("specs", idColumns, [{ source: "id", transform: "bucket", buckets: 8 }]);
    expect((await store.require("specs")).partitionSpec.specId).toBe(0);
    const first = await append(
      store,
      "specs",
      [
        [1, "a"],
        [2, "b"],
      ],
      "a",
    );
    expect(first.map((f) => f.specId)).toEqual([0, 0]);
    await store.repartition("specs", [{ source: "id", transform: "bucket", buckets: 16 }]);
    const after = await store.require("specs");
    expect(after.partitionSpec).toEqual({
      specId: 1,
      fields: [{ source: "id", transform: "bucket", buckets: 16 }],
    });
    for (const f of current(after)) expect(f.specId).toBe(1);
  });

  it("refuses an append written under the spec a repartition replaced", async () => {
    await store.create("race", idColumns, [{ source: "id", transform: "bucket", buckets: 8 }]);
    await append(
      store,
      "race",
      [
        [1, "a"],
        [2, "b"],
      ],
      "a",
    );
    const staged = await store.writeFiles("race", batches([[11, "x"]]), { prefix: "move" });
    await store.repartition("race", [{ source: "id", transform: "bucket", buckets: 16 }]);
    const version = (await store.require("race")).version;
    await expect(
      store.commit("race", "append", (m) => ({ files: [...current(m), ...staged] })),
    ).rejects.toMatchObject({
      code: "UNAVAILABLE",
      retryable: true,
      message: expect.stringMatching(/repartitioned \(partition spec 1\).*spec 0/),
    });
    expect((await store.require("race")).version).toBe(version);
    // Written again under the current spec, it goes in and is found.
    const again = await store.writeFiles("race", batches([[11, "x"]]), { prefix: "move2" });
    const m = await store.commit("race", "append", (c) => ({ files: [...current(c), ...again] }));
    expect(store.prune(m, { id: { values: [11] } }).map((f) => f.path)).toEqual(
      again.map((f) => f.path),
    );
  });

  it("prunes a file of an earlier spec by its min/max only", async () => {
    await store.create("mixed", idColumns, [{ source: "id", transform: "bucket", buckets: 8 }]);
    await append(store, "mixed", [[1, "a"]], "a");
    const staged = await store.writeFiles("mixed", batches([[11, "x"]]), { prefix: "late" });
    await store.repartition("mixed", [{ source: "id", transform: "bucket", buckets: 16 }]);
    // A replace (as a move's late-rows commit) may still bring one in.
    const m = await store.commit("mixed", "replace", (c) => ({
      files: [...current(c), ...staged],
    }));
    // Under bucket 16, 11 is bucket 11; the file says id_bucket 3 (of bucket 8): not to be trusted.
    expect(staged[0]?.partition).toEqual({ id_bucket: 3 });
    expect(store.prune(m, { id: { values: [11] } }).map((f) => f.path)).toEqual([staged[0]?.path]);
    expect(store.prune(m, { id: { values: [12] } })).toEqual([]);
    // Compaction leaves it for a repartition instead of merging it under the wrong values.
    const compacted = await store.compact("mixed");
    expect(compacted.filesAfter).toBe(compacted.filesBefore);
  });
});

describe("partition limits and long values", () => {
  it("refuses writes, repartitions and commits beyond maxPartitions", async () => {
    const capped = await ColdStore.open({ path: dir, maxPartitions: 3 });
    try {
      await capped.create("capped", idColumns, [{ source: "id", transform: "identity" }]);
      await expect(
        capped.writeFiles(
          "capped",
          batches([
            [1, "a"],
            [2, "b"],
            [3, "c"],
            [4, "d"],
          ]),
          {
            prefix: "a",
          },
        ),
      ).rejects.toMatchObject({
        code: "BAD_REQUEST",
        message: expect.stringMatching(/capped: .*more than 3 partitions \(maxPartitions\)/),
      });
      await append(
        capped,
        "capped",
        [
          [1, "a"],
          [2, "b"],
        ],
        "b",
      );
      const more = await capped.writeFiles(
        "capped",
        batches([
          [3, "c"],
          [4, "d"],
        ]),
        {
          prefix: "c",
        },
      );
      await expect(
        capped.commit("capped", "append", (m) => ({ files: [...current(m), ...more] })),
      ).rejects.toMatchObject({
        code: "BAD_REQUEST",
        message: expect.stringMatching(/4 partitions, more than 3 \(maxPartitions\)/),
      });
      await append(capped, "capped", [[3, "c"]], "d");
      await expect(
        capped.repartition("capped", [{ source: "id", transform: "bucket", buckets: 4 }]),
      ).resolves.toMatchObject({ rows: 3 });
      await append(capped, "capped", [[5, "d"]], "e");
      await expect(
        capped.repartition("capped", [{ source: "s", transform: "identity" }]),
      ).rejects.toMatchObject({ code: "BAD_REQUEST" });
      expect((await all(capped, "capped")).length).toBe(4);
    } finally {
      await capped.close();
    }
  });

  it("names long identity values' directories by a hash and reads them back whole", async () => {
    const long = "好".repeat(40);
    const odd = "a b/c%d=e";
    await store.create("ident", idColumns, []);
    await append(
      store,
      "ident",
      [
        [1, long],
        [2, "ok"],
        [3, odd],
        [4, null],
        [5, "__null__"],
      ],
      "a",
    );
    await store.repartition("ident", [{ source: "s", transform: "identity" }]);
    const m = await store.require("ident");
    const files = current(m);
    const longFile = files.find((f) => f.partition.s === long);
    expect(longFile?.path).toMatch(/^data\/s=@h_[0-9a-f]{32}\//);
    for (const f of files) expect(f.path.split("/")[1]?.length).toBeLessThanOrEqual(100);
    // Values come from the files, not from the directory names.
    expect((await all(store, "ident")).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [1, long],
      [2, "ok"],
      [3, odd],
      [4, null],
      [5, "__null__"],
    ]);
    expect(longFile?.columns.s).toMatchObject({ min: long, max: long });
    // Pruning uses the recorded value.
    expect(store.prune(m, { s: { values: [long] } })).toEqual([longFile]);
    expect(store.prune(m, { s: { values: [odd] } }).map((f) => f.partition.s)).toEqual([odd]);
    // null and the text "__null__" have their own directories, and files.
    const nullFile = files.find((f) => f.partition.s === null);
    const textFile = files.find((f) => f.partition.s === "__null__");
    expect(nullFile?.path.split("/")[1]).toBe("s=__null__");
    expect(textFile?.path.split("/")[1]).toMatch(/^s=@h_/);
    expect(store.prune(m, { s: { values: ["__null__"] } }).map((f) => f.partition.s)).toEqual([
      "__null__",
    ]);
    await store.compact("ident");
    expect((await all(store, "ident")).length).toBe(5);
  });

  it("reports fs and DuckDB failures by table and relative path", async () => {
    await store.create("broken", idColumns, []);
    const [file] = await append(store, "broken", [[1, "a"]], "a");
    await rm(join(dir, "main", "broken", file?.path ?? ""));
    const error = await all(store, "broken").catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain(dir);
    expect((error as Error).message).toContain("main/broken/data/a-");
    const connector = await ColdstoreConnector.open("cold", { kind: "coldstore", path: dir });
    try {
      const failed = await connector
        .query({ sql: `SELECT * FROM "main"."broken"`, params: [] })
        .then(async (r) => {
          for await (const _ of r.batches);
        })
        .catch((e: unknown) => e as Error);
      expect(failed).toBeInstanceOf(Error);
      expect((failed as Error).message).not.toContain(dir);
    } finally {
      await connector.close();
    }
  });
});

describe("the connector's answers are per statement", () => {
  it("types a column decimal only when every table read has it as a decimal", async () => {
    await store.create("dec_a", [{ name: "amount", type: "decimal", nullable: true }], []);
    await store.create("dec_b", [{ name: "amount", type: "double", nullable: true }], []);
    await append(store, "dec_a", [[1.5]], "a");
    await append(store, "dec_b", [[2.5]], "b");
    const connector = await ColdstoreConnector.open("cold", { kind: "coldstore", path: dir });
    try {
      const typeOf = async (sql: string) => {
        const result = await connector.query({ sql, params: [] });
        for await (const _ of result.batches);
        return result.columns[0]?.type;
      };
      expect(await typeOf(`SELECT "amount" FROM "main"."dec_a"`)).toBe("decimal");
      expect(await typeOf(`SELECT "amount" FROM "main"."dec_b"`)).toBe("double");
      expect(
        await typeOf(
          `SELECT "amount" FROM "main"."dec_a" UNION ALL SELECT "amount" FROM "main"."dec_b"`,
        ),
      ).toBe("double");
      // What each statement reads comes back with it, not through shared state.
      const [a, b] = await Promise.all([
        connector.rewrite({ sql: `SELECT * FROM "main"."dec_a"`, params: [] }),
        connector.rewrite({ sql: `SELECT * FROM "main"."dec_b"`, params: [] }),
      ]);
      expect(Object.keys(a.read)).toEqual(["dec_a"]);
      expect(Object.keys(b.read)).toEqual(["dec_b"]);
    } finally {
      await connector.close();
    }
  });
});

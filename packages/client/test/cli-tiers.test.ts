/**
 * `entente tiers …`, `entente tables`, `entente table-stats` and `entente materialize`: their
 * arguments (pure), and the commands run in this process against a real `entente serve
 * sql-join` process serving a lifecycle tiered `events` table (hot in a DuckDB file, cold in a
 * cold store directory), printed as tables and as `--format json`.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type {
  CatalogTablesReply,
  MaterializedInfo,
  MaterializedListReply,
  TableStatsReply,
  TiersMoveReply,
  TiersStatusReply,
} from "@entente/protocol";
import {
  type ManagedProcess,
  type NatsServer,
  runCommand,
  startNatsServer,
  startProcess,
} from "@entente/testkit";
import { InvalidArgumentError } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../src/cli/main.ts";
import { partitionField } from "../src/cli/tiers.ts";

const ROOT = resolve(import.meta.dirname, "../../..");
const BIN = join(ROOT, "packages/server/src/bin.ts");
/** One event an hour back from the start of this hour: about 83 days. */
const EVENTS = 2000;

describe("entente tiers repartition's fields", () => {
  it("reads day:<column>, identity:<column> and bucket:<n>:<column>", () => {
    expect(partitionField("day:ts")).toEqual({ column: "ts", transform: "day" });
    expect(partitionField("identity:region")).toEqual({ column: "region", transform: "identity" });
    expect(partitionField("bucket:8:id")).toEqual({
      column: "id",
      transform: "bucket",
      buckets: 8,
    });
    expect(partitionField("bucket:1:user_id")).toEqual({
      column: "user_id",
      transform: "bucket",
      buckets: 1,
    });
  });

  it("refuses anything else, saying what it expected", () => {
    for (const bad of [
      "",
      "ts",
      "day",
      "day:",
      "day:ts:x",
      "identity:",
      "identity:a:b",
      "bucket:8",
      "bucket::id",
      "bucket:0:id",
      "bucket:-2:id",
      "bucket:1.5:id",
      "bucket:x:id",
      "bucket:8:",
      "hour:ts",
      "DAY:ts",
    ]) {
      expect(() => partitionField(bad), bad).toThrow(InvalidArgumentError);
      expect(() => partitionField(bad), bad).toThrow(
        `expected day:<column>, identity:<column> or bucket:<n>:<column>, got ${JSON.stringify(bad)}`,
      );
    }
  });
});

/** The command line run in this process against `configFile`; what it wrote to each stream. */
async function runCli(configFile: string, ...args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    const program = buildProgram().exitOverride();
    for (const command of program.commands) command.exitOverride();
    await program.parseAsync(["node", "entente", "-c", configFile, ...args]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { stdout: stdout.join(""), stderr: stderr.join("") };
}

describe("entente tiers, tables, table-stats and materialize against a sql-join worker", () => {
  let nats: NatsServer;
  let dir: string;
  let worker: ManagedProcess;
  let cliConfig: string;
  const cli = (...args: string[]) => runCli(cliConfig, ...args);
  const json = async <T>(...args: string[]) =>
    JSON.parse((await cli(...args, "--format", "json")).stdout) as T;

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "entente-cli-tiers-"));
    const hotPath = join(dir, "hot.duckdb");
    // The hot table, written by DuckDB from sql-join's own dependencies (the client has none).
    await runCommand(
      process.execPath,
      [
        "--conditions=@entente/source",
        "--input-type=module",
        "-e",
        `const { createConnector } = await import("@entente/connectors");
         const c = await createConnector("setup", { kind: "duckdb", path: process.env.HOT_PATH });
         await c.execute({ sql: \`CREATE TABLE events AS
           SELECT CAST(i AS INTEGER) AS id,
                  ['click', 'view', 'buy'][1 + CAST(i % 3 AS INTEGER)] AS kind,
                  date_trunc('hour', CAST(now() AS TIMESTAMP)) - INTERVAL (i) HOUR AS ts
             FROM range(0, ${EVENTS}) t(i)\`, params: [] });
         await c.close();`,
      ],
      { cwd: join(ROOT, "services/sql-join"), env: { ...process.env, HOT_PATH: hotPath } },
    );
    const workerConfig = join(dir, "worker.yaml");
    await writeFile(
      workerConfig,
      `nats: { servers: ["${nats.url}"] }
log: { level: info }
sources:
  hot: { kind: duckdb, path: "${hotPath}" }
  archive: { kind: coldstore, path: "${join(dir, "cold")}" }
logicalTables:
  events:
    tiers:
      column: ts
      hot: hot.main.events
      cold: archive.main.events
      lifecycle: { hotRetention: "30 days", coldRetention: "730 days", every: "off", graceMs: 0 }
materialize: { source: archive }
`,
    );
    worker = await startProcess({
      name: "entente serve sql-join",
      command: process.execPath,
      args: ["--conditions=@entente/source", BIN, "-c", workerConfig, "serve", "sql-join"],
      cwd: ROOT,
      readyLine: /"msg":"service started"/,
      timeoutMs: 60_000,
    });
    cliConfig = join(dir, "cli.yaml");
    await writeFile(cliConfig, `nats: { servers: ["${nats.url}"] }\nlog: { level: warn }\n`);
  }, 120_000);

  afterAll(async () => {
    await worker?.stop("SIGTERM", 30_000);
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("tiers status: the table before any move, as a table and as JSON", async () => {
    const { stdout } = await cli("tiers", "status");
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^table\s+column\s+watermark\s+hot\s+cold\s+retention\s+next run$/);
    expect(lines[2]).toMatch(
      /^events\s+ts\s+\(none yet\)\s+hot\.main\.events\s+archive\.main\.events\s+30 days hot, 730 days cold\s+on demand$/,
    );
    const reply = await json<TiersStatusReply>("tiers", "status", "events");
    expect(reply.tables).toEqual([
      expect.objectContaining({
        table: "events",
        column: "ts",
        hot: "hot.main.events",
        cold: "archive.main.events",
        watermark: null,
      }),
    ]);
  });

  it("tiers move: moves and prints what it did", async () => {
    const { stdout } = await cli("tiers", "move", "events");
    // A backlog longer than one move's days is moved by several; the last one is printed.
    expect(stdout).toMatch(
      /^events: \S+ done: \d{4}-\d\d-\d\dT00:00:00\.000Z → \d{4}-\d\d-\d\dT00:00:00\.000Z; (\d+)\/\1 copied, \1 verified, \1 deleted, \d+ rows\n$/,
    );
    const again = await json<TiersMoveReply>("tiers", "move", "events");
    expect(again.table).toBe("events");
    expect(again.move.state).toBe("done");
  });

  it("tiers status and retention: the watermark and the last move", async () => {
    const reply = await json<TiersStatusReply>("tiers", "status");
    const watermark = reply.tables[0]?.watermark;
    expect(watermark).toEqual(expect.any(String));
    expect(reply.tables[0]?.last?.state).toBe("done");
    const { stdout } = await cli("tiers", "status");
    expect(stdout).toMatch(
      new RegExp(`^events\\s+ts\\s+${watermark}\\s+hot\\.main\\.events\\s`, "m"),
    );
    expect(stdout).toMatch(/^events last: \S+ done: /m);
    const retention = await cli("tiers", "retention", "events");
    expect(retention.stdout.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^table\s+hot\s+cold\s+watermark$/),
      expect.stringMatching(/^-+/),
      expect.stringMatching(new RegExp(`^events\\s+30 days\\s+730 days\\s+${watermark}$`)),
    ]);
  });

  it("tables: every table with its kind, rows and columns", async () => {
    const { stdout } = await cli("tables");
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^table\s+kind\s+rows\s+columns$/);
    expect(stdout).toMatch(
      /^archive\.main\.events\s+cold\s+\d+\s+id integer, kind text, ts timestamp$/m,
    );
    expect(stdout).toMatch(/^events\s+tiered\s+.*id integer, kind text, ts timestamp$/m);
    expect(stdout).toMatch(/^hot\.main\.events\s+table\s/m);
    const reply = await json<CatalogTablesReply>("tables");
    expect(reply.tables.map((t) => [t.name, t.kind])).toEqual([
      ["archive.main.events", "cold"],
      ["events", "tiered"],
      ["hot.main.events", "table"],
    ]);
  });

  it("table-stats events: the whole and each tier", async () => {
    const reply = await json<TableStatsReply>("table-stats", "events");
    expect(reply).toMatchObject({ table: "events", kind: "tiered", rowCount: EVENTS });
    expect(reply.parts?.map((p) => p.label)).toEqual(["hot", "cold"]);
    const [hot, cold] = reply.parts ?? [];
    expect((hot?.rowCount ?? 0) + (cold?.rowCount ?? 0)).toBe(EVENTS);
    expect(reply.columns[0]).toMatchObject({ name: "id", min: 0, max: EVENTS - 1, nulls: 0 });

    const { stdout } = await cli("table-stats", "events");
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toBe(`events (tiered): ${EVENTS} rows`);
    expect(lines[1]).toMatch(/^column\s+type\s+min\s+max\s+nulls$/);
    expect(stdout).toMatch(new RegExp(`^id\\s+integer\\s+0\\s+${EVENTS - 1}\\s+0$`, "m"));
    expect(stdout).toContain(`hot: hot.main.events, ${hot?.rowCount} rows`);
    expect(stdout).toMatch(
      new RegExp(
        `^cold: archive\\.main\\.events, ${cold?.rowCount} rows, ${cold?.files} files, ${cold?.bytes} bytes, snapshot \\d+$`,
        "m",
      ),
    );
  });

  it("tiers repartition, compact and expire-snapshots keep every row", async () => {
    const repartitioned = await cli("tiers", "repartition", "events", "day:ts", "bucket:2:id");
    expect(repartitioned.stdout).toMatch(/^events: \d+ files → \d+, \d+ rows, snapshot \d+\n$/);
    const compacted = await cli("tiers", "compact", "events", "--target-bytes", "1048576");
    expect(compacted.stdout).toMatch(/^events: \d+ files → \d+, \d+ rows/);
    const expired = await json<{ table: string; expiredSnapshots: number }>(
      "tiers",
      "expire-snapshots",
      "events",
      "--older-than-ms",
      "1",
      "--retain-last",
      "1",
    );
    expect(expired.table).toBe("events");
    const stats = await json<TableStatsReply>("table-stats", "events");
    expect(stats.rowCount).toBe(EVENTS);
  });

  it("refuses a bad repartition field before sending anything", async () => {
    await expect(cli("tiers", "repartition", "events", "bucket:0:id")).rejects.toThrow(
      /expected day:<column>, identity:<column> or bucket:<n>:<column>, got "bucket:0:id"/,
    );
  });

  it("materialize: stores a statement, lists it, refreshes it", async () => {
    const sql = "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind";
    const info = await json<MaterializedInfo>("materialize", sql, "--ttl", "600000");
    expect(info).toMatchObject({ rows: 3, fresh: true, sql });
    const listed = await json<MaterializedListReply>("materialize", "--list");
    expect(listed.materialized.map((m) => m.id)).toEqual([info.id]);
    const { stdout } = await cli("materialize", "--list");
    expect(stdout).toMatch(/^id\s+rows\s+fresh\s+expires\s+statement$/m);
    expect(stdout).toMatch(new RegExp(`^${info.id}\\s+3\\s+yes\\s+\\S+\\s+SELECT kind`, "m"));
    const refreshed = await json<MaterializedInfo>("materialize", "--refresh", info.id);
    expect(refreshed).toMatchObject({ id: info.id, rows: 3, fresh: true });
    await expect(cli("materialize", sql)).rejects.toThrow(/needs a statement and --ttl/);
  });
});

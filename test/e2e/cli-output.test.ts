/**
 * What `entente` prints for a person: RFC 3339 timestamps and doubles without binary noise in
 * tables, a readable `ping`, `--version`; `--format json` stays the machine's answer.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { diagnosticsService } from "@entente/diagnostics";
import { sqlJoinService } from "@entente/sql-join";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, type CliFixture, ROOT, startCliFixture } from "./cli-fixture.ts";

const run = promisify(execFile);

describe("the command line's output", () => {
  let fixture: CliFixture;

  beforeAll(async () => {
    fixture = await startCliFixture([sqlJoinService, diagnosticsService]);
  }, 60_000);

  afterAll(() => fixture?.stop());

  /** Runs the real executable; returns what it wrote to stdout. */
  async function entente(...args: string[]): Promise<string> {
    const { stdout } = await run(
      process.execPath,
      ["--conditions=@entente/source", BIN, "-c", fixture.configFile, ...args],
      { cwd: ROOT, timeout: 30_000 },
    );
    return stdout;
  }

  it("prints timestamps as RFC 3339 in a table", async () => {
    const out = await entente("sql", "SELECT id, created_at FROM orders ORDER BY id LIMIT 2");
    expect(out).toContain("2026-01-01T01:00:00Z");
    expect(out).toContain("2026-01-01T02:00:00Z");
    expect(out).not.toMatch(/\d{19}/);
  });

  it("keeps nanoseconds in --format json", async () => {
    const out = await entente(
      "sql",
      "SELECT created_at FROM orders ORDER BY id LIMIT 1",
      "--format",
      "json",
    );
    const { rows } = JSON.parse(out) as { rows: unknown[][] };
    expect(BigInt(rows[0]?.[0] as string)).toBe(
      BigInt(Date.parse("2026-01-01T01:00:00Z")) * 1_000_000n,
    );
  });

  it("prints a double without binary noise", async () => {
    const out = await entente(
      "sql",
      "SELECT CAST(0.1 AS DOUBLE PRECISION) + CAST(0.2 AS DOUBLE PRECISION) AS x FROM orders LIMIT 1",
    );
    expect(out).toMatch(/^0\.3$/m);
    const json = await entente(
      "sql",
      "SELECT CAST(0.1 AS DOUBLE PRECISION) + CAST(0.2 AS DOUBLE PRECISION) AS x FROM orders LIMIT 1",
      "--format",
      "json",
    );
    expect(JSON.parse(json).rows).toEqual([[0.30000000000000004]]);
  });

  it("ping prints one readable line, and JSON with --format json", async () => {
    const line = await entente("ping");
    expect(line).toMatch(
      /^\S+ \(region \d+\) host \S+ pid \d+ node v\d+\.\d+\.\d+ up (?:(?:\d+[dhms])+|\d+ms), round trip [\d.]+ ms\n$/,
    );
    expect(line).not.toContain("{");
    const info = JSON.parse(await entente("ping", "--format", "json"));
    expect(info).toMatchObject({ pid: expect.any(Number), uptimeMs: expect.any(Number) });
  });

  it("--version prints the client's version", async () => {
    const { version } = JSON.parse(
      await readFile(join(ROOT, "packages/client/package.json"), "utf8"),
    ) as { version: string };
    expect(await entente("--version")).toBe(`${version}\n`);
  });

  it("query's help says how a window without --window is aligned", async () => {
    const help = (await entente("query", "--help")).replace(/\s+/g, " ");
    expect(help).toContain("aligned to the epoch");
  });
});

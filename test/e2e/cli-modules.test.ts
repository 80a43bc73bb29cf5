/**
 * The command line is a client: `entente sql` and `entente query` talk to workers over NATS and
 * never load a database driver. Each command runs as its own process with a module hook that
 * records every module it loads; the drivers must not be among them.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { queryFederationService } from "@entente/query-federation";
import { sqlJoinService } from "@entente/sql-join";
import { runCommand } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, type CliFixture, ROOT, startCliFixture } from "./cli-fixture.ts";

const DRIVERS =
  /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?(?:pg|pg-cursor|mysql2|@duckdb\/[^/]+)\//;

/** Records the URL of every module loaded (ESM and CommonJS) and writes them out at exit. */
const HOOK = `
import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const loaded = new Set();
registerHooks({
  load(url, context, nextLoad) {
    loaded.add(url);
    return nextLoad(url, context);
  },
});
process.on("exit", () => writeFileSync(process.env.LOADED_MODULES_FILE, [...loaded].join("\\n")));
`;

describe("the command line loads no database driver", () => {
  let fixture: CliFixture;
  let hook: string;

  beforeAll(async () => {
    fixture = await startCliFixture([sqlJoinService, queryFederationService]);
    hook = join(fixture.dir, "hook.mjs");
    await writeFile(hook, HOOK);
  }, 60_000);

  afterAll(() => fixture?.stop());

  /** Runs node with the hook; returns its output and every module it loaded. */
  async function loadedBy(args: string[], cwd = ROOT) {
    const file = join(fixture.dir, `loaded-${Math.random().toString(36).slice(2)}.txt`);
    const output = await runCommand(
      process.execPath,
      ["--conditions=@entente/source", "--import", hook, ...args],
      { cwd, env: { ...process.env, LOADED_MODULES_FILE: file }, timeoutMs: 30_000 },
    );
    const modules = (await readFile(file, "utf8")).split("\n");
    return { output, modules };
  }

  it("the hook sees a driver where one is loaded", async () => {
    const { modules } = await loadedBy(
      ["--input-type=module", "-e", 'await import("@entente/connectors")'],
      join(ROOT, "services/sql-join"),
    );
    expect(modules.filter((url) => DRIVERS.test(url)).length).toBeGreaterThan(0);
  });

  it("entente sql answers without loading pg, mysql2 or DuckDB", async () => {
    const { output, modules } = await loadedBy([
      BIN,
      "-c",
      fixture.configFile,
      "sql",
      "SELECT name FROM users ORDER BY id LIMIT 2",
    ]);
    expect(output).toMatch(/\(2 rows/);
    expect(modules.some((url) => url.endsWith("packages/client/src/cli/sql.ts"))).toBe(true);
    expect(modules.filter((url) => DRIVERS.test(url))).toEqual([]);
  });

  it("entente query answers without loading pg, mysql2 or DuckDB", async () => {
    const { output, modules } = await loadedBy([
      BIN,
      "-c",
      fixture.configFile,
      "query",
      "cpu_usage",
      "--agg",
      "max",
      "--format",
      "json",
    ]);
    expect(JSON.parse(output).points.length).toBeGreaterThan(0);
    expect(modules.some((url) => url.endsWith("packages/client/src/cli/query.ts"))).toBe(true);
    expect(modules.filter((url) => DRIVERS.test(url))).toEqual([]);
  });
});

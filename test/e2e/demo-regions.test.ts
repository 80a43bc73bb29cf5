/**
 * `entente demo regions --regions 3` as a person runs it: it prints what to try once the regions
 * see each other, a routed request works through a configuration file it wrote, and Ctrl-C
 * (SIGINT) stops every process it started and removes its files.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { regionRouterSchema } from "@entente/region-router";
import { loadConfig } from "@entente/runtime";
import { afterAll, describe, expect, it } from "vitest";
import {
  conditionFlags,
  type DemoRegion,
  demoRegionConfig,
  demoTopology,
} from "../../packages/server/src/demo.ts";
import { BIN, ROOT } from "./cli-fixture.ts";

const run = promisify(execFile);

/** The processes whose parent is `pid` (Linux /proc). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid …; comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("the demo's regions and files", () => {
  it("puts a relay between the root and demo-b, and grows two branches", () => {
    expect(demoTopology(4)).toEqual([
      { name: "demo-root", id: 1 },
      { name: "demo-a", id: 2, parent: "demo-root" },
      { name: "demo-b", id: 3, parent: "demo-a" },
      { name: "demo-c", id: 4, parent: "demo-root" },
    ]);
    expect(demoTopology(7).map((r) => [r.name, r.parent])).toEqual([
      ["demo-root", undefined],
      ["demo-a", "demo-root"],
      ["demo-b", "demo-a"],
      ["demo-c", "demo-root"],
      ["demo-d", "demo-b"],
      ["demo-e", "demo-c"],
      ["demo-f", "demo-d"],
    ]);
    expect(demoTopology(12)).toHaveLength(12);
    expect(() => demoTopology(2)).toThrow(/3 to 12/);
    expect(() => demoTopology(13)).toThrow(/3 to 12/);
  });

  it("writes a configuration a worker and the command line load", () => {
    const [root, a] = demoTopology(3);
    const text = demoRegionConfig(
      a as DemoRegion,
      "nats://127.0.0.1:4301",
      "nats://127.0.0.1:4300",
    );
    const loaded = loadConfig({ text, env: {}, sections: { regionRouter: regionRouterSchema } });
    expect(loaded.config.region).toEqual({ name: "demo-a", id: 2, parent: "demo-root" });
    expect(loaded.config.nats.servers).toEqual(["nats://127.0.0.1:4301"]);
    expect(loaded.section("regionRouter", regionRouterSchema)).toMatchObject({
      url: "nats://127.0.0.1:4301",
      join: "nats://127.0.0.1:4300",
    });
    const rootText = demoRegionConfig(root as DemoRegion, "nats://127.0.0.1:4300", undefined);
    const rootRouter = loadConfig({ text: rootText, env: {} }).raw.regionRouter as object;
    expect(rootRouter).not.toHaveProperty("join");
  });

  it("passes the resolution conditions on to its workers, and nothing else", () => {
    expect(
      conditionFlags([
        "--conditions=@entente/source",
        "--inspect",
        "-C",
        "dev",
        "--conditions",
        "x",
      ]),
    ).toEqual(["--conditions=@entente/source", "-C", "dev", "--conditions", "x"]);
    expect(conditionFlags([])).toEqual([]);
  });
});

describe("entente demo regions", () => {
  let demo: ChildProcess | undefined;
  let output = "";
  let pids: number[] = [];

  afterAll(() => {
    // Only if an assertion failed before the demo stopped: leave nothing behind.
    if (demo?.exitCode === null) demo.kill("SIGKILL");
    for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
  });

  it("starts three regions, routes a request between them, and stops them all on SIGINT", async () => {
    const proc = spawn(
      process.execPath,
      ["--conditions=@entente/source", BIN, "demo", "regions", "--regions", "3"],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    demo = proc;
    proc.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    proc.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once("exit", (code, signal) => resolve({ code, signal })),
    );

    // Bounded: the summary comes once every region sees every other.
    const until = Date.now() + 120_000;
    while (!output.includes("Press Ctrl-C")) {
      if (proc.exitCode !== null) throw new Error(`the demo exited early:\n${output}`);
      if (Date.now() > until) throw new Error(`no summary within 120 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const regions = [
      ...output.matchAll(/^ {2}(demo-\S+)\s+id (\d+)\s+nats:\/\/127\.0\.0\.1:(\d+)/gm),
    ];
    expect(regions.map((m) => [m[1], Number(m[2])])).toEqual([
      ["demo-root", 1],
      ["demo-a", 2],
      ["demo-b", 3],
    ]);
    const ports = regions.map((m) => Number(m[3]));
    const dir = /one per region: (\S+)\/<region>\.yaml/.exec(output)?.[1];
    expect(dir).toBeDefined();
    expect(output).toContain(`entente -c ${dir}/demo-root.yaml regions`);
    expect(output).toContain(`entente -c ${dir}/demo-root.yaml route demo-b`);
    expect(output).toContain(
      `entente -c ${dir}/demo-b.yaml request entente.diag.info --region demo-root`,
    );

    // Three nats-servers and three workers, all the demo's own children.
    pids = await childrenOf(proc.pid as number);
    expect(pids).toHaveLength(6);

    // demo-b's configuration file reaches demo-root through demo-a.
    const { stdout } = await run(
      process.execPath,
      [
        "--conditions=@entente/source",
        BIN,
        "-c",
        join(dir as string, "demo-b.yaml"),
        "request",
        "entente.diag.info",
        "--region",
        "demo-root",
      ],
      { cwd: ROOT, timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toMatchObject({ region: "demo-root", regionId: 1 });
    const route = await run(
      process.execPath,
      [
        "--conditions=@entente/source",
        BIN,
        "-c",
        join(dir as string, "demo-root.yaml"),
        "route",
        "demo-b",
      ],
      { cwd: ROOT, timeout: 30_000 },
    );
    expect(route.stdout).toMatch(/^demo-root → demo-a → demo-b {2}\(cost /);

    proc.kill("SIGINT");
    const timeout = new Promise<"late">((resolve) => setTimeout(() => resolve("late"), 25_000));
    const result = await Promise.race([exited, timeout]);
    // A bound, not a timing assertion: a stop timer outliving the children would hold it longer.
    expect(result, output).toEqual({ code: 0, signal: null });
    expect(output).toContain("stopped; removed");
    expect(pids.filter(alive)).toEqual([]);
    for (const port of ports) expect(await listening(port)).toBe(false);
    expect(existsSync(dir as string)).toBe(false);
  }, 200_000);
});

/**
 * `entente regions`, `regions links`, `route` and `request --region` run as the real executable
 * against three regions, each its own nats-server with a region router and the diagnostics
 * service, in a line: root ◄─ mid ◄─ leaf (the leaf joins through the root).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { type LinksReply, type RegionsReply, type RouteReply, SUBJECTS } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  type RegionOptions,
  startRegion as startTestRegion,
  type TestRegion,
} from "../../services/region-router/test/regions.ts";
import { BIN, ROOT } from "./cli-fixture.ts";

const run = promisify(execFile);

/** A test region with a configuration file for the command line to talk to it. */
interface Region extends TestRegion {
  /** `-c` this file to talk to the region as one of its own clients. */
  configFile: string;
}

async function startRegion(dir: string, options: RegionOptions): Promise<Region> {
  const region = await startTestRegion(options);
  const configFile = join(dir, `${options.name}.yaml`);
  const parent = options.parent ? `, parent: ${options.parent}` : "";
  await writeFile(
    configFile,
    `region: { name: ${options.name}, id: ${options.id}${parent} }\nnats: { servers: ["${region.nats.url}"] }\n`,
  );
  return { ...region, configFile };
}

/** Runs the real executable with a region's configuration: its stdout, stderr and exit code. */
async function entente(
  region: Region,
  ...args: string[]
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ["--conditions=@entente/source", BIN, "-c", region.configFile, ...args],
      { cwd: ROOT, timeout: 30_000 },
    );
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const failed = err as { stdout?: string; stderr?: string; code?: number };
    if (typeof failed.code !== "number") throw err;
    return { stdout: failed.stdout ?? "", stderr: failed.stderr ?? "", code: failed.code };
  }
}

describe("the command line across three regions", () => {
  let dir: string;
  let root: Region;
  let mid: Region;
  let leaf: Region;
  const regions: Region[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "entente-cli-regions-"));
    root = await startRegion(dir, { name: "root", id: 1 });
    regions.push(root);
    mid = await startRegion(dir, { name: "mid", id: 2, parent: "root", join: root.nats.url });
    regions.push(mid);
    leaf = await startRegion(dir, { name: "leaf", id: 3, parent: "mid", join: root.nats.url });
    regions.push(leaf);
    for (const region of regions) {
      await eventually(`the registry of ${region.name}`, async () => {
        const reply = await region.client.request<RegionsReply>(SUBJECTS.router.regions, {});
        return reply.regions.length === 3 && reply.regions.every((r) => r.reachable)
          ? reply
          : undefined;
      });
    }
    // Every link measured once: the tables below show latency, load and clock offsets.
    await eventually("mid's links to be measured", async () => {
      const reply = await mid.client.request<LinksReply>(SUBJECTS.router.links, {});
      const measured = reply.links.filter(
        (l) =>
          l.up &&
          l.latencyMs !== undefined &&
          l.setupMs !== undefined &&
          l.load !== undefined &&
          l.clockOffsetMs !== undefined,
      );
      return measured.length === 2 ? reply : undefined;
    });
    await eventually("the leaf to know mid's clock offset", async () => {
      const reply = await leaf.client.request<RegionsReply>(SUBJECTS.router.regions, {});
      return reply.regions.find((r) => r.id === 2)?.clockOffsetMs === undefined ? undefined : reply;
    });
  }, 90_000);

  afterAll(async () => {
    for (const region of [...regions].reverse()) await region.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("regions prints the tree with names indented under their parents", async () => {
    const { stdout, code } = await entente(leaf, "regions");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^id\s+name\s+parent\s+status\s+reachable\s+clock offset$/);
    expect(lines[2]).toMatch(/^1\s+root\s+active\s+yes/);
    expect(lines[3]).toMatch(/^2\s+ {2}└ mid\s+root\s+active\s+yes/);
    expect(lines[4]).toMatch(/^3\s+ {4}└ leaf \*\s+mid\s+active\s+self/);
    expect(lines.at(-1)).toMatch(/^\(3 regions seen from leaf \(3\) \*, registry revision \d+\)$/);
    // The leaf's neighbour has a measured clock offset.
    expect(lines[3]).toMatch(/[+-]?\d+(\.\d+)? ms$/);
  });

  it("regions --format json prints the reply unchanged", async () => {
    const { stdout, code } = await entente(leaf, "regions", "--format", "json");
    expect(code).toBe(0);
    const reply = JSON.parse(stdout) as RegionsReply;
    expect(reply.self).toBe(3);
    expect(reply.regions.map((r) => [r.id, r.name, r.parent ?? null, r.status])).toEqual([
      [1, "root", null, "active"],
      [2, "mid", 1, "active"],
      [3, "leaf", 2, "active"],
    ]);
    expect(Object.keys(reply).sort()).toEqual(["regions", "revision", "self"]);
  });

  it("regions links lists this region's links", async () => {
    const { stdout, code } = await entente(mid, "regions", "links");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^to\s+up\s+latency ms\s+setup ms\s+load\s+cost\s+clock offset$/);
    const rows = lines.slice(2);
    expect(rows.map((row) => row.split(/\s{2,}/)[0]).sort()).toEqual(["leaf (3)", "root (1)"]);
    for (const row of rows) {
      expect(row).toMatch(/\)\s+yes\s+\d+(\.\d+)?\s+\d+(\.\d+)?\s+\d+%\s+\d+(\.\d+)?\s+[+-]?\d/);
      // Rounded for a person: no long fractions.
      expect(row).not.toMatch(/\d\.\d{3,}/);
    }
    const json = JSON.parse((await entente(mid, "regions", "links", "--format", "json")).stdout);
    expect(json.self).toBe(2);
    expect(json.links.map((l: { to: number }) => l.to).sort()).toEqual([1, 3]);
    // Wherever --format is given.
    const before = await entente(mid, "regions", "--format", "json", "links");
    expect(JSON.parse(before.stdout)).toMatchObject({ self: 2 });
  });

  it("route prints the path as names and its cost", async () => {
    const { stdout, code } = await entente(leaf, "route", "root");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^leaf → mid → root {2}\(cost \d+(\.\d+)?, 2 hops\)\n$/);
    const byId = JSON.parse((await entente(leaf, "route", "1", "--format", "json")).stdout);
    expect(byId).toMatchObject({ from: 3, to: 1, reachable: true, path: [3, 2, 1] });
  });

  it("request --region and --owner reach the other region through the relay", async () => {
    const byName = await entente(leaf, "request", SUBJECTS.diagnostics.info, "--region", "root");
    expect(byName.code).toBe(0);
    expect(JSON.parse(byName.stdout)).toMatchObject({ region: "root", regionId: 1 });
    const byId = await entente(leaf, "request", SUBJECTS.diagnostics.info, "{}", "--region", "2");
    expect(JSON.parse(byId.stdout)).toMatchObject({ region: "mid", regionId: 2 });
    // 2 << 48: an id owned by mid.
    const owned = String(2n << 48n);
    const byOwner = await entente(leaf, "request", SUBJECTS.diagnostics.info, "--owner", owned);
    expect(JSON.parse(byOwner.stdout)).toMatchObject({ region: "mid" });
    const local = await entente(leaf, "request", SUBJECTS.diagnostics.info);
    expect(JSON.parse(local.stdout)).toMatchObject({ region: "leaf" });
  });

  it("regions traffic shows what each region's clients sent to the others", async () => {
    // The requests of the test before: the leaf asked root, mid (twice) and itself.
    const out = await entente(root, "regions", "traffic");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/leaf\s+root\s+1\s/);
    expect(out.stdout).toMatch(/leaf\s+mid\s+2\s/);
    const json = JSON.parse((await entente(root, "regions", "traffic", "--format", "json")).stdout);
    expect(json.unanswered).toEqual([]);
    expect(json.regions.map((r: { self: number }) => r.self).sort()).toEqual([1, 2, 3]);
  });

  it("says so and exits non-zero for an unknown or unreachable region", async () => {
    const unknown = await entente(leaf, "route", "atlantis");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/atlantis/);
    // The leaf's router stops: the others lose their links to it, then their routes.
    await leaf.stopServices();
    await eventually(
      "root to see the leaf unreachable",
      async () => {
        const route = await root.client.request<RouteReply>(SUBJECTS.router.route, { to: 3 });
        return route.reachable ? undefined : route;
      },
      45_000,
    );
    const unreachable = await entente(root, "route", "leaf");
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toBe("leaf (3) is unreachable from root (1): no path\n");
    const json = await entente(root, "route", "leaf", "--format", "json");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ reachable: false, cost: null, path: [] });
  }, 90_000);
});

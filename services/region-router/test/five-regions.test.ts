/**
 * Five regions, each its own nats-server, joined at run time through the root:
 *
 *   root(1) ─┬─ a(2) ─┬─ c(4)
 *            │        └─ d(5)
 *            └─ b(3) ─── e(6), joining later
 *
 * Every region's registry converges; a sixth region joining later is reached from all; the
 * root's services restart on the same server (its JetStream store survives) and nothing is lost:
 * revision, root key, reachability, and a new region can still join.
 */
import { type RegionsReply, SUBJECTS, type WorkerInfo } from "@entente/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedSnapshot } from "../src/signed-registry.ts";
import { eventually, routed, startRegion, type TestRegion } from "./regions.ts";

// A dead-region timeout just above the advert interval: a root that forgot when it last heard
// of a region (as after a restart) marks it dead on its next check.
const SETTINGS =
  "probeIdleMs: 300, probeTimeoutMs: 1000, missedProbesForDown: 2, advertiseEveryMs: 2000, " +
  "advertMaxAgeMs: 6000, shortcutEveryMs: 600000, deadAfterMs: 3000";

/** Every region holds the same revision, `count` regions, all active and reachable. */
async function converged(regions: TestRegion[], count: number): Promise<number> {
  return eventually(`${count} regions in every registry`, async () => {
    const views = await Promise.all(
      regions.map((r) => r.client.request<RegionsReply>(SUBJECTS.router.regions, {})),
    );
    const revision = views[0]!.revision;
    const ok = views.every(
      (v) =>
        v.revision === revision &&
        v.regions.length === count &&
        v.regions.every((r) => r.status === "active" && r.reachable),
    );
    return ok ? revision : undefined;
  });
}

async function rootKey(region: TestRegion): Promise<string> {
  const signed = await region.client.request<SignedSnapshot>(SUBJECTS.router.registry, {});
  return signed.key;
}

/** A routed diagnostics request from every region in `from` to `to` answers from `to`. */
async function reachedFromAll(from: TestRegion[], to: TestRegion): Promise<void> {
  for (const region of from) {
    const info = await eventually(`${to.name} from ${region.name}`, () =>
      region.client.request<WorkerInfo>(routed(to.name, SUBJECTS.diagnostics.info), {}),
    );
    expect(info.region).toBe(to.name);
  }
}

describe("five regions, a sixth, then a root restart", () => {
  const regions: TestRegion[] = [];
  const byName = (name: string) => regions.find((r) => r.name === name) as TestRegion;

  beforeAll(async () => {
    const root = await startRegion({ name: "root", id: 1, settings: SETTINGS });
    regions.push(root);
    const join = root.nats.url;
    // Started together: c and d may announce before a is in the registry; they retry.
    regions.push(
      ...(await Promise.all([
        startRegion({ name: "a", id: 2, parent: "root", join, settings: SETTINGS }),
        startRegion({ name: "b", id: 3, parent: "root", join, settings: SETTINGS }),
        startRegion({ name: "c", id: 4, parent: "a", join, settings: SETTINGS }),
        startRegion({ name: "d", id: 5, parent: "a", join, settings: SETTINGS }),
      ])),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled([...regions].reverse().map((r) => r.stop()));
  });

  it("converges on one registry of five regions, all reachable", async () => {
    await converged(regions, 5);
    const view = await byName("d").client.request<RegionsReply>(SUBJECTS.router.regions, {});
    expect(view.regions.map((r) => [r.id, r.name, r.parent ?? null])).toEqual([
      [1, "root", null],
      [2, "a", 1],
      [3, "b", 1],
      [4, "c", 2],
      [5, "d", 2],
    ]);
    const route = await byName("c").client.request<{ path: number[] }>(SUBJECTS.router.route, {
      to: "b",
    });
    expect(route.path[0]).toBe(4);
    expect(route.path.at(-1)).toBe(3);
  }, 40_000);

  it("reaches a sixth region, joined later, from every region", async () => {
    const e = await startRegion({
      name: "e",
      id: 6,
      parent: "b",
      join: byName("root").nats.url,
      settings: SETTINGS,
    });
    regions.push(e);
    await converged(regions, 6);
    await reachedFromAll(regions, e);
  }, 40_000);

  it("loses nothing when the root's services restart on the same server", async () => {
    const root = byName("root");
    const revision = await converged(regions, 6);
    const key = await rootKey(root);
    // Longer than deadAfterMs since the last revision: stored lastSeen values are all stale.
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    await root.stopServices();
    await root.startServices();

    // The same revision everywhere (no region marked dead and revived), the same key.
    expect(await converged(regions, 6)).toBe(revision);
    expect(await rootKey(root)).toBe(key);
    for (const region of regions) expect(await rootKey(region)).toBe(key);
    await reachedFromAll(regions, root);

    // A new revision signed after the restart is taken by every region: the key still fits.
    const f = await startRegion({
      name: "f",
      id: 7,
      parent: "root",
      join: root.nats.url,
      settings: SETTINGS,
    });
    regions.push(f);
    expect(await converged(regions, 7)).toBe(revision + 1);
    await reachedFromAll(regions, f);
  }, 60_000);
});

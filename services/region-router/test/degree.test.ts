/**
 * Twenty regions in a tree of branching three (region i's parent is (i - 2) / 3 + 1), with
 * shortcut trials every 300 ms and maxDegree 4: after convergence no region keeps more than four
 * links, none links to all others, shortcuts were opened where there was room, and every region
 * reaches every other.
 */
import { type LinksReply, type RegionsReply, SUBJECTS } from "@entente/protocol";
import { type NatsServer, startNatsServer } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, FAST, startRegion, type TestRegion } from "./regions.ts";

const COUNT = 20;
const MAX_DEGREE = 4;
const SETTINGS = `${FAST.replace("shortcutEveryMs: 600000", "shortcutEveryMs: 300")}, maxDegree: ${MAX_DEGREE}`;
const parentOf = (id: number) => Math.floor((id - 2) / 3) + 1;
const nameOf = (id: number) => `r${id}`;

describe(`${COUNT} regions with maxDegree ${MAX_DEGREE}`, () => {
  const servers: NatsServer[] = [];
  const regions: TestRegion[] = [];

  beforeAll(async () => {
    servers.push(...(await Promise.all(Array.from({ length: COUNT }, () => startNatsServer()))));
    const root = servers[0]!.url;
    regions.push(
      ...(await Promise.all(
        servers.map((nats, i) => {
          const id = i + 1;
          return startRegion({
            name: nameOf(id),
            id,
            nats,
            settings: SETTINGS,
            ...(id > 1 ? { parent: nameOf(parentOf(id)), join: root } : {}),
          });
        }),
      )),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.allSettled(regions.map((r) => r.stop()));
    await Promise.allSettled(servers.map((s) => s.stop()));
  });

  it("keeps every region within the degree bound and every region reachable", async () => {
    await eventually(
      "every region reaching every other",
      async () => {
        const views = await Promise.all(
          regions.map((r) => r.client.request<RegionsReply>(SUBJECTS.router.regions, {})),
        );
        return views.every(
          (v) =>
            v.regions.length === COUNT &&
            v.regions.every((r) => r.status === "active" && r.reachable),
        )
          ? true
          : undefined;
      },
      40_000,
    );

    // Checked twice, a few shortcut trials apart: the bound holds, not just once.
    let shortcuts = 0;
    for (const pass of [1, 2]) {
      if (pass === 2) await new Promise((resolve) => setTimeout(resolve, 2_000));
      const views = await Promise.all(
        regions.map((r) => r.client.request<LinksReply>(SUBJECTS.router.links, {})),
      );
      shortcuts = 0;
      for (const view of views) {
        expect(view.links.length, `links of r${view.self}`).toBeLessThanOrEqual(MAX_DEGREE);
        expect(view.links.length).toBeLessThan(COUNT - 1);
        const tree = regions
          .map((r) => r.id)
          .filter(
            (id) => id !== view.self && (parentOf(id) === view.self || id === parentOf(view.self)),
          );
        shortcuts += view.links.filter((l) => !tree.includes(l.to)).length;
      }
    }
    // Leaves have room: shortcut trials filled some of it.
    expect(shortcuts).toBeGreaterThan(0);

    // Every route names a path that starts here and ends there.
    const from = regions[COUNT - 1]!;
    for (const to of regions.slice(0, COUNT - 1)) {
      const route = await from.client.request<{ path: number[]; reachable: boolean }>(
        SUBJECTS.router.route,
        { to: to.id },
      );
      expect(route.reachable).toBe(true);
      expect(route.path[0]).toBe(from.id);
      expect(route.path.at(-1)).toBe(to.id);
    }
  }, 60_000);
});

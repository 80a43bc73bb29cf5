import type { LinksReply, RegionsReply, RouteReply } from "@entente/protocol";
import { describe, expect, it } from "vitest";
import {
  bytesText,
  costText,
  linksTable,
  loadText,
  msText,
  offsetText,
  regionArgument,
  regionsTable,
  routeText,
  routingOptions,
  trafficTable,
  treeOrder,
} from "../src/cli/regions.ts";

const region = (
  id: number,
  name: string,
  parent?: number,
  more: Partial<RegionsReply["regions"][number]> = {},
): RegionsReply["regions"][number] => ({
  id,
  name,
  ...(parent === undefined ? {} : { parent }),
  url: `nats://127.0.0.1:${4220 + id}`,
  status: "active",
  since: 0,
  reachable: true,
  ...more,
});

const registry: RegionsReply = {
  self: 3,
  revision: 7,
  regions: [
    region(4, "c", 1),
    region(1, "root", undefined, { clockOffsetMs: -12.345 }),
    region(3, "b", 2),
    region(2, "a", 1, { clockOffsetMs: 0.1234 }),
    region(5, "gone", 4, { status: "dead", reachable: false }),
  ],
};

describe("what `entente regions`, `regions links` and `route` print", () => {
  it("rounds milliseconds, offsets, costs and load for a person", () => {
    expect(msText(0.31415)).toBe("0.31");
    expect(msText(4.2349)).toBe("4.2");
    expect(msText(1204.6)).toBe("1205");
    expect(msText(undefined)).toBe("");
    expect(offsetText(0.1234)).toBe("+0.12 ms");
    expect(offsetText(-12.345)).toBe("-12.3 ms");
    expect(offsetText(0)).toBe("0 ms");
    expect(offsetText(undefined)).toBe("");
    expect(costText(null)).toBe("∞");
    expect(costText(2.34567)).toBe("2.35");
    expect(costText(27.3456)).toBe("27.3");
    expect(loadText(0.126)).toBe("13%");
    expect(loadText(undefined)).toBe("");
  });

  it("orders the tree parent first, children by id, and indents them", () => {
    expect(treeOrder(registry.regions).map(({ region, depth }) => [region.name, depth])).toEqual([
      ["root", 0],
      ["a", 1],
      ["b", 2],
      ["c", 1],
      ["gone", 2],
    ]);
    const lines = regionsTable(registry).split("\n");
    expect(lines[0]).toMatch(/^id\s+name\s+parent\s+status\s+reachable\s+clock offset$/);
    expect(lines[2]).toMatch(/^1\s+root\s+active\s+yes\s+-12\.3 ms$/);
    expect(lines[3]).toMatch(/^2\s+ {2}└ a\s+root\s+active\s+yes\s+\+0\.12 ms$/);
    expect(lines[4]).toMatch(/^3\s+ {4}└ b \*\s+a\s+active\s+self$/);
    expect(lines[6]).toMatch(/^5\s+ {4}└ gone\s+c\s+dead\s+no$/);
    expect(lines.at(-1)).toBe("(5 regions seen from b (3) *, registry revision 7)");
  });

  it("shows a region whose parent is not listed, or a parent loop, at the top level", () => {
    const odd = [region(2, "x", 9), region(3, "y", 4), region(4, "z", 3)];
    expect(treeOrder(odd).map(({ region, depth }) => [region.name, depth])).toEqual([
      ["x", 0],
      ["y", 0],
      ["z", 1],
    ]);
  });

  it("lists links with name and id, ∞ for an infinite cost", () => {
    const links: LinksReply = {
      self: 2,
      links: [
        {
          to: 1,
          name: "root",
          up: true,
          open: true,
          latencyMs: 2.8123,
          setupMs: 17.84,
          load: 0.01,
          cost: 2.8145,
          clockOffsetMs: 0.061,
        },
        { to: 3, up: false, open: false, cost: null },
      ],
    };
    const lines = linksTable(links).split("\n");
    expect(lines[0]).toMatch(/^to\s+up\s+latency ms\s+setup ms\s+load\s+cost\s+clock offset$/);
    expect(lines[2]).toMatch(/^root \(1\)\s+yes\s+2\.8\s+17\.8\s+1%\s+2\.81\s+\+0\.06 ms$/);
    expect(lines[3]).toMatch(/^3\s+no\s+∞$/);
    expect(linksTable({ self: 2, links: [] })).toBe("region 2 has no links");
  });

  it("prints a route as names with its cost, and says when there is none", () => {
    const route: RouteReply = { from: 3, to: 1, reachable: true, cost: 5.126, path: [3, 2, 1] };
    expect(routeText(route, registry)).toBe("b → a → root  (cost 5.13, 2 hops)");
    expect(routeText(route)).toBe("3 → 2 → 1  (cost 5.13, 2 hops)");
    expect(routeText({ from: 3, to: 3, reachable: true, cost: 0, path: [3] }, registry)).toBe(
      "b is this region (cost 0)",
    );
    expect(routeText({ from: 3, to: 5, reachable: false, cost: null, path: [] }, registry)).toBe(
      "gone (5) is unreachable from b (3): no path",
    );
  });

  it("reads a region as an id when it is digits, and checks the routing options", () => {
    expect(regionArgument("12")).toBe(12);
    expect(regionArgument("eu")).toBe("eu");
    expect(() => regionArgument(" ")).toThrow(/name or an id/);
    expect(routingOptions({})).toEqual({});
    expect(routingOptions({ region: "2" })).toEqual({ region: 2 });
    expect(routingOptions({ owner: "562949953421312" })).toEqual({ owner: "562949953421312" });
    expect(() => routingOptions({ owner: "x1" })).toThrow(/64-bit id/);
    expect(() => routingOptions({ region: "eu", owner: "1" })).toThrow(/not both/);
  });
});

describe("regions traffic", () => {
  it("lists each pair with its requests and bytes, and notes regions that did not answer", () => {
    const registry = {
      self: 1,
      revision: 3,
      regions: [
        {
          id: 1,
          name: "root",
          url: "nats://a:1",
          status: "active" as const,
          since: 0,
          reachable: true,
        },
        {
          id: 2,
          name: "eu",
          parent: 1,
          url: "nats://b:1",
          status: "active" as const,
          since: 0,
          reachable: true,
        },
        {
          id: 3,
          name: "us",
          parent: 1,
          url: "nats://c:1",
          status: "active" as const,
          since: 0,
          reachable: false,
        },
      ],
    };
    const text = trafficTable(
      [{ self: 2, to: [{ region: 1, requests: 12, requestBytes: 2048, replyBytes: 3_000_000 }] }],
      registry,
      [3],
    );
    expect(text).toMatch(/eu\s+root\s+12\s+2\.0 KiB\s+2\.9 MiB/);
    expect(text).toMatch(/not answered: us/);
    expect(trafficTable([], registry, [])).toBe("no cross-region requests yet");
    expect(bytesText(512)).toBe("512 B");
  });
});

import { describe, expect, it } from "vitest";
import {
  advertProblem,
  DEFAULT_LINK_STATE,
  floodTargets,
  type LinkStateAdvert,
  LinkStateDb,
  refreshDue,
} from "../src/model/link-state.ts";
import { computeRoutes, linkCost } from "../src/model/routes.ts";

const T0 = 1_750_000_000_000;

function advert(origin: number, seq: number, links: Record<number, number>): LinkStateAdvert {
  return {
    origin,
    seq,
    issuedAt: T0,
    links: Object.entries(links).map(([to, cost]) => ({ to: Number(to), cost })),
  };
}

describe("LinkStateDb.apply", () => {
  it("stores a first advert as new, then drops repeats and older ones", () => {
    const db = new LinkStateDb();
    expect(db.apply(advert(1, 5, { 2: 3 }), T0)).toBe("new");
    expect(db.apply(advert(1, 5, { 2: 3 }), T0 + 1)).toBe("duplicate");
    expect(db.apply(advert(1, 4, { 2: 9 }), T0 + 2)).toBe("stale");
    expect(db.get(1)?.links).toEqual([{ to: 2, cost: 3 }]);
    expect(db.apply(advert(1, 6, { 2: 4 }), T0 + 3)).toBe("new");
    expect(db.get(1)?.seq).toBe(6);
  });

  it("accepts a seq that jumps ahead (an origin restarted without its persisted seq)", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 5, {}), T0);
    expect(db.apply(advert(1, T0, {}), T0)).toBe("new");
    expect(db.apply(advert(1, 6, {}), T0)).toBe("stale");
  });

  it("keeps its own copy: the caller changing the advert afterwards changes nothing", () => {
    const db = new LinkStateDb();
    const sent = advert(1, 1, { 2: 3 });
    db.apply(sent, T0);
    sent.links[0]!.cost = 99;
    sent.links.push({ to: 3, cost: 1 });
    const stored = db.get(1)!;
    expect(stored.links).toEqual([{ to: 2, cost: 3 }]);
    stored.links[0]!.cost = 42;
    expect(db.get(1)!.links[0]!.cost).toBe(3);
  });

  const invalid: Array<[string, LinkStateAdvert, RegExp]> = [
    ["origin 0", advert(0, 1, {}), /^origin: 0 is not a region id/],
    ["origin above 65535", advert(65_536, 1, {}), /^origin: 65536/],
    ["fractional origin", advert(1.5, 1, {}), /^origin: 1.5/],
    ["negative seq", advert(1, -1, {}), /^seq: -1/],
    ["fractional seq", advert(1, 0.5, {}), /^seq: 0.5/],
    ["unsafe seq", advert(1, 2 ** 53, {}), /^seq: 9007199254740992/],
    ["non-finite issuedAt", { ...advert(1, 1, {}), issuedAt: Number.NaN }, /^issuedAt: NaN/],
    ["link to 0", advert(1, 1, { 0: 1 }), /^links\[0\]\.to: 0 is not a region id/],
    ["link above 65535", advert(1, 1, { 70000: 1 }), /^links\[0\]\.to: 70000/],
    ["self-link", advert(7, 1, { 3: 1, 7: 1 }), /^links\[1\]\.to: 7 is the origin itself/],
    [
      "duplicate link",
      {
        ...advert(1, 1, {}),
        links: [
          { to: 2, cost: 1 },
          { to: 2, cost: 2 },
        ],
      },
      /^links\[1\]\.to: 2 appears twice/,
    ],
    ["negative cost", advert(1, 1, { 2: -0.5 }), /^links\[0\]\.cost: -0.5/],
    ["infinite cost", advert(1, 1, { 2: Number.POSITIVE_INFINITY }), /^links\[0\]\.cost: Infinity/],
    ["NaN cost", advert(1, 1, { 2: Number.NaN }), /^links\[0\]\.cost: NaN/],
  ];
  for (const [what, bad, reason] of invalid) {
    it(`refuses an advert with ${what}, naming the field`, () => {
      const db = new LinkStateDb();
      const verdict = db.apply(bad, T0);
      expect(verdict).toEqual({ invalid: expect.stringMatching(reason) });
      expect(db.size).toBe(0);
      expect(db.version).toBe(0);
    });
  }

  it("refuses a link entry that is not an object instead of throwing", () => {
    const junk = { ...advert(1, 1, {}), links: [null] } as unknown as LinkStateAdvert;
    expect(new LinkStateDb().apply(junk, T0)).toEqual({ invalid: "links[0]: not an object" });
  });

  it("allows maxLinks links and refuses one more", () => {
    const links = (count: number) =>
      Object.fromEntries(Array.from({ length: count }, (_, i) => [i + 2, 1]));
    const db = new LinkStateDb();
    expect(DEFAULT_LINK_STATE.maxLinks).toBe(64);
    expect(db.apply(advert(1, 1, links(64)), T0)).toBe("new");
    expect(db.apply(advert(1, 2, links(65)), T0)).toEqual({
      invalid: "links: 65 links, at most 64 allowed",
    });
    const small = new LinkStateDb({ maxLinks: 2 });
    expect(small.apply(advert(1, 1, links(3)), T0)).toEqual({
      invalid: "links: 3 links, at most 2 allowed",
    });
  });

  it("accepts zero costs and no links at all", () => {
    expect(advertProblem(advert(1, 0, { 2: 0 }), 64)).toBeUndefined();
    expect(advertProblem(advert(1, 0, {}), 64)).toBeUndefined();
  });
});

describe("LinkStateDb.version", () => {
  it("moves when links change, an origin arrives or ages out, and not on a plain refresh", () => {
    const db = new LinkStateDb();
    expect(db.version).toBe(0);
    db.apply(advert(1, 1, { 2: 3, 3: 1 }), T0);
    expect(db.version).toBe(1);
    // Same links in another order, new seq: a refresh, not a change.
    db.apply(advert(1, 2, { 3: 1, 2: 3 }), T0 + 20_000);
    expect(db.version).toBe(1);
    db.apply(advert(1, 2, { 2: 3 }), T0 + 20_001); // duplicate
    db.apply(advert(1, 1, { 2: 3 }), T0 + 20_002); // stale
    db.apply(advert(1, 1.5, { 2: 3 }), T0 + 20_003); // invalid
    expect(db.version).toBe(1);
    db.apply(advert(1, 3, { 2: 4, 3: 1 }), T0 + 20_004);
    expect(db.version).toBe(2);
    db.apply(advert(2, 1, { 1: 4 }), T0 + 20_005);
    expect(db.version).toBe(3);
    db.age(T0 + 20_005 + 60_001);
    expect(db.version).toBe(4);
    db.age(T0 + 20_005 + 60_002);
    expect(db.version).toBe(4);
  });
});

describe("LinkStateDb.age", () => {
  it("removes origins not refreshed within maxAgeMs of the receiver's clock", () => {
    const db = new LinkStateDb();
    db.apply(advert(3, 1, {}), T0);
    db.apply(advert(1, 1, {}), T0);
    db.apply(advert(2, 1, {}), T0 + 30_000);
    expect(db.age(T0 + 60_000)).toEqual([]);
    expect(db.age(T0 + 60_001)).toEqual([1, 3]);
    expect(db.origins()).toEqual([2]);
    // A refresh restarts the clock.
    db.apply(advert(2, 2, {}), T0 + 80_000);
    expect(db.age(T0 + 100_000)).toEqual([]);
    expect(db.age(T0 + 100_000, 10_000)).toEqual([2]);
    expect(db.size).toBe(0);
  });

  it("ages by local receipt time, not the origin's issuedAt", () => {
    const db = new LinkStateDb({ maxAgeMs: 1_000 });
    db.apply({ ...advert(1, 1, {}), issuedAt: 0 }, T0);
    expect(db.age(T0 + 1_000)).toEqual([]);
    expect(db.age(T0 + 1_001)).toEqual([1]);
  });

  it("does not let a late copy of an old advert bring an aged-out origin back", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 7, {}), T0);
    db.age(T0 + 120_000);
    expect(db.apply(advert(1, 7, {}), T0 + 120_001)).toBe("duplicate");
    expect(db.apply(advert(1, 6, {}), T0 + 120_001)).toBe("stale");
    expect(db.apply(advert(1, 8, {}), T0 + 120_002)).toBe("new");
    expect(db.origins()).toEqual([1]);
  });

  it("is refreshed often enough: three refreshes fit in the default maximum age", () => {
    expect(DEFAULT_LINK_STATE.maxAgeMs / DEFAULT_LINK_STATE.refreshMs).toBe(3);
    expect(refreshDue(T0, T0 + 19_999)).toBe(false);
    expect(refreshDue(T0, T0 + 20_000)).toBe(true);
    expect(refreshDue(T0, T0 + 500, 500)).toBe(true);
  });
});

describe("LinkStateDb.graph", () => {
  it("counts a link only when both ends advertise it, at the advertiser's cost", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 1, { 2: 3, 3: 1 }), T0);
    db.apply(advert(2, 1, { 1: 5 }), T0);
    db.apply(advert(3, 1, {}), T0); // 3 does not confirm 1→3
    const graph = db.graph();
    expect(linkCost(graph, 1, 2)).toBe(3);
    expect(linkCost(graph, 2, 1)).toBe(5);
    expect(linkCost(graph, 1, 3)).toBeUndefined();
    expect([...graph.regions]).toEqual([1, 2, 3]);
    expect(computeRoutes(graph, 1).has(3)).toBe(false);
  });

  it("leaves out links to regions that advertise nothing", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 1, { 2: 3 }), T0);
    const graph = db.graph();
    expect([...graph.regions]).toEqual([1]);
    expect(linkCost(graph, 1, 2)).toBeUndefined();
  });

  it("drops the links of an aged-out region", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 1, { 2: 3 }), T0);
    db.apply(advert(2, 1, { 1: 3 }), T0 - 50_000);
    expect(linkCost(db.graph(), 1, 2)).toBe(3);
    db.age(T0 + 20_000);
    expect(linkCost(db.graph(), 1, 2)).toBeUndefined();
  });

  it("is rebuilt only when the version moves", () => {
    const db = new LinkStateDb();
    db.apply(advert(1, 1, { 2: 3 }), T0);
    db.apply(advert(2, 1, { 1: 3 }), T0);
    const first = db.graph();
    db.apply(advert(1, 2, { 2: 3 }), T0 + 20_000);
    expect(db.graph()).toBe(first);
    db.apply(advert(1, 3, { 2: 4 }), T0 + 40_000);
    expect(db.graph()).not.toBe(first);
    expect(linkCost(db.graph(), 1, 2)).toBe(4);
  });
});

describe("flooding", () => {
  it("sends to every live neighbour except the sender, once each", () => {
    expect(floodTargets([4, 2, 9, 2], 2)).toEqual([4, 9]);
    expect(floodTargets(new Set([4, 2]), undefined)).toEqual([4, 2]);
    expect(floodTargets([3], 3)).toEqual([]);
  });

  it("reaches every region over a graph full of cycles and then stops", () => {
    // A 6-ring with chords: many cycles a flood could loop around.
    const neighbours = new Map<number, number[]>([
      [1, [2, 6, 4]],
      [2, [1, 3, 5]],
      [3, [2, 4, 6]],
      [4, [3, 5, 1]],
      [5, [4, 6, 2]],
      [6, [5, 1, 3]],
    ]);
    const dbs = new Map([...neighbours.keys()].map((region) => [region, new LinkStateDb()]));
    const news = advert(1, 1, { 2: 1, 6: 1, 4: 1 });
    const queue: Array<{ to: number; from: number | undefined }> = [{ to: 1, from: undefined }];
    let deliveries = 0;
    const verdicts: string[] = [];
    while (queue.length > 0) {
      const { to, from } = queue.shift()!;
      if (from !== undefined) deliveries++;
      const verdict = dbs.get(to)!.apply(news, T0);
      verdicts.push(typeof verdict === "string" ? verdict : "invalid");
      if (verdict !== "new") continue;
      for (const next of floodTargets(neighbours.get(to)!, from))
        queue.push({ to: next, from: to });
    }
    for (const db of dbs.values()) expect(db.get(1)?.seq).toBe(1);
    expect(verdicts.filter((v) => v === "new")).toHaveLength(6);
    // Each region passes it on once, to all but its sender: 3 + 5 × 2 copies for 9 links × 2 ends.
    expect(deliveries).toBe(3 + 5 * 2);
    expect(verdicts.filter((v) => v === "duplicate")).toHaveLength(deliveries - 5);
  });
});

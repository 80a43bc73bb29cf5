import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  EntenteError,
  joinSnapshotPages,
  linkStateAdvertSchema,
  linksReplySchema,
  MAX_LINKS,
  MAX_SNAPSHOT_PAGES,
  msgpackCodec,
  parseMessage,
  probeReplySchema,
  probeSchema,
  REGISTRY_PAGE_REGIONS,
  type RegionInfo,
  regionAnnounceSchema,
  regionInfoSchema,
  regionLeaveSchema,
  regionRefusal,
  regionsReplySchema,
  registrySnapshotPageSchema,
  registrySnapshotSchema,
  routeReplySchema,
  snapshotPages,
} from "../src/index.ts";

/** The problems `parseMessage` names, as `path: message`; fails the test if the value passes. */
function problemsOf(schema: z.ZodType, value: unknown): string[] {
  try {
    parseMessage(schema, value, "message");
  } catch (err) {
    expect(err).toBeInstanceOf(EntenteError);
    expect((err as EntenteError).code).toBe("BAD_REQUEST");
    const details = (err as EntenteError).details as {
      problems: { path: string; message: string }[];
    };
    return details.problems.map((p) => `${p.path}: ${p.message}`);
  }
  throw new Error("expected the value to be refused");
}

const announce = { id: 7, name: "eu-west", parent: 1, url: "nats://eu-west.example:4222", seq: 1 };

const region = (id: number, over: Partial<RegionInfo> = {}): RegionInfo => ({
  id,
  name: `r${id}`,
  parent: id === 1 ? undefined : 1,
  url: `nats://r${id}.example:4222`,
  status: "active",
  since: 1_000,
  ...over,
});

describe("announce", () => {
  it("accepts a well-formed announce, the root's without a parent", () => {
    expect(regionAnnounceSchema.parse(announce)).toEqual(announce);
    const { parent: _, ...root } = announce;
    expect(regionAnnounceSchema.parse({ ...root, id: 1 })).toEqual({ ...root, id: 1 });
    expect(
      regionAnnounceSchema.parse({ ...announce, url: "nats://a:4222, tls://b:4222" }).url,
    ).toBe("nats://a:4222, tls://b:4222");
  });

  it("names every bad field of a malformed announce", () => {
    const problems = problemsOf(regionAnnounceSchema, {
      id: 0,
      name: "eu.west",
      parent: 70_000,
      url: "http://eu-west:80",
      seq: -1,
      extra: true,
    });
    expect(problems.map((p) => p.split(":")[0])).toEqual(
      expect.arrayContaining(["id", "name", "parent", "url", "seq", "(message)"]),
    );
    expect(problems.find((p) => p.startsWith("id"))).toContain("from 1 to 65535");
    expect(problems.find((p) => p.startsWith("name"))).toContain("subject token");
    expect(problems.find((p) => p.startsWith("url"))).toContain("nats:// or tls://");
    expect(problems.find((p) => p.startsWith("(message)"))).toContain("extra");
  });

  it("refuses ids that are not integers, and missing fields", () => {
    expect(problemsOf(regionAnnounceSchema, { ...announce, id: 7.5 })[0]).toMatch(/^id: .*integer/);
    expect(problemsOf(regionAnnounceSchema, { ...announce, id: "7" })[0]).toMatch(/^id:/);
    expect(problemsOf(regionAnnounceSchema, { name: "x", url: announce.url, seq: 0 })).toEqual([
      expect.stringMatching(/^id:/),
    ]);
  });

  it("refuses oversized names and URLs, and URLs with credentials", () => {
    expect(problemsOf(regionAnnounceSchema, { ...announce, name: "a".repeat(65) })).toEqual([
      "name: at most 64 characters",
    ]);
    const long = `nats://${"h".repeat(1100)}:4222`;
    expect(problemsOf(regionAnnounceSchema, { ...announce, url: long })).toEqual([
      "url: at most 1024 characters",
    ]);
    expect(
      problemsOf(regionAnnounceSchema, { ...announce, url: "nats://user:secret@eu-west:4222" })[0],
    ).toContain("no credentials");
  });

  it("turns registry problems into one BAD_REQUEST naming each", () => {
    const error = regionRefusal("announce of region 7", [
      { field: "id", message: 'region 7 is already registered as "eu-west"' },
      { field: "parent", message: "parent 9 is not a known region" },
    ]);
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'announce of region 7 refused: id: region 7 is already registered as "eu-west"; parent: parent 9 is not a known region',
    );
    expect(error.toBody().details).toEqual({
      problems: [
        { path: "id", message: 'region 7 is already registered as "eu-west"' },
        { path: "parent", message: "parent 9 is not a known region" },
      ],
    });
    expect(regionRefusal("announce", [], true).retryable).toBe(true);
  });

  it("takes a leave naming a region id and nothing else", () => {
    expect(regionLeaveSchema.parse({ id: 7 })).toEqual({ id: 7 });
    expect(problemsOf(regionLeaveSchema, { id: 7, reason: "bye" })[0]).toContain("reason");
  });
});

describe("region info and snapshots", () => {
  it("accepts a registry snapshot and refuses an unknown status", () => {
    const snapshot = { root: 1, revision: 3, regions: [region(1), region(2, { status: "dead" })] };
    expect(registrySnapshotSchema.parse(snapshot)).toEqual(snapshot);
    expect(problemsOf(regionInfoSchema, { ...region(2), status: "gone" })[0]).toMatch(/^status:/);
    expect(problemsOf(regionInfoSchema, { ...region(2), since: -5 })[0]).toMatch(/^since:/);
  });

  it("pages a large snapshot under the page bound and joins the pages in any order", () => {
    const regions = Array.from({ length: 1500 }, (_, i) => region(i + 1));
    const pages = snapshotPages({ root: 1, revision: 9, regions });
    expect(pages.map((p) => p.regions.length)).toEqual([512, 512, 476]);
    for (const page of pages) expect(registrySnapshotPageSchema.parse(page)).toEqual(page);
    expect(joinSnapshotPages([pages[2]!, pages[0]!, pages[1]!])).toEqual({
      snapshot: { root: 1, revision: 9, regions },
    });
    expect(snapshotPages({ root: 1, revision: 1, regions: [] })).toEqual([
      { root: 1, revision: 1, page: 0, pages: 1, regions: [] },
    ]);
  });

  it("keeps the largest page of worst-case entries under NATS's 1 MiB payload", () => {
    const url = `nats://${"h".repeat(1024 - 12)}:4222`;
    const big = (id: number): RegionInfo =>
      region(id, { name: "n".repeat(64), url, parent: 65_535, since: 2 ** 52, lastSeen: 2 ** 52 });
    expect(regionInfoSchema.parse(big(1))).toEqual(big(1));
    const page = snapshotPages({
      root: 1,
      revision: 2 ** 52,
      regions: Array.from({ length: REGISTRY_PAGE_REGIONS }, (_, i) => big(i + 1)),
    })[0]!;
    expect(msgpackCodec.encode(page).byteLength).toBeLessThan(1024 * 1024);
    expect(MAX_SNAPSHOT_PAGES * REGISTRY_PAGE_REGIONS).toBeGreaterThanOrEqual(65_535);
  });

  it("refuses an oversized page, a page past the last, and half a snapshot", () => {
    const regions = Array.from({ length: REGISTRY_PAGE_REGIONS + 1 }, (_, i) => region(i + 1));
    expect(
      problemsOf(registrySnapshotPageSchema, { root: 1, revision: 1, page: 0, pages: 1, regions }),
    ).toEqual([`regions: at most ${REGISTRY_PAGE_REGIONS} regions a page`]);
    expect(
      problemsOf(registrySnapshotPageSchema, {
        root: 1,
        revision: 1,
        page: 2,
        pages: 2,
        regions: [],
      }),
    ).toEqual(["page: page is past the last page"]);
    const pages = snapshotPages({ root: 1, revision: 4, regions });
    expect(joinSnapshotPages([pages[0]!])).toEqual({ problem: "1 of 2 pages are missing" });
    expect(joinSnapshotPages([pages[0]!, pages[0]!])).toEqual({ problem: "page 0 came twice" });
    expect(joinSnapshotPages([pages[0]!, { ...pages[1]!, revision: 5 }])).toEqual({
      problem: "page 1 belongs to another snapshot (revision 5)",
    });
    expect(joinSnapshotPages([])).toEqual({ problem: "no pages" });
  });

  it("refuses a whole snapshot of more regions than there are region ids", () => {
    const regions = Array.from({ length: 65_536 }, () => region(2));
    const problems = problemsOf(registrySnapshotSchema, { root: 1, revision: 1, regions });
    expect(problems).toContain("regions: at most 65535 regions");
  });
});

describe("link-state adverts", () => {
  const advert = { origin: 3, seq: 12, issuedAt: 1_700_000_000_000, links: [{ to: 1, cost: 4.5 }] };

  it("accepts links with finite costs, zero included", () => {
    const zero = { ...advert, links: [...advert.links, { to: 2, cost: 0 }] };
    expect(linkStateAdvertSchema.parse(zero)).toEqual(zero);
  });

  it("refuses infinite, negative and missing costs", () => {
    for (const cost of [Number.POSITIVE_INFINITY, -1, Number.NaN, undefined]) {
      const problems = problemsOf(linkStateAdvertSchema, { ...advert, links: [{ to: 1, cost }] });
      expect(problems[0]).toMatch(/^links\.0\.cost:/);
    }
  });

  it("refuses more than 64 links, a link to itself and a neighbour twice", () => {
    const many = Array.from({ length: MAX_LINKS + 1 }, (_, i) => ({ to: i + 10, cost: 1 }));
    expect(problemsOf(linkStateAdvertSchema, { ...advert, links: many })).toEqual([
      "links: at most 64 links",
    ]);
    expect(
      problemsOf(linkStateAdvertSchema, {
        ...advert,
        links: [
          { to: 3, cost: 1 },
          { to: 1, cost: 1 },
          { to: 1, cost: 2 },
        ],
      }),
    ).toEqual(["links.0.to: a link to itself", "links.2.to: 1 twice"]);
  });
});

describe("probes", () => {
  it("carries the four times of a probe and the replier's load", () => {
    expect(probeSchema.parse({ t1: 10.25, from: 2 })).toEqual({ t1: 10.25, from: 2 });
    const reply = { t1: 10, t2: 15, t3: 15.5, from: 3, load: 0.25 };
    expect(probeReplySchema.parse(reply)).toEqual(reply);
  });

  it("refuses a load outside 0..1 and a reply sent before it arrived", () => {
    const reply = { t1: 10, t2: 15, t3: 15.5, from: 3, load: 0.25 };
    expect(problemsOf(probeReplySchema, { ...reply, load: 1.5 })[0]).toMatch(/^load:/);
    expect(problemsOf(probeReplySchema, { ...reply, t3: 14 })).toEqual(["t3: t3 is before t2"]);
  });
});

describe("command-line replies", () => {
  it("describes regions, links and routes, infinite costs as null", () => {
    const regions = {
      self: 2,
      revision: 5,
      regions: [{ ...region(1), reachable: true, clockOffsetMs: -3.5 }],
    };
    expect(regionsReplySchema.parse(regions)).toEqual(regions);
    const links = {
      self: 2,
      links: [
        { to: 1, name: "r1", up: true, open: true, latencyMs: 12, cost: 12.5 },
        { to: 3, up: false, open: false, cost: null },
      ],
    };
    expect(linksReplySchema.parse(links)).toEqual(links);
    const route = { from: 2, to: 3, reachable: true, cost: 20, path: [2, 1, 3] };
    expect(routeReplySchema.parse(route)).toEqual(route);
    expect(problemsOf(routeReplySchema, { ...route, cost: Number.POSITIVE_INFINITY })[0]).toMatch(
      /^cost:/,
    );
  });
});

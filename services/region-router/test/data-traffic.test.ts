import { describe, expect, it } from "vitest";
import { mergeDataFigures, withDataTraffic } from "../src/data-traffic.ts";

/** A `$SRV.STATS` reply of a sql-join worker carrying `dataRegions`. */
function statsReply(deployment: string, pairs: unknown[]): unknown {
  const data = { in_flight: 0, dataRegions: pairs };
  return {
    metadata: { deployment },
    endpoints: [
      { name: "sql", data },
      { name: "data-get", data },
    ],
  };
}

const pair = (to: number, figures: Record<string, number | null>) => ({
  from: 1,
  to,
  requests: 0,
  bytes: 0,
  replicaHits: 0,
  evictions: 0,
  dropped: 0,
  feedErrors: 0,
  replicas: 0,
  replicaBytes: 0,
  stalenessMs: null,
  ...figures,
});

describe("the routers' data traffic figures", () => {
  it("sums counters over workers, takes the shared store once and the freshest staleness", () => {
    const merged = mergeDataFigures(
      [
        statsReply("entente", [
          pair(2, { requests: 3, bytes: 100, replicaHits: 5, replicas: 4, replicaBytes: 400 }),
        ]),
        statsReply("entente", [
          pair(2, { requests: 1, bytes: 10, replicaHits: 2, replicas: 4, replicaBytes: 420 }),
          pair(3, { requests: 7, stalenessMs: 900 }),
        ]),
        statsReply("entente", [pair(3, { evictions: 2, stalenessMs: 300 })]),
      ],
      "entente",
      1,
    );
    expect(merged.get(2)).toMatchObject({
      requests: 4,
      bytes: 110,
      replicaHits: 7,
      replicas: 4,
      replicaBytes: 420,
      stalenessMs: null,
    });
    expect(merged.get(3)).toMatchObject({ requests: 7, evictions: 2, stalenessMs: 300 });
  });

  it("ignores other deployments, other regions' pairs and anything unreadable", () => {
    const merged = mergeDataFigures(
      [
        statsReply("other", [pair(2, { requests: 9 })]),
        statsReply("entente", [{ ...pair(2, { requests: 1 }), from: 5 }]),
        statsReply("entente", [pair(2, { requests: -4, bytes: Number.NaN }), "junk", null]),
        { metadata: { deployment: "entente" }, endpoints: "no" },
        undefined,
        "garbage",
      ],
      "entente",
      1,
    );
    expect([...merged.keys()]).toEqual([2]);
    expect(merged.get(2)).toMatchObject({ requests: 0, bytes: 0 });
  });

  it("adds the figures to the routers' view, and the regions read only by id", () => {
    const figures = mergeDataFigures(
      [statsReply("entente", [pair(2, { replicaHits: 1 }), pair(4, { requests: 2 })])],
      "entente",
      1,
    );
    const view = withDataTraffic(
      {
        self: 1,
        to: [
          { region: 2, requests: 5, requestBytes: 50, replyBytes: 60 },
          { region: 3, requests: 1, requestBytes: 1, replyBytes: 1 },
        ],
      },
      figures,
    );
    expect(view.to.map((t) => [t.region, t.requests, t.data?.replicaHits])).toEqual([
      [2, 5, 1],
      [3, 1, undefined],
      [4, 0, 0],
    ]);
  });
});

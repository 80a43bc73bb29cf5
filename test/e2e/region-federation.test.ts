/**
 * A query-federation instance in another region (`kind: region`): the root region's federation
 * asks eu's federation through the region routers, with the same exact merges as within one
 * region. Two regions, each its own nats-server.
 */
import { type AnswerItem, joinAnswerItems, SUBJECTS } from "@entente/protocol";
import { queryFederationService } from "@entente/query-federation";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventually,
  startRegion,
  type TestRegion,
} from "../../services/region-router/test/regions.ts";

async function hostFederation(region: TestRegion, yaml: string) {
  const nc = await connect({ servers: region.nats.url, noAsyncTraces: true });
  const config = loadConfig({
    text: `region: { name: ${region.name}, id: ${region.id} }\nlog: { level: silent }\n${yaml}`,
    env: { NATS_URL: region.nats.url },
  });
  const service = await HostedService.start(queryFederationService, {
    nc,
    config,
    client: new EntenteClient(nc, { region: region.name, regionId: region.id }),
    logger: createLogger({ service: `federation ${region.name}`, level: "silent" }),
  });
  return {
    async stop() {
      await service.stop(1_000);
      await nc.close();
    },
  };
}

describe("a federation instance in another region", () => {
  let root: TestRegion;
  let eu: TestRegion;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    root = await startRegion({ name: "root", id: 1 });
    eu = await startRegion({ name: "eu", id: 2, parent: "root", join: root.nats.url });
    // eu: the embedded default's two DuckDB instances with a day of demo metrics.
    stops.push((await hostFederation(eu, "")).stop);
    // root: eu's federation as one instance, reached through the routers.
    stops.push(
      (
        await hostFederation(
          root,
          "instances:\n  eu: { kind: region, region: eu }\nqueryFederation: { ingest: { enabled: false } }\n",
        )
      ).stop,
    );
    await eventually("eu reachable from root", () =>
      root.client.request(SUBJECTS.diagnostics.info, {}, { region: "eu", timeoutMs: 1_000 }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await eu?.stop();
    await root?.stop();
  });

  const ask = async (client: EntenteClient, body: unknown): Promise<AnswerItem> =>
    joinAnswerItems(await client.collect(SUBJECTS.query, body, { timeoutMs: 10_000 }));

  it("answers exactly what eu's own federation answers, merged from its partials", async () => {
    const end = new Date();
    const start = new Date(end.getTime() - 6 * 3_600_000);
    for (const fn of ["sum", "avg", "max", "count"]) {
      const query = {
        metric: "cpu_usage",
        start: start.toISOString(),
        end: end.toISOString(),
        aggregation: { function: fn, window: "1h", by: ["host"] },
      };
      const direct = await ask(eu.client, query);
      const routed = await ask(root.client, query);
      expect(routed.partial, fn).toBeUndefined();
      expect(routed.points.length, fn).toBeGreaterThan(0);
      const key = (p: { timestamp: unknown; tags: Record<string, string> }) =>
        `${String(p.timestamp)}/${p.tags.host}`;
      const values = (a: AnswerItem) =>
        new Map(a.points.map((p) => [key(p as never), p.value] as const));
      const mine = values(routed);
      for (const [k, v] of values(direct)) {
        if (v === null) expect(mine.get(k), `${fn} ${k}`).toBeNull();
        else expect(mine.get(k) as number, `${fn} ${k}`).toBeCloseTo(v, 9);
      }
      expect(mine.size, fn).toBe(direct.points.length);
    }
  });

  it("names the region's instance and why when it cannot answer", async () => {
    await eu.stopServices();
    // Its only instance failed: the federation says which and why, as for any instance.
    await expect(ask(root.client, { metric: "cpu_usage" })).rejects.toMatchObject({
      message: expect.stringMatching(/eu: no worker in the destination region/),
    });
  });
});

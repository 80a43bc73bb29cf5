/** A region has one router: a second one on the same server is refused at start, naming the first. */
import { SUBJECTS } from "@entente/protocol";
import { createLogger, EntenteClient, HostedService, loadConfig } from "@entente/runtime";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { regionRouterService } from "../src/index.ts";
import { startRegion, type TestRegion } from "./regions.ts";

describe("a second router in a region", () => {
  let root: TestRegion;

  beforeAll(async () => {
    root = await startRegion({ name: "root", id: 1 });
  });

  afterAll(async () => {
    await root?.stop();
  });

  it("is refused at start, and the first keeps serving", async () => {
    const nc = await connect({ servers: root.nats.url, noAsyncTraces: true });
    try {
      const config = loadConfig({
        text: "region: { name: root, id: 1 }\nlog: { level: silent }\n",
        env: { NATS_URL: root.nats.url },
      });
      const started = HostedService.start(regionRouterService, {
        nc,
        config,
        client: new EntenteClient(nc),
        logger: createLogger({ service: "second router", level: "silent" }),
      });
      await expect(started).rejects.toThrow(
        /region root already has a region router \(worker \w+\): run one region-router per region/,
      );
    } finally {
      await nc.close();
    }
    const view = await root.client.request<{ self: number }>(SUBJECTS.router.regions, {});
    expect(view.self).toBe(1);
  });
});

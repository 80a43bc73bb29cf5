/**
 * Three regions, each its own nats-server, in a line: root ◄─ mid ◄─ leaf. The leaf joins
 * through the root; a request from the leaf to the root's diagnostics is relayed by mid.
 */
import {
  encodeId,
  type RegionsReply,
  SUBJECTS,
  type TrafficReply,
  type WorkerInfo,
} from "@entente/protocol";
import { EntenteClient } from "@entente/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, startRegion, type TestRegion } from "./regions.ts";

describe("three regions in a line", () => {
  const regions: TestRegion[] = [];

  beforeAll(async () => {
    const root = await startRegion({ name: "root", id: 1 });
    regions.push(root);
    regions.push(await startRegion({ name: "mid", id: 2, parent: "root", join: root.nats.url }));
    regions.push(await startRegion({ name: "leaf", id: 3, parent: "mid", join: root.nats.url }));
  }, 60_000);

  afterAll(async () => {
    for (const region of [...regions].reverse()) await region.stop();
  });

  it("converges on one registry in every region", async () => {
    for (const region of regions) {
      const view = await eventually(`registry of ${region.name}`, async () => {
        const reply = await region.client.request<RegionsReply>(SUBJECTS.router.regions, {});
        return reply.regions.length === 3 && reply.regions.every((r) => r.reachable)
          ? reply
          : undefined;
      });
      expect(view.regions.map((r) => [r.id, r.name, r.parent ?? null, r.status])).toEqual([
        [1, "root", null, "active"],
        [2, "mid", 1, "active"],
        [3, "leaf", 2, "active"],
      ]);
    }
  });

  it("relays a request from the leaf to the root through mid, and back", async () => {
    const leaf = regions.find((r) => r.name === "leaf") as TestRegion;
    const info = await leaf.client.request<WorkerInfo>(
      SUBJECTS.routed("root", SUBJECTS.diagnostics.info),
      {},
    );
    expect(info.region).toBe("root");
    const byId = await leaf.client.request<WorkerInfo>(
      SUBJECTS.routed(1, SUBJECTS.diagnostics.info),
      {},
    );
    expect(byId.regionId).toBe(1);
    const route = await leaf.client.request<{ path: number[] }>(SUBJECTS.router.route, {
      to: "root",
    });
    expect(route.path).toEqual([3, 2, 1]);
  });

  it("routes by region name, id or the owner of an id through the client", async () => {
    const leaf = regions.find((r) => r.name === "leaf") as TestRegion;
    const client = new EntenteClient(leaf.clientNc, { region: "leaf", regionId: 3 });
    const byName = await client.request<WorkerInfo>(
      SUBJECTS.diagnostics.info,
      {},
      { region: "root" },
    );
    expect(byName.region).toBe("root");
    const owned = encodeId(2, 12_345n);
    const byOwner = await client.request<WorkerInfo>(
      SUBJECTS.diagnostics.info,
      {},
      { owner: owned },
    );
    expect(byOwner.region).toBe("mid");
    // Its own region's requests never leave it.
    const local = await client.request<WorkerInfo>(SUBJECTS.diagnostics.info, {}, { region: 3 });
    expect(local.region).toBe("leaf");
  });

  it("carries a streamed reply with its flow control across two relays", async () => {
    const leaf = regions.find((r) => r.name === "leaf") as TestRegion;
    // A small credit window: the producer in root waits for credit sent back from leaf.
    const client = new EntenteClient(leaf.clientNc, { region: "leaf", regionId: 3, credit: 2 });
    const bytes = 3 * 1024 * 1024;
    let received = 0;
    let items = 0;
    for await (const item of client.stream<{ index: number; data: Uint8Array }>(
      SUBJECTS.diagnostics.stream,
      { bytes, itemBytes: 64 * 1024 },
      { region: "root" },
    )) {
      expect(item.index).toBe(items);
      items++;
      received += item.data.length;
    }
    expect(received).toBe(bytes);
  });

  it("says clearly when a region is unknown", async () => {
    const leaf = regions.find((r) => r.name === "leaf") as TestRegion;
    await expect(
      leaf.client.request(SUBJECTS.routed("atlantis", SUBJECTS.diagnostics.info), {}),
    ).rejects.toMatchObject({ code: "NOT_FOUND", message: expect.stringMatching(/atlantis/) });
  });

  it("counts each region's own requests to others where they enter the routers", async () => {
    const [root, mid, leaf] = regions as [TestRegion, TestRegion, TestRegion];
    const before = await leaf.client.request<TrafficReply>(SUBJECTS.router.traffic, {});
    const toRoot = before.to.find((t) => t.region === 1)?.requests ?? 0;
    await leaf.client.request(
      SUBJECTS.diagnostics.echo,
      { payload: "x".repeat(1000) },
      { region: 1 },
    );
    const after = await leaf.client.request<TrafficReply>(SUBJECTS.router.traffic, {});
    const row = after.to.find((t) => t.region === 1);
    expect(row?.requests).toBe(toRoot + 1);
    expect(row?.requestBytes).toBeGreaterThan(1000);
    expect(row?.replyBytes).toBeGreaterThan(1000);
    // mid relayed the leaf's requests but sent none of its own; root sent none either.
    expect((await mid.client.request<TrafficReply>(SUBJECTS.router.traffic, {})).to).toEqual([]);
    // Asked from root, through the routers, the leaf's row is the same.
    const remote = await root.client.request<TrafficReply>(
      SUBJECTS.router.traffic,
      {},
      { region: 3 },
    );
    expect(remote.self).toBe(3);
    expect(remote.to.find((t) => t.region === 1)?.requests).toBe(toRoot + 1);
  });

  it("lets a region leave: marked departed everywhere, and no longer reachable", async () => {
    const [root, , leaf] = regions as [TestRegion, TestRegion, TestRegion];
    const reply = await leaf.client.request<{ left: boolean; unconfirmed?: string }>(
      SUBJECTS.router.depart,
      {},
      { timeoutMs: 15_000 },
    );
    expect(reply).toEqual({ left: true, region: 3 });
    for (const region of regions) {
      await eventually(`leaf departed in ${region.name}`, async () => {
        const view = await region.client.request<RegionsReply>(SUBJECTS.router.regions, {});
        return view.regions.find((r) => r.id === 3)?.status === "departed" ? view : undefined;
      });
    }
    await expect(
      root.client.request(SUBJECTS.routed("leaf", SUBJECTS.diagnostics.info), {}),
    ).rejects.toMatchObject({ code: "UNAVAILABLE", message: expect.stringMatching(/departed/) });
    // The root itself cannot leave.
    await expect(root.client.request(SUBJECTS.router.depart, {})).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
  });
});

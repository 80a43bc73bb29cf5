/**
 * One trace across two relays: a request from leaf to root's diagnostics, relayed by leaf's and
 * mid's routers, is one trace in which each relay has a server span (the hop that reached it)
 * and a client span (the hop it sent on), each the child of the one before, carrying the source
 * and destination regions. Tracing is process-wide: started once, for this file.
 */
import { SUBJECTS, type WorkerInfo } from "@entente/protocol";
import { EntenteClient, HOP_ATTRIBUTES, startTracing, type Tracing } from "@entente/runtime";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "@entente/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, routed, startRegion, type TestRegion } from "./regions.ts";

describe("one trace across relays", () => {
  let receiver: OtlpReceiver;
  let tracing: Tracing;
  const regions: TestRegion[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    tracing = await startTracing({ serviceName: "regions", exporter: receiver.tracesUrl });
    const root = await startRegion({ name: "root", id: 1 });
    regions.push(root);
    regions.push(await startRegion({ name: "mid", id: 2, parent: "root", join: root.nats.url }));
    regions.push(await startRegion({ name: "leaf", id: 3, parent: "mid", join: root.nats.url }));
  }, 60_000);

  afterAll(async () => {
    for (const region of [...regions].reverse()) await region.stop();
    await tracing?.shutdown();
    await receiver?.close();
  });

  it("shows leaf → mid → root as one trace with client and server spans at each relay", async () => {
    const leaf = regions[2]!;
    const client = new EntenteClient(leaf.clientNc, { region: "leaf" });
    const subject = routed("root", SUBJECTS.diagnostics.info);
    await eventually("the route from leaf to root", async () => {
      const route = await client.request<{ path: number[] }>(SUBJECTS.router.route, { to: 1 });
      return route.path.length === 3 ? route : undefined;
    });
    receiver.clear();
    const info = await client.request<WorkerInfo>(subject, {});
    expect(info.region).toBe("root");
    await tracing.forceFlush();

    const [caller] = await receiver.waitForSpans(
      (s) => s.kindName === "CLIENT" && s.name === `send ${subject}`,
    );
    const traceId = caller!.traceId;
    const info_ = SUBJECTS.diagnostics.info;
    const inTrace = (s: ReceivedSpan) => s.traceId === traceId;
    // Two relays × (server + client), and the diagnostics server span in root.
    const spans = await receiver.waitForSpans(
      (s) => inTrace(s) && s.attributes[HOP_ATTRIBUTES.subject] === info_,
      { count: 5, timeoutMs: 15_000 },
    );
    const router = (kind: string, region: string) =>
      spans.find(
        (s) =>
          s.kindName === kind &&
          s.attributes[HOP_ATTRIBUTES.service] === "region-router" &&
          s.attributes[
            kind === "SERVER" ? HOP_ATTRIBUTES.destinationRegion : HOP_ATTRIBUTES.sourceRegion
          ] === region,
      );
    const leafIn = router("SERVER", "leaf");
    const leafOut = router("CLIENT", "leaf");
    const midIn = router("SERVER", "mid");
    const midOut = router("CLIENT", "mid");
    const rootIn = spans.find(
      (s) =>
        s.kindName === "SERVER" &&
        s.attributes[HOP_ATTRIBUTES.service] !== "region-router" &&
        s.attributes[HOP_ATTRIBUTES.destinationRegion] === "root",
    );
    for (const span of [leafIn, leafOut, midIn, midOut, rootIn]) expect(span).toBeDefined();

    // One chain, each span the child of the hop before it.
    expect(leafIn!.parentSpanId).toBe(caller!.spanId);
    expect(leafOut!.parentSpanId).toBe(leafIn!.spanId);
    expect(midIn!.parentSpanId).toBe(leafOut!.spanId);
    expect(midOut!.parentSpanId).toBe(midIn!.spanId);
    expect(rootIn!.parentSpanId).toBe(midOut!.spanId);

    expect(leafOut!.attributes).toMatchObject({
      [HOP_ATTRIBUTES.sourceRegion]: "leaf",
      [HOP_ATTRIBUTES.destinationRegion]: "mid",
    });
    expect(midOut!.attributes).toMatchObject({
      [HOP_ATTRIBUTES.sourceRegion]: "mid",
      [HOP_ATTRIBUTES.destinationRegion]: "root",
    });
    expect(midIn!.attributes[HOP_ATTRIBUTES.sourceRegion]).toBe("leaf");
    expect(rootIn!.attributes[HOP_ATTRIBUTES.sourceRegion]).toBe("leaf");
  }, 40_000);
});

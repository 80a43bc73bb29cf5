/**
 * A saga is one trace: the caller's request, the saga's span, a span per step execution and
 * the step's own request, each the child of the one before; a saga resumed by another worker
 * opens its span under the saga's first, in the same trace. A worker that stops lets its sagas
 * go at once, so the other takes them up without waiting out the lease. Tracing is
 * process-wide: started once, for this file, with the services hosted on it.
 */
import { type SagaGetReply, type SagaStartReply, SUBJECTS } from "@entente/protocol";
import {
  createLogger,
  EntenteClient,
  HOP_ATTRIBUTES,
  HostedService,
  loadConfig,
  startTracing,
  type Tracing,
} from "@entente/runtime";
import {
  eventually,
  type NatsServer,
  type OtlpReceiver,
  type ReceivedSpan,
  startNatsServer,
  startOtlpReceiver,
} from "@entente/testkit";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sagasService } from "../src/index.ts";
import { Responder, requestSteps } from "./helpers.ts";

let receiver: OtlpReceiver;
let tracing: Tracing;
let nats: NatsServer;
let nc: NatsConnection;
let client: EntenteClient;
const hosts: Array<{ hosted: HostedService; nc: NatsConnection }> = [];

async function host(): Promise<{ hosted: HostedService; nc: NatsConnection }> {
  const config = loadConfig({
    text: JSON.stringify({
      nats: { servers: [nats.url] },
      // A long lease: only a worker letting the saga go can hand it over within the test.
      sagas: { leaseMs: 600_000, resumeEveryMs: 200 },
    }),
    env: {},
  });
  const own = await connect({ servers: nats.url });
  const logger = createLogger({ service: "sagas", level: "silent" });
  const hosted = await HostedService.start(sagasService, {
    nc: own,
    config,
    client: new EntenteClient(own),
    logger,
  });
  const h = { hosted, nc: own };
  hosts.push(h);
  return h;
}

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  tracing = await startTracing({ serviceName: "sagas", exporter: receiver.tracesUrl });
  nats = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: nats.url });
  client = new EntenteClient(nc);
}, 60_000);

afterAll(async () => {
  for (const h of hosts) {
    await h.hosted.stop(1_000).catch(() => {});
    await h.nc.close();
  }
  await nc?.close();
  await nats?.stop();
  await tracing?.shutdown();
  await receiver?.close();
});

const named = (name: string) => (s: ReceivedSpan) => s.name === name;

describe("tracing a saga", () => {
  it("is one trace across its steps and across the worker that resumes it", async () => {
    const first = await host();
    // Step 1 is held the first time: the first worker stops in the middle of it.
    const r = new Responder(nc, "test.traced", (what, repeat) =>
      what === "do.1" && repeat === 0 ? "hang" : "ok",
    );
    try {
      receiver.clear();
      const started = await client.request<SagaStartReply>(SUBJECTS.saga, {
        op: "start",
        saga: requestSteps(r, 3),
        id: "traced",
      });
      const traceId = started.saga.traceId;
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      await eventually("step 1 under way", () => (r.order().includes("do.1") ? true : undefined));
      await first.hosted.stop(1_000);

      await host();
      await eventually("the saga finished by the second worker", async () => {
        const { saga } = await client.request<SagaGetReply>(SUBJECTS.saga, {
          op: "get",
          id: "traced",
        });
        return saga.state === "completed" ? saga : undefined;
      });
      expect(r.order()).toEqual(["do.0", "do.1", "do.1", "do.2"]);
      await tracing.forceFlush();

      const [root] = await receiver.waitForSpans(named("saga inline"));
      const [resumed] = await receiver.waitForSpans(named("saga inline (resumed)"));
      await receiver.waitForSpans((s) => s.name.startsWith("saga step"), { count: 4 });
      expect(root?.traceId).toBe(traceId);
      expect(resumed?.traceId).toBe(traceId);
      expect(resumed?.parentSpanId).toBe(root?.spanId);
      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      const steps = spans.filter((s) => s.name.startsWith("saga step"));
      expect(steps.map((s) => s.attributes["entente.saga.idempotency_key"]).sort()).toEqual([
        "traced.0.action",
        "traced.1.action",
        "traced.1.action",
        "traced.2.action",
      ]);
      // Each step's request is a child of its step's span, which is a child of a saga span.
      for (const step of steps) {
        expect([root?.spanId, resumed?.spanId]).toContain(step.parentSpanId);
      }
      const requests = spans.filter(
        (s) =>
          s.kindName === "CLIENT" &&
          String(s.attributes[HOP_ATTRIBUTES.subject] ?? "").startsWith("test.traced."),
      );
      expect(requests.length).toBe(4);
      const stepIds = new Set(steps.map((s) => s.spanId));
      for (const request of requests) expect(stepIds.has(request.parentSpanId ?? "")).toBe(true);
    } finally {
      r.stop();
    }
  }, 60_000);
});

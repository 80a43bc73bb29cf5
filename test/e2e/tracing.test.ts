import { SUBJECTS } from "@entente/protocol";
import { EntenteClient, HOP_ATTRIBUTES, startTracing, type Tracing } from "@entente/runtime";
import {
  type ManagedProcess,
  type NatsServer,
  type OtlpReceiver,
  startNatsServer,
  startOtlpReceiver,
} from "@entente/testkit";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorkerProcess } from "./workers.ts";

describe("one trace across two processes", () => {
  let receiver: OtlpReceiver;
  let server: NatsServer;
  let worker: ManagedProcess;
  let tracing: Tracing;
  let nc: NatsConnection;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    server = await startNatsServer();
    worker = await startWorkerProcess({
      natsUrl: server.url,
      env: {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.tracesUrl,
        OTEL_BSP_SCHEDULE_DELAY: "50",
        ENTENTE_REGION__NAME: "eu-west",
      },
    });
    tracing = await startTracing({ serviceName: "e2e-caller", exporter: receiver.tracesUrl });
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await tracing?.shutdown();
    await worker?.kill();
    await server?.stop();
    await receiver?.close();
  });

  it("shows the client span in the caller and the server span in the worker as its child", async () => {
    const client = new EntenteClient(nc, { region: "us-east" });
    await client.request(
      SUBJECTS.diagnostics.echo,
      { payload: "traced" },
      { service: "diagnostics", destinationRegion: "eu-west" },
    );
    await tracing.forceFlush();

    const [clientSpan] = await receiver.waitForSpans(
      (s) => s.kindName === "CLIENT" && s.name === `send ${SUBJECTS.diagnostics.echo}`,
    );
    const [serverSpan] = await receiver.waitForSpans(
      (s) => s.kindName === "SERVER" && s.traceId === clientSpan!.traceId,
      { timeoutMs: 15_000 },
    );

    expect(clientSpan!.resource["service.name"]).toBe("e2e-caller");
    expect(serverSpan!.resource["service.name"]).toBe("entente-diagnostics");
    expect(serverSpan!.parentSpanId).toBe(clientSpan!.spanId);
    expect(serverSpan!.name).toBe(`process ${SUBJECTS.diagnostics.echo}`);

    expect(clientSpan!.attributes).toMatchObject({
      [HOP_ATTRIBUTES.system]: "nats",
      [HOP_ATTRIBUTES.subject]: SUBJECTS.diagnostics.echo,
      [HOP_ATTRIBUTES.service]: "diagnostics",
      [HOP_ATTRIBUTES.sourceRegion]: "us-east",
      [HOP_ATTRIBUTES.destinationRegion]: "eu-west",
    });
    expect(clientSpan!.attributes[HOP_ATTRIBUTES.requestBytes]).toBeGreaterThan(0);
    expect(clientSpan!.attributes[HOP_ATTRIBUTES.responseBytes]).toBeGreaterThan(0);
    expect(clientSpan!.attributes[HOP_ATTRIBUTES.serverTimeUs]).toBeGreaterThan(0);

    expect(serverSpan!.attributes).toMatchObject({
      [HOP_ATTRIBUTES.subject]: SUBJECTS.diagnostics.echo,
      [HOP_ATTRIBUTES.service]: "diagnostics",
      [HOP_ATTRIBUTES.sourceRegion]: "us-east",
      [HOP_ATTRIBUTES.destinationRegion]: "eu-west",
    });
    expect(serverSpan!.attributes[HOP_ATTRIBUTES.responseBytes]).toBeGreaterThan(0);
  });
});

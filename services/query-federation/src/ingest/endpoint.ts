/** `<subjectPrefix>.<instance>` as an endpoint of the service: same runtime path as queries. */
import { configFingerprint, type EndpointDefinition, endpoint } from "@entente/runtime";
import { Match } from "@nats-io/nats-core";
import { z } from "zod";
import type { IngestGate } from "./gate.ts";
import { type IngestSettings, instanceOfPublicSubject, publicSubjects } from "./streams.ts";

/** The JetStream header publishers already use to make retries idempotent. */
const MSG_ID_HEADER = "Nats-Msg-Id";

export function ingestEndpoint(
  gate: IngestGate,
  settings: IngestSettings,
  instances: ReadonlySet<string>,
): EndpointDefinition {
  return endpoint({
    name: "ingest",
    subject: publicSubjects(settings),
    // Workers that differ in how they store points validate alike if they take the same names.
    fingerprint: configFingerprint({ instances: [...instances].sort(), settings }),
    // Each point is checked on its own, so one bad point is named instead of failing the batch.
    schema: z.unknown(),
    description: "Validates a batch of points into the ingest stream: { accepted, rejected }",
    handler: (batch, context) =>
      gate.ingest(instanceOfPublicSubject(settings, context.subject), batch, {
        msgId: context.headers?.get(MSG_ID_HEADER, Match.IgnoreCase) || undefined,
        timeoutMs: context.deadline.remainingMs(),
      }),
  });
}

import type { EndpointStats } from "./stats.ts";

/**
 * The NATS services API ("micro", ADR-32) discovery protocol: every worker answers
 * `$SRV.PING|INFO|STATS`, `$SRV.<verb>.<name>` and `$SRV.<verb>.<name>.<id>`, so `nats micro
 * ls`, `nats micro stats` and `entente status` find every running worker.
 */

export const MICRO_VERBS = ["PING", "INFO", "STATS"] as const;
export type MicroVerb = (typeof MICRO_VERBS)[number];

export function discoverySubjects(verb: MicroVerb, name: string, id: string): string[] {
  return [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.${id}`];
}

export interface ServiceIdentity {
  name: string;
  id: string;
  version: string;
  description: string;
  metadata: Record<string, string>;
  started: string;
}

export interface EndpointInfo {
  name: string;
  subject: string;
  queue_group: string;
  metadata?: Record<string, string>;
}

export function pingResponse(identity: ServiceIdentity) {
  const { name, id, version, metadata } = identity;
  return { type: "io.nats.micro.v1.ping_response", name, id, version, metadata };
}

export function infoResponse(identity: ServiceIdentity, endpoints: EndpointInfo[]) {
  const { name, id, version, description, metadata } = identity;
  return {
    type: "io.nats.micro.v1.info_response",
    name,
    id,
    version,
    description,
    metadata,
    endpoints,
  };
}

export function statsResponse(
  identity: ServiceIdentity,
  endpoints: Array<{ info: EndpointInfo; stats: EndpointStats }>,
  data: Record<string, unknown> | undefined,
) {
  const { name, id, version, metadata, started } = identity;
  return {
    type: "io.nats.micro.v1.stats_response",
    name,
    id,
    version,
    metadata,
    started,
    endpoints: endpoints.map(({ info, stats }) => ({
      name: info.name,
      subject: info.subject,
      queue_group: info.queue_group,
      num_requests: stats.numRequests,
      num_errors: stats.numErrors,
      last_error: stats.lastError,
      processing_time: stats.processingTimeNs,
      average_processing_time: stats.averageProcessingTimeNs,
      data: {
        in_flight: stats.inFlight,
        bytes_in: stats.bytesIn,
        bytes_out: stats.bytesOut,
        rejected_controls: stats.rejectedControls,
        ...data,
      },
    })),
  };
}

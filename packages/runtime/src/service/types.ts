import type { DeploymentSubjects } from "@entente/protocol";
import type { MsgHdrs, NatsConnection } from "@nats-io/nats-core";
import type { Context } from "@opentelemetry/api";
import type { z } from "zod";
import type { EntenteClient } from "../client.ts";
import type { LoadedConfig } from "../config/load.ts";
import type { Deadline } from "../deadline.ts";
import type { Logger } from "../logger.ts";
import type { ReplyBody } from "../stream/types.ts";
import type { HttpFrontDoor, HttpFrontDoorOptions, HttpRoute } from "./http-door.ts";

/** What a handler is given besides its validated request. */
export interface RequestContext {
  subject: string;
  headers: MsgHdrs | undefined;
  /** When the caller stops waiting; pass it to every downstream call. */
  deadline: Deadline;
  /** Aborted at the deadline, on the caller's cancel and on a forced shutdown. */
  signal: AbortSignal;
  /** The server span's context: downstream calls made with it become its children. */
  trace: Context;
  logger: Logger;
}

/** A handler's answer: a plain value (one reply) or `streamOf(items)` (batched rows). */
export type HandlerResult = unknown;

export interface EndpointDefinition<S extends z.ZodType = z.ZodType> {
  /** Name in the NATS services API (`$SRV.INFO`): letters, digits, '-' and '_'. */
  name: string;
  subject: string;
  /** Defaults to the service's queue group; `false` makes every worker receive every message. */
  queue?: string | false;
  /** Validates the decoded request; a failure is answered with BAD_REQUEST naming the fields. */
  schema?: S;
  description?: string;
  /** Overrides `runtime.maxRequestBytes` for this endpoint. */
  maxRequestBytes?: number;
  /**
   * What this endpoint's answers depend on, when that is less than its service's whole
   * `fingerprint` (an endpoint shared by workers that differ elsewhere).
   */
  fingerprint?: string;
  handler: (
    request: z.output<S>,
    context: RequestContext,
  ) => HandlerResult | Promise<HandlerResult>;
}

/** What a service may use when it starts. */
export interface ServiceEnvironment {
  nc: NatsConnection;
  /** This deployment's subjects (`config.deployment`), for the endpoints and for calls. */
  subjects: DeploymentSubjects;
  config: LoadedConfig;
  client: EntenteClient;
  logger: Logger;
}

export interface ServiceDefinition {
  /** The service's name: its queue group, its `$SRV` name and its span attribute. */
  name: string;
  version: string;
  description: string;
  /**
   * The top-level configuration sections the service reads, with their schemas: the worker
   * validates them all before any service starts and reports every mistake at once.
   */
  sections?: Record<string, z.ZodType>;
  /** Builds the endpoints once the connection and configuration are there. */
  start(env: ServiceEnvironment): Promise<ServiceInstance> | ServiceInstance;
}

export interface ServiceInstance {
  endpoints: EndpointDefinition[];
  /** An HTTP front door onto these endpoints, opened once they listen on NATS. */
  http?: ServiceHttp;
  /** Called after the endpoints stopped and in-flight work finished. */
  stop?(): Promise<void> | void;
  /** Extra figures for `$SRV.STATS` (e.g. cache hits, circuit states). */
  stats?(): Record<string, unknown>;
  /**
   * A digest of the configuration that determines this service's answers (its catalog, its
   * instances). Workers of one service whose fingerprints differ refuse to serve together.
   */
  fingerprint?: string;
}

/** A service's own HTTP front door: its routes enter its endpoints. */
export interface ServiceHttp extends Omit<HttpFrontDoorOptions, "services" | "routes"> {
  routes: ReadonlyArray<Omit<HttpRoute, "service">>;
  /** Told once the door listens, e.g. to report the port it picked for port 0. */
  onListening?: (door: HttpFrontDoor) => void;
}

const STREAM = Symbol("entente.stream");

export interface StreamResult {
  readonly [STREAM]: true;
  readonly body: ReplyBody;
}

/** Marks a handler's result as items to stream in batches rather than one value. */
export function streamOf(items: AsyncIterable<unknown> | Iterable<unknown>): StreamResult {
  return { [STREAM]: true, body: { kind: "stream", items } };
}

export function replyBodyOf(result: HandlerResult): ReplyBody {
  if (typeof result === "object" && result !== null && STREAM in result) {
    return (result as StreamResult).body;
  }
  return { kind: "value", value: result };
}

/** Shorthand with the request type inferred from the schema. */
export function endpoint<S extends z.ZodType>(
  definition: EndpointDefinition<S>,
): EndpointDefinition {
  return definition as unknown as EndpointDefinition;
}

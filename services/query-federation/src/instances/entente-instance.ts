/**
 * Another federation reached over NATS (hierarchical federation: edge → regional → global).
 * It is asked for unmerged partials (or raw points) on its internal subject, so the merge one
 * level up stays exact; failures of its own instances come back and are reported here.
 */
import { EntenteError, federateSubject, isErrorReply } from "@entente/protocol";
import type { EntenteClient } from "@entente/runtime";
import type { PartialAggregate } from "../partials.ts";
import type { Point } from "../points.ts";
import type { FederatedQuery } from "../query.ts";
import { decodePartialAggregate, decodePoint, toFederateRequest } from "../wire.ts";
import { badResponse, tooManyPoints } from "./rows.ts";
import type {
  FetchOptions,
  InnerFailure,
  MetricInstance,
  PartialsResult,
  RawResult,
} from "./types.ts";

export interface EntenteInstanceOptions {
  name: string;
  client: EntenteClient;
  /** The other federation's query subject; its internal subject is `<subject>.federate`. */
  subject: string;
  /** The region it runs in, when not this one: the region routers carry the calls there. */
  region?: string | number;
}

export class EntenteInstance implements MetricInstance {
  readonly name: string;
  readonly kind = "entente" as const;
  private readonly client: EntenteClient;
  private readonly subject: string;
  private readonly region: string | number | undefined;

  constructor(options: EntenteInstanceOptions) {
    this.name = options.name;
    this.client = options.client;
    this.subject = federateSubject(options.subject);
    this.region = options.region;
  }

  async fetchRaw(query: FederatedQuery, options: FetchOptions): Promise<RawResult> {
    const points: Point[] = [];
    const failures = await this.read(query, "raw", options, (item) => {
      for (const p of item.points ?? []) {
        points.push(decodePoint(this.name, query.metric, p));
        if (points.length > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
      }
    });
    return { points, ...(failures.length > 0 ? { failures } : {}) };
  }

  async fetchPartials(query: FederatedQuery, options: FetchOptions): Promise<PartialsResult> {
    const partials: PartialAggregate[] = [];
    const failures = await this.read(query, "partials", options, (item) => {
      for (const p of item.partials ?? []) {
        partials.push(decodePartialAggregate(this.name, p));
        if (partials.length > options.maxPoints) throw tooManyPoints(this.name, options.maxPoints);
      }
    });
    return { partials, ...(failures.length > 0 ? { failures } : {}) };
  }

  private async read(
    query: FederatedQuery,
    want: "raw" | "partials",
    options: FetchOptions,
    onItem: (item: { points?: unknown[]; partials?: unknown[] }) => void,
  ): Promise<InnerFailure[]> {
    const failures: InnerFailure[] = [];
    const request = toFederateRequest({ ...query, timeoutMs: options.timeoutMs }, want);
    for await (const item of this.client.stream(this.subject, request, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      service: "query-federation",
      ...(this.region !== undefined ? { region: this.region } : {}),
    })) {
      if (isErrorReply(item)) throw EntenteError.fromBody(item.error);
      if (typeof item !== "object" || item === null || Array.isArray(item)) {
        throw badResponse(this.name, "the reply is not a federation reply object");
      }
      const reply = item as { points?: unknown; partials?: unknown; partial?: unknown };
      if (reply.points !== undefined && !Array.isArray(reply.points)) {
        throw badResponse(this.name, "points is not a list");
      }
      if (reply.partials !== undefined && !Array.isArray(reply.partials)) {
        throw badResponse(this.name, "partials is not a list");
      }
      if (
        reply.points === undefined &&
        reply.partials === undefined &&
        reply.partial === undefined
      ) {
        throw badResponse(this.name, "the reply carries neither points nor partials");
      }
      onItem(reply as { points?: unknown[]; partials?: unknown[] });
      const errors = (reply.partial as { errors?: unknown } | undefined)?.errors;
      if (Array.isArray(errors)) {
        for (const e of errors as Array<Record<string, unknown>>) {
          failures.push({
            instance: String(e.instance ?? "?"),
            code: String(e.code ?? "INTERNAL"),
            message: String(e.message ?? ""),
          });
        }
      }
    }
    return failures;
  }

  async close(): Promise<void> {}
}

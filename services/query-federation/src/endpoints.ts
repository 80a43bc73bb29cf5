/**
 * The service's front doors onto a federator: `<subject>` (a federated query), its internal
 * `<subject>.federate` (partials or raw points for a federation above), and the HTTP routes,
 * which enter the same `query` endpoint through the runtime's HTTP front door (same spans,
 * deadline, stats and errors as a NATS request).
 */
import { federateRequestSchema, federateSubject, joinAnswerItems } from "@entente/protocol";
import { type EndpointDefinition, endpoint, type ServiceHttp, streamOf } from "@entente/runtime";
import { z } from "zod";
import { answerItems, replyItems } from "./answer.ts";
import type { Federator } from "./federator.ts";
import { normalizeQuery, type QueryLimits } from "./query.ts";
import { encodePartialAggregate, encodePoint, fromFederateRequest } from "./wire.ts";

export function queryEndpoint(
  federator: Federator,
  limits: QueryLimits,
  subject: string,
): EndpointDefinition {
  return endpoint({
    name: "query",
    subject,
    schema: z.unknown(),
    description: "A federated metric query: { points, partial? }",
    handler: async (request, context) => {
      const query = normalizeQuery(request, limits);
      const answer = await federator.query(query, {
        signal: context.signal,
        deadline: context.deadline,
      });
      const items = answerItems(answer);
      return items.length === 1 ? items[0] : streamOf(items);
    },
  });
}

export function federateEndpoint(federator: Federator, querySubject: string): EndpointDefinition {
  return endpoint({
    name: "federate",
    subject: federateSubject(querySubject),
    schema: federateRequestSchema,
    description: "Unmerged partial aggregates or raw points, for a federation above",
    handler: async (request, context) => {
      const query = fromFederateRequest(request);
      const options = { signal: context.signal, deadline: context.deadline };
      if (request.want === "partials") {
        const answer = await federator.partials(query, options);
        return streamOf(
          replyItems("partials", answer.partials, encodePartialAggregate, answer.partial),
        );
      }
      const answer = await federator.raw(query, options);
      return streamOf(replyItems("points", answer.points, encodePoint, answer.partial));
    },
  });
}

/**
 * `POST /federated/query` into the `query` endpoint (a large answer's items joined into one
 * `{ points, partial? }`), and `GET /health`: healthy while some instance's circuit is not open.
 */
export function federationHttp(
  federator: Federator,
  options: { port: number; host: string },
  onListening: (port: number) => void,
): ServiceHttp {
  return {
    port: options.port,
    host: options.host,
    routes: [
      { method: "POST", path: "/federated/query", endpoint: "query", collect: joinAnswerItems },
    ],
    health: () => {
      const instances = Object.fromEntries(
        [...federator.instances.keys()].map((name) => [name, federator.circuitOf(name)]),
      );
      return { ok: Object.values(instances).some((c) => c !== "open"), details: { instances } };
    },
    onListening: (door) => onListening(door.port),
  };
}

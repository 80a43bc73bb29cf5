import { jsonCodec } from "@entente/protocol";
import type { MicroVerb } from "@entente/runtime";
import type { NatsConnection } from "@nats-io/nats-core";

/**
 * Asks every running worker (or those of one service) through the NATS services API and
 * gathers the answers that arrive within `maxWaitMs`.
 */
export async function discover<T = Record<string, unknown>>(
  nc: NatsConnection,
  verb: MicroVerb,
  options: { service?: string; maxWaitMs?: number } = {},
): Promise<T[]> {
  const subject = options.service ? `$SRV.${verb}.${options.service}` : `$SRV.${verb}`;
  const replies = await nc.requestMany(subject, undefined, {
    strategy: "timer",
    maxWait: options.maxWaitMs ?? 500,
  });
  const found: T[] = [];
  for await (const msg of replies) {
    if (msg.data.length > 0) found.push(jsonCodec.decode(msg.data) as T);
  }
  return found;
}

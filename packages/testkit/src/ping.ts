import type { NatsConnection } from "@nats-io/transport-node";

/** How many workers' services answer `$SRV.PING` within `maxWaitMs`; "no responders" is none. */
export async function pingAnswers(nc: NatsConnection, maxWaitMs = 300): Promise<number> {
  let count = 0;
  try {
    const replies = await nc.requestMany("$SRV.PING", undefined, { maxWait: maxWaitMs });
    for await (const _ of replies) count++;
  } catch (err) {
    if ((err as Error).name !== "NoResponders") throw err;
  }
  return count;
}

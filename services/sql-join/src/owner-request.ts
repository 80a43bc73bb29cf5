/**
 * A request to another region's sql-join worker, through the region routers: it carries the
 * caller's deadline, signal and trace, with a budget that keeps some time back so that a region
 * which does not answer is reported, by name, before the caller's own deadline; and it is counted
 * for that pair of regions, answered or not.
 */
import { msgpackCodec } from "@entente/protocol";
import type { EntenteClient, RequestContext } from "@entente/runtime";
import type { RegionPairCounters } from "./replication/pair-counters.ts";

/** What a handler passes on to the requests it makes for its caller. */
export type HandlerContext = Pick<RequestContext, "signal" | "deadline"> &
  Partial<Pick<RequestContext, "trace">>;

/** The budget another region's request gets of `remainingMs`: a tenth (at most 1 s) kept back. */
export function regionBudgetMs(remainingMs: number): number {
  return Math.max(1, Math.floor(remainingMs - Math.min(1_000, remainingMs * 0.1)));
}

export async function askRegion<T>(
  options: { client: EntenteClient; subject: string; counters?: RegionPairCounters | undefined },
  region: number,
  body: unknown,
  context: HandlerContext,
): Promise<T> {
  const left = context.deadline.remainingMs();
  const timeoutMs = Number.isFinite(left) ? regionBudgetMs(left) : undefined;
  let reply: T;
  try {
    reply = await options.client.request<T>(options.subject, body, {
      region,
      parent: {
        deadline: context.deadline,
        signal: context.signal,
        ...(context.trace ? { trace: context.trace } : {}),
      },
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } catch (err) {
    // Counted whether answered or not: a request that fails still crossed regions.
    options.counters?.request(region, 0);
    throw err;
  }
  options.counters?.request(region, msgpackCodec.encode(reply).length);
  return reply;
}

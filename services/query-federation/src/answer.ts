/**
 * The reply to `entente.query`: `{ points, partial? }`. A small answer is that one value (one
 * NATS message, what `nats req` shows). A large one streams as batched items of the same
 * shape — `{ points: [...] }` chunks, `partial` on the first — and a reader concatenates the
 * `points` of every item.
 */
import type { AnswerItem, AnswerPoint, PartialInfo } from "@entente/protocol";
import type { FederatedAnswer } from "./federator.ts";
import type { Point } from "./points.ts";

export const POINTS_PER_ITEM = 5_000;

/** A point as JSON can carry it: a value that is not finite (an empty window) becomes null. */
export function wirePoint(p: Point): AnswerPoint {
  if (Number.isFinite(p.value)) return p;
  return { metric: p.metric, tags: p.tags, timestamp: p.timestamp, value: null };
}

/** A reply's items: chunks of encoded values under `key`, `partial` on the first, at least one. */
export function replyItems<K extends string, T, U>(
  key: K,
  values: T[],
  encode: (value: T) => U,
  partial: PartialInfo | undefined,
  perItem = POINTS_PER_ITEM,
): Array<Record<K, U[]> & { partial?: PartialInfo }> {
  const items: Array<Record<K, U[]> & { partial?: PartialInfo }> = [];
  for (let i = 0; i === 0 || i < values.length; i += perItem) {
    const chunk: U[] = [];
    for (let j = i; j < Math.min(i + perItem, values.length); j++) {
      chunk.push(encode(values[j] as T));
    }
    const item = { [key]: chunk } as Record<K, U[]> & { partial?: PartialInfo };
    if (i === 0 && partial) item.partial = partial;
    items.push(item);
  }
  return items;
}

/** The answer as items: one item when it fits, chunks otherwise. */
export function answerItems(answer: FederatedAnswer, perItem = POINTS_PER_ITEM): AnswerItem[] {
  return replyItems("points", answer.points, wirePoint, answer.partial, perItem);
}

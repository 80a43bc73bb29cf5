/**
 * The reply to `entente.query`: `{ points, partial? }`. A small answer is that one value (one
 * NATS message, what `nats req` shows). A large one streams as batched items of the same
 * shape — `{ points: [...] }` chunks, `partial` on the first — and a reader concatenates the
 * `points` of every item.
 */
import type { FederatedAnswer, PartialInfo } from "./federator.ts";
import type { Point } from "./points.ts";

export const POINTS_PER_ITEM = 5_000;

export interface WirePointObject {
  metric: string;
  tags: Record<string, string>;
  timestamp: bigint;
  value: number | null;
}

export interface AnswerItem {
  points: WirePointObject[];
  partial?: PartialInfo;
}

export function wirePoint(p: Point): WirePointObject {
  return {
    metric: p.metric,
    tags: p.tags,
    timestamp: p.timestamp,
    value: Number.isFinite(p.value) ? p.value : null,
  };
}

/** The answer as items: one item when it fits, chunks otherwise. */
export function answerItems(answer: FederatedAnswer, perItem = POINTS_PER_ITEM): AnswerItem[] {
  const items: AnswerItem[] = [];
  for (let i = 0; i === 0 || i < answer.points.length; i += perItem) {
    const item: AnswerItem = { points: answer.points.slice(i, i + perItem).map(wirePoint) };
    if (i === 0 && answer.partial) item.partial = answer.partial;
    items.push(item);
  }
  return items;
}

/** Joins the items of a (possibly batched) reply back into one answer. */
export function joinItems(items: unknown[]): AnswerItem {
  const joined: AnswerItem = { points: [] };
  for (const item of items) {
    const { points, partial } = item as Partial<AnswerItem>;
    if (points) for (const p of points) joined.points.push(p);
    if (partial && !joined.partial) joined.partial = partial;
  }
  return joined;
}

/**
 * When a replica may be served, and what an owner's feed says about the position this region
 * read it up to. Pure, with the clock handed in.
 */

/**
 * A replica of an owner is served only while the last poll of that owner's feed that applied
 * every change started within `maxStalenessMs`: every change the owner published before then
 * is in it, so it is never older than the bound. A worker trusts only polls that started after
 * it did (`trustedSince`), so after a restart it serves nothing before a fresh poll.
 */
export function servable(
  lastPollStartedAt: number | undefined,
  now: number,
  maxStalenessMs: number,
  trustedSince = Number.NEGATIVE_INFINITY,
): boolean {
  return (
    lastPollStartedAt !== undefined &&
    lastPollStartedAt >= trustedSince &&
    now - lastPollStartedAt <= maxStalenessMs
  );
}

/**
 * What a feed reply means for a position `after`: `lost` when the stream no longer holds the
 * changes right after it (dropped by its limits, or the stream was made anew), so replicas of
 * that owner can no longer be kept current; otherwise `read` (nothing new: `head` is `after`).
 */
export function feedVerdict(after: number, reply: { first: number; head: number }): "lost" | "ok" {
  if (reply.head < after) return "lost";
  if (reply.first > after + 1) return "lost";
  return "ok";
}

/** A replica takes a change only if the change is newer than what the replica reflects. */
export function takesChange(replicaSeq: number, changeSeq: number): boolean {
  return changeSeq > replicaSeq;
}

/**
 * Which members of which logical tables a statement reads, from its EXPLAIN. The plan names each
 * logical table read (`UnionAll (tiered events: reads hot; pruned cold)`, or the same note under
 * a `Remote` node) followed by one line per member with the reason (`reads hot: …`,
 * `pruned cold: …`).
 */

export interface TierUse {
  table: string;
  kind: string;
  tier: string;
  read: boolean;
  reason: string | null;
}

const NOTE = /(?:^|\()(tiered|sharded) ([^:]+): reads (.*?)(?:; pruned (.*?))?\)?$/;
const MEMBER = /^(reads|pruned) ([^:]+): (.*)$/;

function labels(list: string | undefined): string[] {
  if (list === undefined || list === "nothing") return [];
  return list
    .split(", ")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** The members each logical table of the plan reads or prunes, once per table and member. */
export function tiersOfPlan(plan: string): TierUse[] {
  const uses = new Map<string, TierUse>();
  const put = (use: TierUse) => {
    const key = `${use.table}\u0000${use.tier}`;
    const seen = uses.get(key);
    // A table read twice (a self-join) counts a member as read if either read it.
    if (!seen) uses.set(key, use);
    else if (use.read && !seen.read) uses.set(key, use);
    else if (seen.reason === null && use.read === seen.read) seen.reason = use.reason;
  };
  let current: { table: string; kind: string; indent: number } | undefined;
  for (const raw of plan.split("\n")) {
    const text = raw.trim();
    const indent = raw.length - raw.trimStart().length;
    const note = NOTE.exec(text.replace(/^UnionAll /, ""));
    if (note) {
      const [, kind = "", table = "", read, pruned] = note;
      current = { table, kind, indent };
      for (const tier of labels(read)) put({ table, kind, tier, read: true, reason: null });
      for (const tier of labels(pruned)) put({ table, kind, tier, read: false, reason: null });
      continue;
    }
    const member = MEMBER.exec(text);
    if (member && current && indent >= current.indent) {
      const [, verb, tier = "", reason = ""] = member;
      put({ table: current.table, kind: current.kind, tier, read: verb === "reads", reason });
    }
  }
  return [...uses.values()];
}

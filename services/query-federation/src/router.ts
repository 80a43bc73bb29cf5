/**
 * Which instances a query reads. `__instance__` matchers select instances by name; otherwise
 * router rules map a query's exact tag values to instances (a `region` tag to the regional
 * instance); without a match, every instance. Instances of one replica group form one target.
 * Pure.
 */
import { EntenteError, INSTANCE_TAG } from "@entente/protocol";
import { type FederatedQuery, matches } from "./query.ts";

export interface RouterRule {
  /** The query tag the rule looks at. */
  tag: string;
  /** Tag value → the instances holding that data. */
  routes: Record<string, string[]>;
}

export type ReplicaRead = "one" | "merge";

export interface ReplicaGroup {
  name: string;
  instances: string[];
  /** `one`: read one healthy replica (failing over in order); `merge`: read all and dedupe. */
  read: ReplicaRead;
}

export type Target =
  | { kind: "instance"; name: string }
  | { kind: "replicas"; name: string; instances: string[]; read: ReplicaRead };

export interface RoutingTable {
  instances: string[];
  rules: RouterRule[];
  replicaGroups: ReplicaGroup[];
}

export function targetName(target: Target): string {
  return target.name;
}

export function selectInstances(query: FederatedQuery, table: RoutingTable): string[] {
  if (query.instanceMatchers.length > 0) {
    for (const m of query.instanceMatchers) {
      if (m.op === "=" && !table.instances.includes(m.value)) {
        throw new EntenteError(
          "NOT_FOUND",
          `unknown instance ${JSON.stringify(m.value)}: known instances are ${table.instances.join(", ")}`,
        );
      }
    }
    const chosen = table.instances.filter((name) =>
      query.instanceMatchers.every((m) => matches(m, name)),
    );
    if (chosen.length === 0) {
      throw new EntenteError(
        "NOT_FOUND",
        `no instance matches the ${INSTANCE_TAG} selection: known instances are ${table.instances.join(", ")}`,
      );
    }
    return chosen;
  }
  const routed = new Set<string>();
  for (const rule of table.rules) {
    for (const m of query.matchers) {
      if (m.tag !== rule.tag || m.op !== "=") continue;
      for (const name of rule.routes[m.value] ?? []) routed.add(name);
    }
  }
  if (routed.size === 0) return [...table.instances];
  return table.instances.filter((name) => routed.has(name));
}

/** The selected instances as targets: replicas of one group become one target. */
export function route(query: FederatedQuery, table: RoutingTable): Target[] {
  const selected = selectInstances(query, table);
  const targets: Target[] = [];
  const grouped = new Set<string>();
  for (const group of table.replicaGroups) {
    const members = group.instances.filter((name) => selected.includes(name));
    if (members.length === 0) continue;
    for (const name of members) grouped.add(name);
    targets.push({ kind: "replicas", name: group.name, instances: members, read: group.read });
  }
  for (const name of selected) if (!grouped.has(name)) targets.push({ kind: "instance", name });
  return targets;
}

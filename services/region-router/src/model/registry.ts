/**
 * The region registry as pure state: the root decides what goes in, replicas take what the root
 * publishes. No I/O and no clock: every `now` is handed in, in ms since the epoch.
 *
 * The registry is a tree of regions under one root. Every change replicas must see (a region
 * added, moved, departed, dead or back) bumps `revision` by exactly one, so a replica keeps the
 * highest revision it saw and a restarted one catches up from any newer snapshot. `lastSeen`
 * changes all the time and matters only to the root's own dead-region timeout: it does not bump.
 * A region that departs or dies keeps its entry (and its name) with its status, so other regions
 * can tell "gone" from "never existed".
 */
import {
  MAX_REGION_ID,
  MIN_REGION_ID,
  type RegionAnnounce,
  type RegionInfo,
  type RegionLeave,
  type RegionProblem,
  type RegistrySnapshot,
} from "@entente/protocol";

export interface Registry {
  readonly root: number;
  readonly revision: number;
  readonly regions: ReadonlyMap<number, RegionInfo>;
}

/** The root's own description: a region without a parent. */
export interface RootRegion {
  id: number;
  name: string;
  url: string;
}

/** A change the root applied, or why it refused it. */
export type Verdict =
  | { accepted: true; registry: Registry; changed: boolean }
  | { accepted: false; problems: RegionProblem[]; retryable: boolean };

/** The registry at its first revision, holding only the root. */
export function createRegistry(root: RootRegion, now: number): Registry {
  const info: RegionInfo = {
    id: root.id,
    name: root.name,
    url: root.url,
    status: "active",
    since: now,
    lastSeen: now,
  };
  return { root: root.id, revision: 1, regions: new Map([[root.id, info]]) };
}

export const contains = (registry: Registry, id: number): boolean => registry.regions.has(id);

export const isActive = (registry: Registry, id: number): boolean =>
  registry.regions.get(id)?.status === "active";

/** The ids of the regions whose parent is `id`, in ascending order. */
export function childrenOf(registry: Registry, id: number): number[] {
  const children: number[] = [];
  for (const region of registry.regions.values())
    if (region.parent === id) children.push(region.id);
  return children.sort((a, b) => a - b);
}

/** `id`, its parent, …, the root; empty for an unknown region. Stops on a cycle. */
export function pathToRoot(registry: Registry, id: number): number[] {
  const path: number[] = [];
  const seen = new Set<number>();
  for (let at: number | undefined = id; at !== undefined && !seen.has(at); ) {
    const region = registry.regions.get(at);
    if (region === undefined) break;
    seen.add(at);
    path.push(at);
    at = region.parent;
  }
  return path;
}

/** The registry in its wire form, regions in id order. */
export function toSnapshot(registry: Registry): RegistrySnapshot {
  const regions = [...registry.regions.values()].sort((a, b) => a.id - b.id);
  return { root: registry.root, revision: registry.revision, regions };
}

const inRange = (id: number): boolean =>
  Number.isInteger(id) && id >= MIN_REGION_ID && id <= MAX_REGION_ID;
const RANGE = `from ${MIN_REGION_ID} to ${MAX_REGION_ID}`;

function describe(region: RegionInfo): string {
  const status = region.status === "active" ? "" : `, ${region.status}`;
  return `region ${region.id} ("${region.name}" at ${region.url}${status})`;
}

/**
 * Whether the root may accept `announce`; null when it may, else every problem by field.
 * A region may re-announce itself at any time (same name; same URL while it is active) and may
 * move to another parent as long as the tree stays a tree.
 */
export function validateAnnounce(
  registry: Registry,
  announce: RegionAnnounce,
): RegionProblem[] | null {
  const problems = announceProblems(registry, announce);
  return problems.length === 0 ? null : problems;
}

function announceProblems(registry: Registry, announce: RegionAnnounce): RegionProblem[] {
  const { id, name, parent, url } = announce;
  if (!inRange(id)) return [{ field: "id", message: `region id ${id} is out of range: ${RANGE}` }];
  const problems: RegionProblem[] = [];
  const existing = registry.regions.get(id);
  if (existing !== undefined) {
    if (existing.name !== name) {
      problems.push({
        field: "id",
        message: `region ${id} is already registered as "${existing.name}": "${name}" needs an id of its own`,
      });
    } else if (existing.url !== url && existing.status === "active") {
      // Two live processes claiming one id; a departed or dead region may come back elsewhere.
      problems.push({
        field: "url",
        message: `${describe(existing)} is active: another process at ${url} claims its id`,
      });
    }
  }
  for (const other of registry.regions.values()) {
    if (other.name === name && other.id !== id) {
      problems.push({ field: "name", message: `"${name}" is taken by ${describe(other)}` });
    }
  }
  problems.push(...parentProblems(registry, id, parent));
  return problems;
}

function parentProblems(registry: Registry, id: number, parent: number | undefined) {
  const problems: RegionProblem[] = [];
  const problem = (message: string) => problems.push({ field: "parent", message });
  if (id === registry.root) {
    if (parent !== undefined) problem(`region ${id} is the root: the root has no parent`);
    return problems;
  }
  if (parent === undefined) {
    problem(`a parent is required: only the root (region ${registry.root}) has none`);
  } else if (!inRange(parent)) {
    problem(`parent ${parent} is out of range: ${RANGE}`);
  } else if (parent === id) {
    problem(`region ${id} cannot be its own parent`);
  } else if (!registry.regions.has(parent)) {
    problem(`parent ${parent} is not a known region (it must announce itself first)`);
  } else if (registry.regions.has(id) && pathToRoot(registry, parent).includes(id)) {
    // Only a known region can be above its new parent: a new one has nothing below it.
    problem(`parent ${parent} is below region ${id}: moving it there would make a cycle`);
  }
  return problems;
}

/** Waiting helps only when all that is wrong is a parent that has not announced itself yet. */
const onlyUnknownParent = (registry: Registry, announce: RegionAnnounce, p: RegionProblem[]) =>
  p.length === 1 &&
  p[0]!.field === "parent" &&
  announce.parent !== undefined &&
  inRange(announce.parent) &&
  announce.parent !== announce.id &&
  !registry.regions.has(announce.parent);

/**
 * Applies an announce: a new region is added, a known one revived or moved (each a new
 * revision); a repeat of what the registry already holds changes only `lastSeen`.
 */
export function applyAnnounce(registry: Registry, announce: RegionAnnounce, now: number): Verdict {
  const problems = announceProblems(registry, announce);
  if (problems.length > 0) {
    return {
      accepted: false,
      problems,
      retryable: onlyUnknownParent(registry, announce, problems),
    };
  }
  const existing = registry.regions.get(announce.id);
  const unchanged =
    existing !== undefined &&
    existing.status === "active" &&
    existing.parent === announce.parent &&
    existing.url === announce.url;
  if (unchanged)
    return { accepted: true, registry: touch(registry, announce.id, now), changed: false };
  const info: RegionInfo = {
    id: announce.id,
    name: announce.name,
    url: announce.url,
    status: "active",
    since: existing?.status === "active" ? existing.since : now,
    lastSeen: now,
  };
  if (announce.parent !== undefined) info.parent = announce.parent;
  return { accepted: true, registry: withRegions(registry, [info]), changed: true };
}

/** A region leaves: it stays, marked departed. The root cannot leave its own registry. */
export function applyLeave(registry: Registry, leave: RegionLeave, now: number): Verdict {
  const region = registry.regions.get(leave.id);
  const refuse = (message: string): Verdict => ({
    accepted: false,
    problems: [{ field: "id", message }],
    retryable: false,
  });
  if (region === undefined) return refuse(`region ${leave.id} is not registered`);
  if (leave.id === registry.root) return refuse(`region ${leave.id} is the root: it cannot leave`);
  if (region.status === "departed") return { accepted: true, registry, changed: false };
  const departed: RegionInfo = { ...region, status: "departed", since: now };
  return { accepted: true, registry: withRegions(registry, [departed]), changed: true };
}

/**
 * Marks active regions dead, as the root decided (see `silentSince`). Unknown ids, the root and
 * regions already gone are left alone; one revision for the whole batch.
 */
export function markDead(registry: Registry, ids: Iterable<number>, now: number): Registry {
  const dead: RegionInfo[] = [];
  for (const id of new Set(ids)) {
    const region = registry.regions.get(id);
    if (region === undefined || id === registry.root || region.status !== "active") continue;
    dead.push({ ...region, status: "dead", since: now });
  }
  return dead.length === 0 ? registry : withRegions(registry, dead);
}

/** The active regions, the root aside, not heard from since `cutoff` (ms since the epoch). */
export function silentSince(registry: Registry, cutoff: number): number[] {
  const silent: number[] = [];
  for (const region of registry.regions.values()) {
    if (region.id === registry.root || region.status !== "active") continue;
    if ((region.lastSeen ?? region.since) < cutoff) silent.push(region.id);
  }
  return silent.sort((a, b) => a - b);
}

/** Records that the root heard from `id` at `now`. Never a new revision; time never goes back. */
export function touch(registry: Registry, id: number, now: number): Registry {
  const region = registry.regions.get(id);
  if (region === undefined || (region.lastSeen ?? -1) >= now) return registry;
  const regions = new Map(registry.regions);
  regions.set(id, { ...region, lastSeen: now });
  return { ...registry, regions };
}

/** The registry with `changed` entries replaced or added, one revision later. */
function withRegions(registry: Registry, changed: readonly RegionInfo[]): Registry {
  const regions = new Map(registry.regions);
  for (const region of changed) regions.set(region.id, region);
  return { root: registry.root, revision: registry.revision + 1, regions };
}

/** What a replica does with a snapshot the root published. */
export type SnapshotVerdict =
  | { accepted: true; registry: Registry }
  | { accepted: false; reason: string };

/**
 * A replica takes a snapshot only from the root it expects, only when newer than what it holds
 * (or the first), and only when it is a tree. Anything else — stale, forged, corrupt — is
 * refused with the reason, and the replica keeps what it had.
 */
export function acceptSnapshot(
  current: Registry | undefined,
  snapshot: RegistrySnapshot,
  expectedRoot: number,
): SnapshotVerdict {
  const refuse = (reason: string): SnapshotVerdict => ({ accepted: false, reason });
  if (snapshot.root !== expectedRoot) {
    return refuse(`snapshot names region ${snapshot.root} as root; the root is ${expectedRoot}`);
  }
  if (!Number.isInteger(snapshot.revision) || snapshot.revision < 0) {
    return refuse(`revision ${snapshot.revision} is not a revision`);
  }
  if (current !== undefined && snapshot.revision <= current.revision) {
    return refuse(`revision ${snapshot.revision} is not newer than ${current.revision}`);
  }
  const problem = treeProblem(snapshot);
  if (problem !== undefined) return refuse(`snapshot ${snapshot.revision} ${problem}`);
  const regions = new Map(snapshot.regions.map((r) => [r.id, r] as const));
  return {
    accepted: true,
    registry: { root: snapshot.root, revision: snapshot.revision, regions },
  };
}

/** What keeps a snapshot from being one tree under its root, or undefined. */
function treeProblem(snapshot: RegistrySnapshot): string | undefined {
  const byId = new Map<number, RegionInfo>();
  const names = new Map<string, number>();
  for (const region of snapshot.regions) {
    if (!inRange(region.id)) return `holds region id ${region.id}, out of range`;
    if (byId.has(region.id)) return `lists region ${region.id} twice`;
    const other = names.get(region.name);
    if (other !== undefined) return `gives the name "${region.name}" to ${other} and ${region.id}`;
    byId.set(region.id, region);
    names.set(region.name, region.id);
  }
  const root = byId.get(snapshot.root);
  if (root === undefined) return `does not hold its root ${snapshot.root}`;
  if (root.parent !== undefined) return `gives the root ${snapshot.root} a parent`;
  // Every region's chain of parents must end at the root; `reaches` remembers chains that do.
  const reaches = new Set<number>([snapshot.root]);
  for (const region of byId.values()) {
    if (region.id === snapshot.root) continue;
    const chain = new Set<number>();
    for (let at = region.id; !reaches.has(at); ) {
      if (chain.has(at)) return `has a cycle through region ${at}`;
      chain.add(at);
      const parent = byId.get(at)!.parent;
      if (parent === undefined) return `has a second root: region ${at}`;
      if (!byId.has(parent)) return `gives region ${at} the unknown parent ${parent}`;
      at = parent;
    }
    for (const id of chain) reaches.add(id);
  }
  return undefined;
}

/**
 * Whether `registry` lists this region as itself — its name and URL, active — so it may serve.
 * An entry under its id with another name or URL is another region's, not its own.
 */
export function listsSelf(
  registry: Registry,
  self: { id: number; name: string; url: string },
): boolean {
  const entry = registry.regions.get(self.id);
  return (
    entry !== undefined &&
    entry.status === "active" &&
    entry.name === self.name &&
    entry.url === self.url
  );
}

/**
 * Which regions to keep links to. The tree links (parent and children) are the operator's and are
 * always kept, even beyond maxDegree. Free slots up to maxDegree go to shortcuts, best measured
 * benefit first, where the benefit of a shortcut to X is how much cheaper the direct link would
 * be than the current route to X. Opening a shortcut needs a margin; keeping one needs only that
 * its benefit has not vanished, so a shortcut near the margin is not opened and closed in turn.
 */
import { isRegionId } from "./routes.ts";

export const DEFAULT_MAX_DEGREE = 8;

export interface ShortcutCandidate {
  region: number;
  /** The direct link's expected cost (e.g. a measured or estimated round trip). */
  estimatedCostMs: number;
}

/** Current route costs, e.g. a RouteTable. */
export interface RouteCosts {
  costTo(region: number): number | undefined;
}

export interface NeighbourRequest {
  self: number;
  parent?: number | undefined;
  children: readonly number[];
  candidates: readonly ShortcutCandidate[];
  /**
   * Current routes, computed WITHOUT this region's own shortcuts: measured with them, an open
   * shortcut would compare against itself and look worthless. A candidate with no route has an
   * unbounded benefit; without routes at all, every candidate has, and the cheapest win.
   */
  routes?: RouteCosts | undefined;
  /**
   * Shortcuts open now: they stay while their benefit is above zero. Each must also be among the
   * candidates (with its measured cost); one that is not is dropped.
   */
  current?: readonly number[] | undefined;
  maxDegree?: number | undefined;
  /** A new shortcut must save at least this many ms... */
  minBenefitMs?: number | undefined;
  /** ...and at least this fraction of the current route's cost. */
  minBenefitRatio?: number | undefined;
}

export interface Shortcut {
  region: number;
  estimatedCostMs: number;
  benefitMs: number;
}

export interface NeighbourChoice {
  /** Every region to keep a link to (tree and shortcuts), ascending. */
  links: number[];
  /** Parent and children, ascending. */
  tree: number[];
  /** Chosen shortcuts, best benefit first. */
  shortcuts: Shortcut[];
}

export const DEFAULT_MIN_BENEFIT_MS = 1;
export const DEFAULT_MIN_BENEFIT_RATIO = 0.1;

export function chooseNeighbours(request: NeighbourRequest): NeighbourChoice {
  const {
    self,
    parent,
    children,
    candidates,
    routes,
    maxDegree = DEFAULT_MAX_DEGREE,
    minBenefitMs = DEFAULT_MIN_BENEFIT_MS,
    minBenefitRatio = DEFAULT_MIN_BENEFIT_RATIO,
  } = request;
  if (!isRegionId(self)) throw new RangeError(`self: ${self} is not a region id`);
  if (!Number.isInteger(maxDegree) || maxDegree < 0) {
    throw new RangeError(`maxDegree: ${maxDegree} is not a non-negative integer`);
  }
  const treeSet = new Set<number>();
  for (const region of parent === undefined ? children : [parent, ...children]) {
    if (!isRegionId(region) || region === self) {
      throw new RangeError(`tree link to ${region} is not a link to another region`);
    }
    treeSet.add(region);
  }
  const tree = [...treeSet].sort((a, b) => a - b);
  const current = new Set(request.current ?? []);

  const best = cheapestCandidates(candidates, self, treeSet);
  const worthy: Shortcut[] = [];
  for (const { region, estimatedCostMs } of best) {
    const routeCost = routes?.costTo(region) ?? Number.POSITIVE_INFINITY;
    const benefitMs = routeCost - estimatedCostMs;
    // An open shortcut stays while it saves anything; a new one must save the margin.
    const enough = current.has(region)
      ? benefitMs > 0
      : benefitMs >= minBenefitMs &&
        (routeCost === Number.POSITIVE_INFINITY || benefitMs >= minBenefitRatio * routeCost);
    if (enough) worthy.push({ region, estimatedCostMs, benefitMs });
  }
  // Two unbounded benefits subtract to NaN, which `||` passes over to the cost and id.
  worthy.sort(
    (a, b) =>
      b.benefitMs - a.benefitMs || a.estimatedCostMs - b.estimatedCostMs || a.region - b.region,
  );
  const shortcuts = worthy.slice(0, Math.max(0, maxDegree - tree.length));
  const links = [...tree, ...shortcuts.map((s) => s.region)].sort((a, b) => a - b);
  return { links, tree, shortcuts };
}

/** Valid candidates other than self and tree neighbours, one per region (the cheapest estimate). */
function cheapestCandidates(
  candidates: readonly ShortcutCandidate[],
  self: number,
  tree: ReadonlySet<number>,
): ShortcutCandidate[] {
  const cheapest = new Map<number, ShortcutCandidate>();
  for (const candidate of candidates) {
    const { region, estimatedCostMs } = candidate;
    if (!isRegionId(region) || region === self || tree.has(region)) continue;
    if (!Number.isFinite(estimatedCostMs) || estimatedCostMs < 0) continue;
    const known = cheapest.get(region);
    if (known === undefined || estimatedCostMs < known.estimatedCostMs) {
      cheapest.set(region, { region, estimatedCostMs });
    }
  }
  return [...cheapest.values()];
}

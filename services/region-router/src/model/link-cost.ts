/*
 * Link cost, in milliseconds of expected delay for one request crossing the link:
 *
 *   cost = ∞                                  when the link is down
 *   cost = L · (1 + k · ρ / (1 − ρ))  +  S     otherwise
 *
 *   L  latency: the link's peak-EWMA round trip (hop time minus the far server's own time);
 *      an unmeasured link counts as defaultLatencyMs (100 ms)
 *   S  setup: 0 when a connection is open, else the measured setup time (time to connect minus
 *      a round trip on an established connection, never below 0), or defaultSetupMs (300 ms)
 *      when never measured
 *   ρ  the far region's busy fraction as it advertises it (unknown: 0), clamped to [0, 0.95]
 *   k  queueing weight, 1: with k = 1 the latency term is L / (1 − ρ), an M/M/1 queue's
 *      residence time with L standing in for the service time
 *
 * A region re-advertises a link's cost when it moved by more than the hysteresis (10 %) from
 * the last advertised value, or went to or from ∞.
 */

export interface LinkCostInput {
  up: boolean;
  latencyMs: number | undefined;
  setupMs: number | undefined;
  open: boolean;
  /** The far region's busy fraction, 0..1. */
  relayLoad: number | undefined;
}

export interface LinkCostConstants {
  /**
   * Latency of a link never measured. 100 ms is worse than a round trip within a continent
   * (10–80 ms), so measured nearby links are preferred, and better than one across an ocean
   * (150–300 ms), so a fresh link is still tried where nothing measured is close.
   */
  defaultLatencyMs: number;
  /**
   * Setup of a closed link never measured: TCP, TLS and the NATS handshake take about three
   * round trips, three times the default latency.
   */
  defaultSetupMs: number;
  /** k: the queueing penalty's weight (1 = the M/M/1 factor itself). */
  queueWeight: number;
  /**
   * Highest load that counts. ρ/(1 − ρ) grows without bound as ρ → 1: capped at 0.95 a fully
   * busy relay costs 20 × its latency, so it is avoided wherever there is another way, yet
   * stays finite and usable where there is none (only `up` decides reachability).
   */
  maxLoad: number;
}

export const DEFAULT_COST_CONSTANTS: LinkCostConstants = {
  defaultLatencyMs: 100,
  defaultSetupMs: 300,
  queueWeight: 1,
  maxLoad: 0.95,
};

/**
 * Re-advertise when a cost moved by more than 10 %: latency samples jitter by a few percent,
 * and flooding every wobble would cost more than routes gain from it.
 */
export const DEFAULT_COST_HYSTERESIS = 0.1;

/** A measurement that can be used: a finite number of milliseconds, at least 0. */
const measured = (ms: number | undefined): ms is number =>
  ms !== undefined && Number.isFinite(ms) && ms >= 0;

export function linkCost(
  input: LinkCostInput,
  constants: LinkCostConstants = DEFAULT_COST_CONSTANTS,
): number {
  if (!input.up) return Number.POSITIVE_INFINITY;
  const latency = measured(input.latencyMs) ? input.latencyMs : constants.defaultLatencyMs;
  const setup = input.open ? 0 : measured(input.setupMs) ? input.setupMs : constants.defaultSetupMs;
  const load = clampLoad(input.relayLoad, constants.maxLoad);
  const queueing = latency * constants.queueWeight * (load / (1 - load));
  return latency + setup + queueing;
}

/** ρ in [0, maxLoad]; an unknown or unusable load counts as an idle relay. */
function clampLoad(load: number | undefined, maxLoad: number): number {
  if (load === undefined || Number.isNaN(load)) return 0;
  return Math.min(Math.max(load, 0), maxLoad);
}

/**
 * Whether `next` differs from the last advertised cost enough to flood it: a relative change
 * above `hysteresis`, or any move to or from ∞ (a link going down or up always counts). Nothing
 * advertised yet (`previous` undefined) counts as a change.
 */
export function costChangedBeyond(
  previous: number | undefined,
  next: number,
  hysteresis: number = DEFAULT_COST_HYSTERESIS,
): boolean {
  if (previous === undefined) return true;
  if (previous === next) return false;
  if (!Number.isFinite(previous) || !Number.isFinite(next)) return true;
  // From 0 the relative change is infinite: any move counts.
  return Math.abs(next - previous) / Math.abs(previous) > hysteresis;
}

/**
 * Connection setup: the time it took to establish a connection, minus the round trip of a
 * request on an established one (what remains is the handshakes), never below 0. Undefined when
 * either measurement is not a finite, non-negative number of milliseconds.
 */
export function setupCost(connectMs: number, rttMs: number): number | undefined {
  if (!measured(connectMs) || !measured(rttMs)) return undefined;
  return Math.max(0, connectMs - rttMs);
}

/**
 * A circuit breaker per instance, as pure state: the clock is handed in. Closed lets every call
 * through and counts consecutive failures; at the threshold it opens and refuses calls; after
 * the cool-down one probe goes through (half-open); its success closes the circuit, its
 * failure opens it again.
 */

export type CircuitState = "closed" | "open" | "half-open";

export interface BreakerSettings {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before it lets a probe through. */
  openMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = { failureThreshold: 5, openMs: 10_000 };

export interface Breaker {
  state: CircuitState;
  failures: number;
  openedAt: number;
  probing: boolean;
}

export function newBreaker(): Breaker {
  return { state: "closed", failures: 0, openedAt: 0, probing: false };
}

/** The state as seen at `now` (an open circuit past its cool-down is half-open). */
export function stateAt(breaker: Breaker, now: number, settings: BreakerSettings): CircuitState {
  if (breaker.state === "open" && now - breaker.openedAt >= settings.openMs) return "half-open";
  return breaker.state;
}

/** Asks to make a call at `now`: the new state, and whether the call may go. */
export function tryAcquire(
  breaker: Breaker,
  now: number,
  settings: BreakerSettings,
): { breaker: Breaker; allowed: boolean } {
  const state = stateAt(breaker, now, settings);
  if (state === "closed") return { breaker, allowed: true };
  if (state === "open") return { breaker, allowed: false };
  if (breaker.probing) return { breaker: { ...breaker, state: "half-open" }, allowed: false };
  return { breaker: { ...breaker, state: "half-open", probing: true }, allowed: true };
}

export function onSuccess(_breaker: Breaker): Breaker {
  return newBreaker();
}

export function onFailure(breaker: Breaker, now: number, settings: BreakerSettings): Breaker {
  if (breaker.state === "half-open") {
    return { state: "open", failures: breaker.failures + 1, openedAt: now, probing: false };
  }
  const failures = breaker.failures + 1;
  if (failures >= settings.failureThreshold) {
    return { state: "open", failures, openedAt: now, probing: false };
  }
  return { ...breaker, failures };
}

/** A call that ended without a verdict on the instance (the whole query was cancelled). */
export function onAbandoned(breaker: Breaker): Breaker {
  return breaker.probing ? { ...breaker, probing: false } : breaker;
}

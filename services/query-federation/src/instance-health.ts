/**
 * The instances' circuit breakers and call figures, shared by every query of a federator, and
 * the leases of the calls under way. A call is admitted with a lease and hands it back once:
 * answered (a success), failed (a failure, which may open the circuit), released (no verdict:
 * the query's own fault, such as a result too large) or abandoned (no verdict: the query ended
 * first). breaker.ts decides; the clock is handed in.
 */
import { EntenteError } from "@entente/protocol";
import {
  type Breaker,
  type BreakerSettings,
  type CircuitState,
  newBreaker,
  onAbandoned,
  onFailure,
  onSuccess,
  stateAt,
  tryAcquire,
} from "./breaker.ts";
import { InstanceStats, type InstanceStatsView } from "./stats.ts";

export type Admitted = { allowed: true; lease: number } | { allowed: false; failures: number };

interface Lease {
  instance: string;
  startedAt: number;
  /** The half-open circuit's one probe: giving it back without a verdict lets another go. */
  probe: boolean;
}

export class InstanceHealth {
  private readonly breakers = new Map<string, Breaker>();
  private readonly stats = new Map<string, InstanceStats>();
  private readonly leases = new Map<number, Lease>();
  private readonly settings: BreakerSettings;
  private readonly now: () => number;
  private nextLease = 0;

  constructor(names: Iterable<string>, settings: BreakerSettings, now: () => number) {
    this.settings = settings;
    this.now = now;
    for (const name of names) {
      this.breakers.set(name, newBreaker());
      this.stats.set(name, new InstanceStats());
    }
  }

  circuitOf(name: string): CircuitState {
    return stateAt(this.breakerOf(name), this.now(), this.settings);
  }

  view(): Record<string, InstanceStatsView> {
    const out: Record<string, InstanceStatsView> = {};
    for (const [name, stats] of this.stats) out[name] = stats.view(this.circuitOf(name));
    return out;
  }

  /** Asks to call `name` now: a lease when its circuit lets the call go. */
  admit(name: string): Admitted {
    if (!this.breakers.has(name)) throw new EntenteError("NOT_FOUND", `unknown instance ${name}`);
    const before = this.breakerOf(name);
    const acquired = tryAcquire(before, this.now(), this.settings);
    this.breakers.set(name, acquired.breaker);
    if (!acquired.allowed) return { allowed: false, failures: acquired.breaker.failures };
    const lease = this.nextLease++;
    const probe = acquired.breaker.probing && !before.probing;
    this.leases.set(lease, { instance: name, startedAt: this.now(), probe });
    return { allowed: true, lease };
  }

  answered(lease: number): void {
    const held = this.take(lease);
    if (!held) return;
    this.statsOf(held).record(this.now() - held.startedAt);
    this.breakers.set(held.instance, onSuccess(this.breakerOf(held.instance)));
  }

  /** Counts a failure against the instance: the circuit's state after it. */
  failed(lease: number, error: EntenteError): CircuitState {
    const held = this.take(lease);
    if (!held) return "closed";
    this.statsOf(held).record(this.now() - held.startedAt, error.message);
    const breaker = onFailure(this.breakerOf(held.instance), this.now(), this.settings);
    this.breakers.set(held.instance, breaker);
    return breaker.state;
  }

  released(lease: number): void {
    const held = this.take(lease);
    if (held) this.giveBackProbe(held);
  }

  /** The query ended with the call still running: it counts in the figures, not for the circuit. */
  abandoned(lease: number, message: string): void {
    const held = this.take(lease);
    if (!held) return;
    this.giveBackProbe(held);
    this.statsOf(held).record(this.now() - held.startedAt, message);
  }

  private take(lease: number): Lease | undefined {
    const held = this.leases.get(lease);
    this.leases.delete(lease);
    return held;
  }

  private giveBackProbe(held: Lease): void {
    if (held.probe) this.breakers.set(held.instance, onAbandoned(this.breakerOf(held.instance)));
  }

  private breakerOf(name: string): Breaker {
    return this.breakers.get(name) ?? newBreaker();
  }

  private statsOf(held: Lease): InstanceStats {
    let stats = this.stats.get(held.instance);
    if (!stats) {
      stats = new InstanceStats();
      this.stats.set(held.instance, stats);
    }
    return stats;
  }
}

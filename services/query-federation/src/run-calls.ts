/**
 * What every query run does alike, whatever it asks the instances: admitting calls through the
 * instances' circuits within the query's deadline, settling them, counting failures, giving
 * back the calls the query's end left open, and ordering replicas by health.
 */
import type { EntenteError } from "@entente/protocol";
import type { Admission, Settlement, Verdict } from "./call-machine.ts";
import type { FederatorParts } from "./query-run.ts";
import type { Target } from "./router.ts";

export class RunCalls {
  protected readonly parts: FederatorParts;
  /** The query's deadline on the parts' clock. */
  protected readonly deadlineAt: number;
  /** Leases of calls under way, abandoned when the query ends before they do. */
  private readonly open = new Set<number>();

  constructor(parts: FederatorParts, budgetMs: number) {
    this.parts = parts;
    this.deadlineAt = parts.now() + budgetMs;
  }

  /** Gives back the leases of calls the query's end stopped: no verdict on their instances. */
  abandonOpen(): void {
    for (const lease of this.open) {
      this.parts.health.abandoned(lease, "the query ended before the instance answered");
    }
    this.open.clear();
  }

  /** A replica group read `one` tries the replicas whose circuit lets a call through first. */
  protected healthiestFirst(target: Target): Target {
    if (target.kind !== "replicas" || target.read !== "one") return target;
    const open = (name: string) => this.parts.health.circuitOf(name) === "open";
    return {
      ...target,
      instances: [
        ...target.instances.filter((n) => !open(n)),
        ...target.instances.filter((n) => open(n)),
      ],
    };
  }

  admit(instance: string): Admission {
    const admitted = this.parts.health.admit(instance);
    if (!admitted.allowed) return admitted;
    this.open.add(admitted.lease);
    const remaining = this.deadlineAt - this.parts.now();
    return {
      allowed: true,
      lease: admitted.lease,
      timeoutMs: Math.max(1, Math.min(this.parts.instanceTimeoutMs, remaining)),
    };
  }

  settle({ lease, outcome }: Settlement): void {
    this.open.delete(lease);
    if (outcome === "answered") this.parts.health.answered(lease);
    else this.parts.health.released(lease);
  }

  recordFailure(lease: number, error: EntenteError): Verdict {
    this.open.delete(lease);
    return {
      circuit: this.parts.health.failed(lease, error),
      remainingMs: this.deadlineAt - this.parts.now(),
    };
  }
}

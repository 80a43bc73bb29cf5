/**
 * The sagas this worker runs: one saga machine per saga it holds the lease of, with the
 * machine's effects provided (saving through the lease, steps through the executor), the lease
 * renewed while a step runs long, and a span for the saga. A saga whose lease this worker can
 * no longer be sure of is stopped at once, so it never runs on two workers.
 */
import type { Logger } from "@entente/runtime";
import type { Context, Span } from "@opentelemetry/api";
import { createActor, fromPromise } from "xstate";
import { type RetryPolicy, type SagaData, sagaMachine } from "./machine.ts";
import type { StepExecutor } from "./steps.ts";
import type { SagaLease, SagaRecord } from "./store.ts";
import { endSagaSpan, inStepSpan } from "./tracing.ts";

interface Running {
  stop(): void;
  done: Promise<SagaData | undefined>;
  lease: SagaLease;
}

export interface RunnerOptions {
  execute: StepExecutor;
  leaseMs: number;
  policyOf: (saga: SagaData) => RetryPolicy;
  logger: Logger;
}

export class SagaRunner {
  readonly #options: RunnerOptions;
  readonly #running = new Map<string, Running>();

  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  get count(): number {
    return this.#running.size;
  }

  /** Resolves to the saga as it ended here, or undefined when this worker let it go. */
  done(id: string): Promise<SagaData | undefined> | undefined {
    return this.#running.get(id)?.done;
  }

  /** Runs a saga this worker holds, from wherever its record says it got to. */
  run(lease: SagaLease, record: SagaRecord, span: { span: Span; context: Context }): void {
    const { execute, logger, leaseMs } = this.#options;
    const machine = sagaMachine.provide({
      actors: {
        persist: fromPromise<void, { saga: SagaData }>(({ input }) => lease.save(input.saga)),
        runStep: fromPromise(({ input, signal }) =>
          inStepSpan(
            span.context,
            `saga step ${input.index} ${input.phase}`,
            {
              "entente.saga.id": input.sagaId,
              "entente.saga.step": input.index,
              "entente.saga.phase": input.phase,
              "entente.saga.attempt": input.attempt,
              "entente.saga.idempotency_key": input.key,
            },
            (context) => execute(input, signal, context),
          ),
        ),
      },
    });
    const actor = createActor(machine, {
      input: { saga: record, policy: this.#options.policyOf(record), now: Date.now },
    });
    const renewEveryMs = Math.max(100, Math.floor(leaseMs / 3));
    let resolve!: (saga: SagaData | undefined) => void;
    const done = new Promise<SagaData | undefined>((r) => {
      resolve = r;
    });
    let finished = false;
    const finish = (saga: SagaData | undefined, state: string) => {
      if (finished) return;
      finished = true;
      clearInterval(renewal);
      this.#running.delete(lease.id);
      endSagaSpan(span.span, state);
      resolve(saga);
    };
    // A step may run longer than a lease: the lease is renewed meanwhile, and the saga stopped
    // here once a renewal has not been confirmed in time (another worker may take it then).
    const renewal = setInterval(() => {
      if (Date.now() + renewEveryMs >= lease.validUntil) {
        logger.warn({ saga: lease.id }, "saga lease not renewed in time: stopping it here");
        actor.stop();
        finish(undefined, "lost");
        return;
      }
      lease.renew().catch((err: unknown) => {
        logger.warn({ saga: lease.id, err: String(err) }, "saga lease lost: stopping it here");
        actor.stop();
        finish(undefined, "lost");
      });
    }, renewEveryMs);
    renewal.unref();
    actor.subscribe({
      complete: () => {
        const snapshot = actor.getSnapshot();
        // Stopped from here (lease lost, worker stopping): already accounted for.
        if (snapshot.status !== "done") return;
        const saga = snapshot.output;
        if (snapshot.value === "lost") {
          logger.warn({ saga: lease.id }, "saga taken by another worker: stopped here");
          finish(undefined, "lost");
        } else {
          logger.info({ saga: lease.id, state: saga?.state }, "saga ended");
          finish(saga, saga?.state ?? "unknown");
        }
      },
      error: (err) => {
        logger.error({ saga: lease.id, err }, "saga machine failed");
        finish(undefined, "failed");
      },
    });
    this.#running.set(lease.id, {
      lease,
      done,
      stop: () => {
        actor.stop();
        finish(undefined, "stopped");
      },
    });
    actor.start();
  }

  /** Stops every saga here and lets their leases go, so other workers take them up at once. */
  async stop(): Promise<void> {
    const running = [...this.#running.values()];
    for (const r of running) r.stop();
    await Promise.all(running.map((r) => r.lease.release()));
  }
}

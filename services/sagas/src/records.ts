/** A saga's records as the wire shows them, and a new saga's first record. */
import type { SagaDefinition, SagaSummary, SagaView } from "@entente/protocol";
import type { SagaData } from "./machine.ts";
import type { SagaRecord } from "./store.ts";
import { traceIdOf } from "./tracing.ts";

/** What `get` shows of a record. */
export function viewOf(record: SagaRecord): SagaView {
  const traceId = traceIdOf(record.traceparent);
  return {
    id: record.id,
    ...(record.name === undefined ? {} : { name: record.name }),
    state: record.state,
    steps: record.steps.map((step, i) => ({
      ...step,
      name: record.definition.steps[i]?.name ?? step.name,
    })),
    ...(record.error ? { error: record.error } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.owner === undefined ? {} : { owner: record.owner }),
    ...(traceId ? { traceId } : {}),
  };
}

export function summaryOf(record: SagaRecord): SagaSummary {
  return {
    id: record.id,
    ...(record.name === undefined ? {} : { name: record.name }),
    state: record.state,
    done: record.steps.filter((s) => s.status === "done").length,
    steps: record.steps.length,
    updatedAt: record.updatedAt,
    ...(record.error ? { error: record.error.message } : {}),
  };
}

/** A new saga's first record: nothing done yet. */
export function newSaga(id: string, definition: SagaDefinition, name?: string): SagaData {
  const now = Date.now();
  return {
    id,
    ...(name === undefined ? {} : { name }),
    definition,
    state: "running",
    steps: definition.steps.map((step) => ({
      name: step.name,
      status: "pending",
      attempts: 0,
      compensationAttempts: 0,
    })),
    cursor: 0,
    createdAt: now,
    updatedAt: now,
  };
}

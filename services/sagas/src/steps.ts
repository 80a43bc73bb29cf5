/**
 * Running one action or compensation. Every execution carries its idempotency key: a SQL step
 * sends it as `idempotencyKey` to `entente.sql` (which applies a write at most once per key and
 * answers `alreadyApplied` on a repeat), a NATS request step in the `entente-idempotency-key`
 * header, on which its receiver dedupes. The reply kept in the saga is bounded.
 */
import {
  collectSqlResult,
  type DeploymentSubjects,
  SAGA_IDEMPOTENCY_HEADER,
  type SqlResult,
  toJson,
} from "@entente/protocol";
import { Deadline, type EntenteClient } from "@entente/runtime";
import type { Context } from "@opentelemetry/api";
import type { StepRun } from "./machine.ts";

export interface StepOptions {
  client: EntenteClient;
  subjects: DeploymentSubjects;
  /** A step's budget when it names none. */
  stepTimeoutMs: number;
  /** Replies larger than this (as JSON) are kept as a preview. */
  maxResultBytes: number;
}

export type StepExecutor = (run: StepRun, signal: AbortSignal, trace: Context) => Promise<unknown>;

export function stepExecutor(options: StepOptions): StepExecutor {
  const { client, subjects } = options;
  return async (run, signal, trace) => {
    const { effect } = run;
    const parent = {
      deadline: Deadline.after(effect.timeoutMs ?? options.stepTimeoutMs),
      trace,
      signal,
    };
    if (effect.kind === "sql") {
      const items = await client.collect(
        subjects.sql,
        {
          sql: effect.sql,
          ...(effect.params ? { params: effect.params } : {}),
          idempotencyKey: run.key,
        },
        { parent, service: "sagas" },
      );
      return bounded(sqlOutcome(collectSqlResult(items)), options.maxResultBytes);
    }
    const reply = await client.request(effect.subject, effect.body ?? {}, {
      parent,
      service: "sagas",
      headers: { [SAGA_IDEMPOTENCY_HEADER]: run.key },
    });
    return bounded(reply, options.maxResultBytes);
  };
}

/** What a SQL step's reply says: a write's count (a repeat is a success), or a read's rows. */
function sqlOutcome(result: SqlResult): unknown {
  if (result.affectedRows !== undefined || result.alreadyApplied !== undefined) {
    return {
      affectedRows: result.affectedRows ?? 0,
      ...(result.alreadyApplied ? { alreadyApplied: true } : {}),
    };
  }
  return { columns: result.columns.map((c) => c.name), rows: result.rows };
}

/** The reply as kept: whole when small, else its size and the start of its JSON. */
export function bounded(value: unknown, maxBytes: number): unknown {
  if (value === undefined) return null;
  const json = toJson(value);
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return JSON.parse(json) as unknown;
  return { truncated: true, bytes, preview: json.slice(0, Math.min(maxBytes, 1024)) };
}

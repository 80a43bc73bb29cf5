/**
 * What the query's machines tell each other, and how failures are told to the caller: a
 * target's result, a failure named by target and instance, whether an error ends the whole
 * query, and whether a partial answer may be given. Pure.
 */

import type { Value } from "@entente/promql";
import {
  EntenteError,
  type PartialInfo,
  type PartialPolicy,
  toEntenteError,
} from "@entente/protocol";
import type { InnerFailure } from "./instances/types.ts";
import type { PartialAggregate } from "./partials.ts";
import type { Point } from "./points.ts";
import type { Target } from "./router.ts";

export interface TargetResult {
  points?: Point[];
  partials?: PartialAggregate[];
  /** A PromQL plan's parts as one instance (or replica group) answered them. */
  values?: Value[];
  /** Failures inside a target that still answered (a federation below us, a replica). */
  failures?: InnerFailure[];
}

/**
 * How a child of the query (a target) or of a replica group (a replica's call) ended: its
 * result, or why there is none; `index` is its place among its parent's children.
 */
export type Outcome =
  | { index: number; ok: true; result: TargetResult }
  | { index: number; ok: false; error: EntenteError };

/** How a target's child ended: its result, else its error, else `otherwise()`. */
export function outcomeOf(
  context: { index: number; result?: TargetResult | undefined; error?: EntenteError | undefined },
  otherwise: () => EntenteError,
): Outcome {
  if (context.result) return { index: context.index, ok: true, result: context.result };
  return { index: context.index, ok: false, error: context.error ?? otherwise() };
}

export interface TargetFailure {
  target: string;
  instance: string;
  code: string;
  message: string;
}

/** Errors that end the whole query instead of one target. */
export function isFatal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // An instance that cannot do what is asked is not unhealthy: the query is what fails.
  return code === "TOO_LARGE" || code === "BAD_REQUEST" || code === "UNSUPPORTED";
}

/** The error, naming `instance` in its details unless it names one already. */
export function withInstance(err: unknown, instance: string): EntenteError {
  const error = toEntenteError(err);
  if (error.details && "instance" in error.details) return error;
  return new EntenteError(error.code, error.message, {
    retryable: error.retryable,
    details: { ...error.details, instance },
  });
}

export function failureOf(target: Target, err: unknown): TargetFailure {
  const error = toEntenteError(err);
  const instance = error.details?.instance;
  return {
    target: target.name,
    instance: typeof instance === "string" ? instance : target.name,
    code: error.code,
    message: error.message,
  };
}

/** A target still running (or never started) when the query's deadline came. */
export function lateFailure(target: Target, deadlineMs: number): TargetFailure {
  return {
    target: target.name,
    instance: target.name,
    code: "DEADLINE_EXCEEDED",
    message: `${target.name} did not answer within the query's ${deadlineMs} ms`,
  };
}

/** What failed, when anything did: the targets' own failures and those inside their results. */
export function partialInfo(
  total: number,
  results: ReadonlyArray<{ target: Target; result: TargetResult }>,
  failures: readonly TargetFailure[],
): PartialInfo | undefined {
  const errors: PartialInfo["errors"] = failures.map((f) => ({
    instance: f.instance,
    code: f.code,
    message: f.message,
  }));
  for (const { target, result } of results) {
    for (const f of result.failures ?? []) {
      errors.push({ instance: `${target.name}/${f.instance}`, code: f.code, message: f.message });
    }
  }
  if (errors.length === 0) return undefined;
  return { succeeded: results.length, total, errors };
}

/** `partial: deny` turns any failure into an error; so does a query nobody answered. */
export function refusal(
  policy: PartialPolicy,
  partial: PartialInfo | undefined,
): EntenteError | undefined {
  if (!partial) return undefined;
  const summary = partial.errors.map((e) => `${e.instance}: ${e.message}`).join("; ");
  if (policy === "deny") {
    return new EntenteError(
      "UNAVAILABLE",
      `partial result refused (partial: deny): ${partial.total - partial.succeeded} of ${partial.total} instances failed: ${summary}`,
      { details: { partial } },
    );
  }
  if (partial.succeeded === 0 && partial.total > 0) {
    return new EntenteError("UNAVAILABLE", `all ${partial.total} instances failed: ${summary}`, {
      details: { partial },
    });
  }
  return undefined;
}

/** A replica group none of whose replicas answered, with the code that tells most. */
export function everyReplicaFailed(
  group: string,
  failures: readonly InnerFailure[],
  code: string,
  retryable?: boolean,
): EntenteError {
  return new EntenteError(
    code,
    `every replica of ${group} failed: ${failures.map((f) => `${f.instance}: ${f.message}`).join("; ")}`,
    {
      ...(retryable === undefined ? {} : { retryable }),
      details: { instance: group, failures },
    },
  );
}

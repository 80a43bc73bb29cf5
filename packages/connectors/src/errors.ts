import { EntenteError } from "@entente/protocol";
import type { SourceKind } from "./types.ts";

/** Which source a failure belongs to; every connector error names it. */
export interface SourceRef {
  name: string;
  kind: SourceKind;
}

export function sourceLabel(source: SourceRef): string {
  return `source "${source.name}" (${source.kind})`;
}

export function cancelledError(source: SourceRef): EntenteError {
  return new EntenteError("CANCELLED", `${sourceLabel(source)}: query cancelled`, {
    details: { source: source.name },
  });
}

export function closedError(source: SourceRef): EntenteError {
  return new EntenteError("UNAVAILABLE", `${sourceLabel(source)}: connector is closed`, {
    retryable: false,
    details: { source: source.name },
  });
}

/** A table or column the source does not have. */
export function notFoundError(source: SourceRef, message: string): EntenteError {
  return toSourceError(source, new Error(message), () => ({ code: "NOT_FOUND", retryable: false }));
}

/** Network-level failures: the database was not reached or the connection dropped. */
const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "ER_CON_COUNT_ERROR",
  "ER_SERVER_SHUTDOWN",
]);

export interface Classified {
  code: "UNAVAILABLE" | "NOT_FOUND" | "BAD_REQUEST" | "CANCELLED" | "INTERNAL";
  retryable: boolean;
}

/**
 * Turns any driver error into an EntenteError naming the source. `classify` maps the
 * driver's own codes (SQLSTATE, errno names); network errors are recognised here.
 */
export function toSourceError(
  source: SourceRef,
  err: unknown,
  classify: (err: Record<string, unknown>) => Classified | undefined,
): EntenteError {
  if (err instanceof EntenteError) return err;
  const record = (typeof err === "object" && err !== null ? err : {}) as Record<string, unknown>;
  const message = messageOf(err);
  const driverCode = typeof record.code === "string" ? record.code : undefined;
  let classified = classify(record);
  if (classified === undefined && isConnectionFailure(err)) {
    classified = { code: "UNAVAILABLE", retryable: true };
  }
  classified ??= { code: "INTERNAL", retryable: false };
  const details: Record<string, unknown> = { source: source.name };
  if (driverCode !== undefined) details.driverCode = driverCode;
  return new EntenteError(classified.code, `${sourceLabel(source)}: ${message}`, {
    retryable: classified.retryable,
    details,
    cause: err,
  });
}

function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return true;
  // Node reports a refused connection to several addresses as an AggregateError.
  if (err instanceof AggregateError) return err.errors.some(isConnectionFailure);
  const message = err instanceof Error ? err.message : "";
  return /connection terminated|connection timeout|timeout expired|connect ETIMEDOUT|not queryable/i.test(
    message,
  );
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.message === "" && err.errors.length > 0) {
    return messageOf(err.errors[0]);
  }
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** A session's read that returned more rows than its caller takes. */
export function tooLargeError(source: SourceRef, maxRows: number): EntenteError {
  return new EntenteError("TOO_LARGE", `${sourceLabel(source)}: more than ${maxRows} rows`, {
    details: { source: source.name, maxRows },
  });
}

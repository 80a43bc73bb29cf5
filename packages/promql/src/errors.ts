/**
 * PromQL errors with Prometheus' error kinds, so the HTTP API can answer `errorType` as
 * Prometheus does: `bad_data` for a query that cannot be parsed or type-checked, `execution`
 * for one that fails while evaluating, `timeout` and `canceled` for a deadline or a caller gone.
 */
export type PromQLErrorKind = "bad_data" | "execution" | "timeout" | "canceled";

export class PromQLError extends Error {
  readonly kind: PromQLErrorKind;

  constructor(kind: PromQLErrorKind, message: string) {
    super(message);
    this.name = "PromQLError";
    this.kind = kind;
  }
}

export function badData(message: string): PromQLError {
  return new PromQLError("bad_data", message);
}

export function executionError(message: string): PromQLError {
  return new PromQLError("execution", message);
}

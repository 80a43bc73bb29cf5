/**
 * The one error shape of the wire contract. Every failure a worker reports — bad input, a
 * deadline, a dead source — travels as `{ error: { code, message, retryable, details? } }`.
 */

/** Error codes, each with whether a retry of the same request may help and its HTTP-like status. */
export const ERROR_CODES = {
  BAD_REQUEST: { retryable: false, status: 400 },
  MALFORMED: { retryable: false, status: 400 },
  TOO_LARGE: { retryable: false, status: 413 },
  NOT_FOUND: { retryable: false, status: 404 },
  UNSUPPORTED: { retryable: false, status: 501 },
  DEADLINE_EXCEEDED: { retryable: true, status: 504 },
  CANCELLED: { retryable: false, status: 499 },
  UNAVAILABLE: { retryable: true, status: 503 },
  BAD_RESPONSE: { retryable: false, status: 502 },
  SHUTTING_DOWN: { retryable: true, status: 503 },
  NO_RESPONDERS: { retryable: true, status: 503 },
  STREAM_GAP: { retryable: true, status: 502 },
  STREAM_DUPLICATE: { retryable: true, status: 502 },
  STREAM_OUT_OF_ORDER: { retryable: true, status: 502 },
  STREAM_STALLED: { retryable: true, status: 504 },
  CONSUMER_GONE: { retryable: false, status: 410 },
  INTERNAL: { retryable: false, status: 500 },
} as const satisfies Record<string, { retryable: boolean; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  code: ErrorCode | string;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export interface ErrorReply {
  error: ErrorBody;
}

export class EntenteError extends Error {
  readonly code: ErrorCode | string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode | string,
    message: string,
    options: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "EntenteError";
    this.code = code;
    this.retryable = options.retryable ?? isRetryableCode(code);
    this.details = options.details;
  }

  /** HTTP-like status for the NATS services API error header and HTTP gateways. */
  get status(): number {
    return statusOf(this.code);
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }

  static fromBody(body: ErrorBody): EntenteError {
    return new EntenteError(
      body.code,
      body.message,
      body.details === undefined
        ? { retryable: body.retryable }
        : { retryable: body.retryable, details: body.details },
    );
  }
}

export function isRetryableCode(code: string): boolean {
  return code in ERROR_CODES ? ERROR_CODES[code as ErrorCode].retryable : false;
}

export function statusOf(code: string): number {
  return code in ERROR_CODES ? ERROR_CODES[code as ErrorCode].status : 500;
}

/** Any thrown value as an EntenteError; unknown failures become INTERNAL without leaking stacks. */
export function toEntenteError(err: unknown): EntenteError {
  if (err instanceof EntenteError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new EntenteError("INTERNAL", message || "internal error", { cause: err });
}

/** True when a decoded reply body is the error shape. */
export function isErrorReply(value: unknown): value is ErrorReply {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = (value as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as ErrorBody).code === "string" &&
    typeof (error as ErrorBody).message === "string"
  );
}

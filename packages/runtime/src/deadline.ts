import { EntenteError, HEADERS } from "@entente/protocol";

/**
 * A request's time budget. It travels as the *remaining* milliseconds (not an absolute time),
 * so clocks of different machines never need to agree; each hop turns it into a local deadline.
 */
export class Deadline {
  readonly at: number;

  private constructor(at: number) {
    this.at = at;
  }

  static after(budgetMs: number, now = Date.now()): Deadline {
    return new Deadline(now + Math.max(0, budgetMs));
  }

  /**
   * The deadline a request carries in its `entente-timeout-ms` header, else `defaultMs`; never
   * longer than `maxMs`, so one caller cannot pin a worker forever.
   */
  static fromHeader(
    value: string | undefined,
    { defaultMs, maxMs }: { defaultMs: number; maxMs: number },
    now = Date.now(),
  ): Deadline {
    if (value === undefined || value === "") return Deadline.after(Math.min(defaultMs, maxMs), now);
    const budget = Number(value);
    if (!Number.isFinite(budget)) {
      throw new EntenteError(
        "BAD_REQUEST",
        `header ${HEADERS.timeoutMs} must be a number of milliseconds, got ${JSON.stringify(value)}`,
      );
    }
    return Deadline.after(Math.min(budget, maxMs), now);
  }

  remainingMs(now = Date.now()): number {
    return Math.max(0, this.at - now);
  }

  expired(now = Date.now()): boolean {
    return now >= this.at;
  }

  /** The earlier of this deadline and one `budgetMs` from now. */
  within(budgetMs: number | undefined, now = Date.now()): Deadline {
    if (budgetMs === undefined) return this;
    return now + budgetMs < this.at ? Deadline.after(budgetMs, now) : this;
  }

  /** The header value a downstream request carries: what is left, rounded down. */
  toHeader(now = Date.now()): string {
    return String(Math.floor(this.remainingMs(now)));
  }

  error(what: string): EntenteError {
    return new EntenteError("DEADLINE_EXCEEDED", `${what}: deadline exceeded`);
  }

  /**
   * A signal that aborts at this deadline (with {@link error}) or as soon as any of `linked`
   * aborts (with its reason), e.g. `context.deadline.within(2_000).signal(context.signal)` for
   * a sub-budget of the request being served. It holds one timer and one listener per linked
   * signal; both go as soon as it aborts, and `release()` (or `using`) lets them go earlier.
   */
  signal(
    linked?: AbortSignal | ReadonlyArray<AbortSignal | undefined>,
    what = "request",
  ): DeadlineSignal {
    return linkDeadline(this, linked, what);
  }
}

/** A signal bounded by a deadline; release it once the work it guards is over. */
export interface DeadlineSignal extends Disposable {
  readonly signal: AbortSignal;
  release(): void;
}

function linkDeadline(
  deadline: Deadline,
  linked: AbortSignal | ReadonlyArray<AbortSignal | undefined> | undefined,
  what: string,
): DeadlineSignal {
  const controller = new AbortController();
  const sources = linked === undefined ? [] : Array.isArray(linked) ? linked : [linked];
  const listeners: Array<[AbortSignal, () => void]> = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const release = () => {
    clearTimeout(timer);
    timer = undefined;
    for (const [source, listener] of listeners) source.removeEventListener("abort", listener);
    listeners.length = 0;
  };
  const abort = (reason: unknown) => {
    release();
    controller.abort(reason);
  };
  for (const source of sources as Array<AbortSignal | undefined>) {
    if (source === undefined) continue;
    if (source.aborted) {
      abort(source.reason);
      break;
    }
    const listener = () => abort(source.reason);
    source.addEventListener("abort", listener, { once: true });
    listeners.push([source, listener]);
  }
  if (!controller.signal.aborted) {
    if (deadline.expired()) abort(deadline.error(what));
    else timer = setTimeout(() => abort(deadline.error(what)), deadline.remainingMs());
  }
  return { signal: controller.signal, release, [Symbol.dispose]: release };
}

/**
 * Why work stopped, as the error its caller gets: the signal's EntenteError when it carries one
 * (a shutdown, a cancel, a budget's own deadline), else DEADLINE_EXCEEDED when the deadline has
 * passed or the signal timed out (`AbortSignal.timeout`), else CANCELLED. The one mapping from
 * an abort to an error: hosts, clients and services all use it.
 */
export function abortReason(
  signal: AbortSignal | undefined,
  deadline: Deadline | undefined,
  what: string,
): EntenteError {
  const reason: unknown = signal?.aborted ? signal.reason : undefined;
  if (reason instanceof EntenteError) return reason;
  if (deadline?.expired() || isTimeout(reason)) {
    return (
      deadline?.error(what) ?? new EntenteError("DEADLINE_EXCEEDED", `${what}: deadline exceeded`)
    );
  }
  return new EntenteError(
    "CANCELLED",
    `${what}: request cancelled`,
    reason === undefined ? {} : { cause: reason },
  );
}

function isTimeout(reason: unknown): boolean {
  return reason instanceof DOMException && reason.name === "TimeoutError";
}

/**
 * A request's budget with the `timeoutMs` its body names, for callers that cannot set headers
 * (`nats req`, curl): the earlier of the two, so the body can shorten the budget, never lengthen
 * it past what the header (or the host's maximum) allows. Anything but a positive number is left
 * for the endpoint's schema to judge.
 */
export function foldBodyTimeout(deadline: Deadline, body: unknown, now = Date.now()): Deadline {
  if (typeof body !== "object" || body === null) return deadline;
  const timeoutMs = (body as { timeoutMs?: unknown }).timeoutMs;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    return deadline;
  }
  return deadline.within(timeoutMs, now);
}

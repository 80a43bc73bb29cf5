/**
 * What every connector's session (`Connector.openSession`) does around one statement: refuse it
 * once released, stop it when its signal aborts (each database cancels its own way), and name
 * the source in its errors.
 */
import type { EntenteError } from "@entente/protocol";
import { cancelOnAbort } from "./abort.ts";
import { cancelledError, closedError, type SourceRef } from "./errors.ts";

export interface SessionGuard {
  ref: SourceRef;
  /** The session (or its connector) takes no more statements. */
  closed(): boolean;
  /** Stops the statement running on the session's connection. */
  cancel(): void;
  /** The database's error as the connector reports it. */
  mapError(err: unknown): EntenteError;
}

/** Runs statements of one session under its guard. */
export function guardedRunner(guard: SessionGuard) {
  return async <T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> => {
    if (guard.closed()) throw closedError(guard.ref);
    if (signal?.aborted) throw cancelledError(guard.ref);
    const stop = cancelOnAbort(signal, guard.cancel);
    try {
      const result = await work();
      if (signal?.aborted) throw cancelledError(guard.ref);
      return result;
    } catch (err) {
      throw signal?.aborted ? cancelledError(guard.ref) : guard.mapError(err);
    } finally {
      stop();
    }
  };
}

/** How a service was obtained: a URL from the environment, a local binary, or a container. */
export type ServiceSource = "env" | "binary" | "container";

/** What every service handle has. `stop()` is safe to call more than once. */
export interface ServiceHandle extends AsyncDisposable {
  readonly url: string;
  readonly source: ServiceSource;
  /** Releases what this handle started; a server from the environment is left running. */
  stop(): Promise<void>;
}

/** Wraps `fn` so that it runs once and every later call gets the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= fn();
    return running;
  };
}

/** Host and port of a URL, with `defaultPort` when the URL has none. */
export function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url.includes("://") ? url : `tcp://${url}`);
  return { host: parsed.hostname, port: parsed.port === "" ? defaultPort : Number(parsed.port) };
}

import { EntenteError } from "@entente/protocol";

export interface ParsedDatabaseUrl {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  database: string | undefined;
  /** Query parameters, e.g. `sslmode`. */
  params: Record<string, string>;
}

/**
 * `scheme://[user[:password]@]host[:port][/database][?k=v]` with percent-decoding;
 * `[::1]` IPv6 hosts kept bare. A URL that does not parse is BAD_REQUEST naming the source.
 */
export function parseDatabaseUrl(
  source: string,
  url: string,
  schemes: readonly string[],
  defaultPort: number,
): ParsedDatabaseUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new EntenteError("BAD_REQUEST", `source "${source}": "${redact(url)}" is not a URL`);
  }
  const scheme = parsed.protocol.replace(/:$/, "");
  if (!schemes.includes(scheme)) {
    throw new EntenteError(
      "BAD_REQUEST",
      `source "${source}": URL scheme "${scheme}" is not one of ${schemes.join(", ")}`,
    );
  }
  if (parsed.hostname === "") {
    throw new EntenteError("BAD_REQUEST", `source "${source}": URL "${redact(url)}" has no host`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? defaultPort : Number(parsed.port),
    user: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === "" ? undefined : decodeURIComponent(parsed.password),
    database: database === "" ? undefined : database,
    params: Object.fromEntries(parsed.searchParams),
  };
}

/** The URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}

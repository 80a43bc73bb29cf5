/**
 * A short digest of the configuration that determines a service's answers, compared between
 * workers of one service (peers.ts). Credentials are left out, so rotating a password on one
 * worker at a time is not a difference, and the digest says nothing about a secret.
 */
import { createHash } from "node:crypto";

/** Keys whose values are secrets, in any section. */
const SECRET_KEY =
  /^(pass|password|passphrase|token|secret|.*(secret|password|token)s?|creds(file)?)$/i;
/** `scheme://user:password@host`: the password part of a URL. */
const URL_PASSWORD = /(\/\/[^/:@\s]*):[^@/\s]*@/g;

/** 16 hex digits of SHA-256 over the canonical form of `value` without its secrets. */
export function configFingerprint(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value, redacted)).digest("hex").slice(0, 16);
}

/** Secrets dropped, URL passwords cut out. */
function redacted(key: string | undefined, value: unknown): unknown {
  if (key !== undefined && SECRET_KEY.test(key)) return undefined;
  return typeof value === "string" ? value.replace(URL_PASSWORD, "$1@") : value;
}

/**
 * JSON with keys sorted at every level and undefined left out: the same bytes for the same
 * value however it was built (for digests and signatures). `transform` sees every key and value
 * first; returning undefined leaves the entry out.
 */
export function canonicalJson(
  value: unknown,
  transform: (key: string | undefined, value: unknown) => unknown = (_key, v) => v,
): string {
  const write = (key: string | undefined, raw: unknown): string | undefined => {
    const v = transform(key, raw);
    if (v === undefined) return key === undefined ? "null" : undefined;
    if (typeof v === "bigint") return JSON.stringify(v.toString());
    if (v === null || typeof v !== "object") return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map((item) => write(undefined, item) ?? "null").join(",")}]`;
    const entries = Object.entries(v)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([k, item]) => {
        const text = write(k, item);
        return text === undefined ? [] : [`${JSON.stringify(k)}:${text}`];
      });
    return `{${entries.join(",")}}`;
  };
  return write(undefined, value) as string;
}

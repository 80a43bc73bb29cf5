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
  return createHash("sha256").update(canonical(value)).digest("hex").slice(0, 16);
}

/** JSON with keys sorted at every level, secrets dropped and URL passwords cut out. */
function canonical(value: unknown): string {
  if (value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value.replace(URL_PASSWORD, "$1@"));
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const entries = Object.entries(value)
    .filter(([key, v]) => v !== undefined && !SECRET_KEY.test(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonical(v)}`).join(",")}}`;
}

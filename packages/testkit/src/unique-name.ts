import { randomBytes } from "node:crypto";

/**
 * A name no parallel test will pick: lower case letters, digits and underscores only, so it is a
 * valid unquoted SQL identifier, vhost, stream or subject token.
 */
export function uniqueName(prefix = "t"): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return `${clean}_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
}

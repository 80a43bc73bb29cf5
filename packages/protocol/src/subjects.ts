/**
 * Subject names. Public entry points are plain subjects served by queue groups; internal,
 * region-scoped subjects carry the region: `entente.r.<region>.…`.
 */

export const SUBJECT_PREFIX = "entente";

export const SUBJECTS = {
  query: "entente.query",
  sql: "entente.sql",
  ingest: (instance: string) => `entente.ingest.${token(instance, "instance")}`,
  bridge: "entente.bridge",
  bridgeStatus: (link: string) => `entente.bridge.status.${token(link, "link")}`,
  diagnostics: {
    echo: "entente.diag.echo",
    stream: "entente.diag.stream",
    info: "entente.diag.info",
  },
} as const;

/** The queue group a service's workers share, so NATS spreads requests among them. */
export function queueGroupOf(service: string): string {
  return `entente.${token(service, "service")}`;
}

export function regionSubject(region: string, ...parts: string[]): string {
  return [
    SUBJECT_PREFIX,
    "r",
    token(region, "region"),
    ...parts.map((p) => token(p, "subject part")),
  ].join(".");
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A single subject token: no dots, wildcards or spaces, so a name cannot widen a subject. */
export function token(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new Error(
      `${what} ${JSON.stringify(value)} cannot be used in a subject: use letters, digits, '-' and '_'`,
    );
  }
  return value;
}

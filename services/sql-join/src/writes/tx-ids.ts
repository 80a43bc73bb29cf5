/**
 * Transaction ids name the decision log, the region and the worker whose coordinator started
 * them and when, so two coordinators never collide, recovery touches only transactions whose
 * decisions are in its own log and region (several deployments, regions or NATS systems may
 * share one database server, and MariaDB lists XA transactions server-wide), and it can tell an
 * old in-doubt transaction from one still being prepared:
 * `e<scope tag>.<region>.<worker>.<start ms, base 36>.<sequence, base 36>`. The scope is the
 * deployment and the id its decision log was created with; the tag is a hash of it. Each participant is prepared under the id
 * and its place in the transaction (`<id>.<n>`), since two sources may be databases of one
 * PostgreSQL server, whose prepared ids are server-wide. At most 64 characters, MariaDB's limit
 * for an XA id.
 */

export interface TransactionIdParts {
  /** The deployment and its decision log (`DecisionLog.scope`). */
  scope: string;
  region: number;
  worker: string;
  startedAtMs: number;
}

/** A worker's short name in its transaction ids: letters and digits only. */
export function workerTag(workerId: string): string {
  const tag = workerId.replace(/[^A-Za-z0-9]/g, "").slice(-10);
  return tag === "" ? "w" : tag;
}

/** The scope as transaction ids name it: 32-bit FNV-1a of it, base 36. */
export function scopeTag(scope: string): string {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(scope)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

/** What every id of one scope's region starts with. */
export function transactionPrefix(scope: string, region: number): string {
  return `e${scopeTag(scope)}.${region}.`;
}

export function transactionId(parts: TransactionIdParts, sequence: number): string {
  return `${transactionPrefix(parts.scope, parts.region)}${workerTag(parts.worker)}.${parts.startedAtMs.toString(36)}.${sequence.toString(36)}`;
}

/** The id a participant is prepared under. */
export function participantGid(id: string, index: number): string {
  return `${id}.${index}`;
}

export interface ParsedGid {
  /** The transaction's id. */
  id: string;
  scopeTag: string;
  region: number;
  worker: string;
  startedAtMs: number;
}

/** The transaction a prepared id belongs to, and what its id says; undefined if not one. */
export function parseGid(gid: string): ParsedGid | undefined {
  const m = /^e([0-9a-z]{1,7})\.(\d+)\.([A-Za-z0-9]+)\.([0-9a-z]+)\.([0-9a-z]+)\.\d+$/.exec(gid);
  if (!m) return undefined;
  return {
    id: gid.slice(0, gid.lastIndexOf(".")),
    scopeTag: m[1] as string,
    region: Number(m[2]),
    worker: m[3] as string,
    startedAtMs: Number.parseInt(m[4] as string, 36),
  };
}

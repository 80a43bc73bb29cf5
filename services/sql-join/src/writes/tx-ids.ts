/**
 * Transaction ids name the region and worker whose coordinator started them and when, so two
 * coordinators never collide and recovery can tell an old in-doubt transaction from one still
 * being prepared: `ent.<region>.<worker>.<start ms, base 36>.<sequence, base 36>`. Each
 * participant is prepared under the id and its place in the transaction (`<id>.<n>`), since two
 * sources may be databases of one PostgreSQL server, whose prepared ids are server-wide.
 * At most 64 characters, MariaDB's limit for an XA id.
 */

export const TRANSACTION_ID_PREFIX = "ent.";

export interface TransactionIdParts {
  region: number;
  worker: string;
  startedAtMs: number;
}

/** A worker's short name in its transaction ids: letters and digits only. */
export function workerTag(workerId: string): string {
  const tag = workerId.replace(/[^A-Za-z0-9]/g, "").slice(-10);
  return tag === "" ? "w" : tag;
}

export function transactionId(parts: TransactionIdParts, sequence: number): string {
  return `${TRANSACTION_ID_PREFIX}${parts.region}.${workerTag(parts.worker)}.${parts.startedAtMs.toString(36)}.${sequence.toString(36)}`;
}

/** The id a participant is prepared under. */
export function participantGid(id: string, index: number): string {
  return `${id}.${index}`;
}

/** The transaction a prepared id belongs to, and what its id says; undefined if not ours. */
export function parseGid(gid: string): (TransactionIdParts & { id: string }) | undefined {
  const m = /^ent\.(\d+)\.([A-Za-z0-9]+)\.([0-9a-z]+)\.([0-9a-z]+)\.\d+$/.exec(gid);
  if (!m) return undefined;
  return {
    id: gid.slice(0, gid.lastIndexOf(".")),
    region: Number(m[1]),
    worker: m[2] as string,
    startedAtMs: Number.parseInt(m[3] as string, 36),
  };
}

/** What a transaction id says, or undefined when it is not one. */
export function parseTransactionId(id: string): TransactionIdParts | undefined {
  const parsed = parseGid(`${id}.0`);
  return (
    parsed && { region: parsed.region, worker: parsed.worker, startedAtMs: parsed.startedAtMs }
  );
}

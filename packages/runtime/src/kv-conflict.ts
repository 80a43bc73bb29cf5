/** A JetStream KV create or update refused because the key is not at the revision expected. */
export function isKvConflict(err: unknown): boolean {
  const message = String((err as Error)?.message ?? err);
  return /wrong last sequence|key exists|10071/i.test(message);
}

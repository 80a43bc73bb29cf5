/** The cold store source materialized results are written to and read from. */
import type { ColdStore, Connector } from "@entente/connectors";
import { EntenteError } from "@entente/protocol";

/** A coldstore source's connector (ColdstoreConnector): its store, and queries over it. */
export interface MaterializeColdSource {
  readonly name: string;
  readonly store: Pick<ColdStore, "create" | "writeFiles" | "commit" | "expireSnapshots">;
  query: Connector["query"];
}

/**
 * The source `materialize.source` names, among the engine's connectors: it must be a cold
 * store. UNAVAILABLE when no source is configured, BAD_REQUEST when it is not a cold store.
 */
export function materializeSourceOf(
  connectors: ReadonlyMap<string, Connector>,
  name: string | undefined,
): MaterializeColdSource {
  if (name === undefined) {
    throw new EntenteError(
      "UNAVAILABLE",
      "materialized results are off: set materialize.source to a coldstore source",
    );
  }
  const connector = connectors.get(name);
  if (!connector) {
    const known = [...connectors.keys()].join(", ");
    throw new EntenteError(
      "BAD_REQUEST",
      `materialize.source: no source "${name}"${known ? ` (sources: ${known})` : ""}`,
    );
  }
  const store = (connector as Partial<MaterializeColdSource>).store;
  if (connector.kind !== "coldstore" || store === undefined) {
    throw new EntenteError(
      "BAD_REQUEST",
      `materialize.source: source "${name}" is ${connector.kind}; materialized results are kept in a coldstore source`,
    );
  }
  return {
    name,
    store,
    query: (statement, options) => connector.query(statement, options),
  };
}

import { EntenteError } from "@entente/protocol";

/** A request Prometheus would answer with `bad_data`: BAD_REQUEST, saying so for the HTTP API. */
export function badData(message: string): EntenteError {
  return new EntenteError("BAD_REQUEST", message, { details: { errorType: "bad_data" } });
}

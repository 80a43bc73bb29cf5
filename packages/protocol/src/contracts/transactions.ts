/**
 * `entente.tx`: distributed transactions in doubt — prepared at a source, their coordinator's
 * decision not yet carried out — listed, and committed or rolled back by hand as a database
 * administrator would.
 */
import { z } from "zod";

export const txRequestSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("list") }).strict(),
  z
    .object({
      op: z.enum(["commit", "rollback"]),
      id: z.string().min(1).max(200),
    })
    .strict(),
]);

export type TxRequest = z.output<typeof txRequestSchema>;

/** A transaction prepared at one or more sources and not yet finished there. */
export interface InDoubtTransaction {
  id: string;
  /** The sources where it is prepared. */
  sources: string[];
  /** What its coordinator decided and logged, or null where it decided nothing (yet). */
  decision: "commit" | "abort" | null;
  /** The region and worker whose coordinator started it, as its id names them. */
  region: number;
  worker: string;
  /** When it started, from its id (ms since the epoch). */
  startedAtMs: number;
}

export interface TxListReply {
  transactions: InDoubtTransaction[];
  /** Sources that could not be asked, with why. */
  errors: { source: string; message: string }[];
}

export interface TxResolveReply {
  id: string;
  outcome: "committed" | "rolled back";
  /** Sources where it was still prepared and has now been finished. */
  sources: string[];
}

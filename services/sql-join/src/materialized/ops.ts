/** The `entente.tiers` operations on materialized results: materialize, refresh, list. */
import type { MaterializedInfo, MaterializedListReply, TiersRequest } from "@entente/protocol";
import type { MaterializedResults } from "./materialized.ts";

export type MaterializedReply = MaterializedInfo | MaterializedListReply;

type MaterializedRequest = Extract<
  TiersRequest,
  { op: "materialize" | "refreshMaterialized" | "materialized" }
>;

/**
 * Answers `materialize` and `refreshMaterialized` with the result's MaterializedInfo and
 * `materialized` with every result.
 */
export async function materializedOp(
  results: MaterializedResults,
  request: MaterializedRequest,
  signal?: AbortSignal,
): Promise<MaterializedReply> {
  switch (request.op) {
    case "materialize":
      return results.materialize(request.sql, request.params ?? [], request.ttlMs, signal);
    case "refreshMaterialized":
      return results.refresh(request.id, signal);
    case "materialized":
      return { materialized: await results.list() };
  }
}

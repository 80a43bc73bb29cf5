/** The set operators `and`, `or` and `unless`, which keep samples whole (labels and values). */
import type { SetOp, VectorMatching } from "./ast.ts";
import { matchingSignature } from "./binary-matching.ts";
import type { Vector } from "./values.ts";

function signatures(vector: Vector, matching: VectorMatching): Set<string> {
  return new Set(vector.map((sample) => matchingSignature(sample.labels, matching)));
}

/** Samples are returned as given; the caller stamps the step's time on them. */
export function setBinop(op: SetOp, lhs: Vector, rhs: Vector, matching: VectorMatching): Vector {
  switch (op) {
    case "and": {
      if (lhs.length === 0 || rhs.length === 0) return [];
      const right = signatures(rhs, matching);
      return lhs.filter((sample) => right.has(matchingSignature(sample.labels, matching)));
    }
    case "or": {
      if (lhs.length === 0) return [...rhs];
      if (rhs.length === 0) return [...lhs];
      const left = signatures(lhs, matching);
      return [
        ...lhs,
        ...rhs.filter((sample) => !left.has(matchingSignature(sample.labels, matching))),
      ];
    }
    case "unless": {
      if (lhs.length === 0 || rhs.length === 0) return [...lhs];
      const right = signatures(rhs, matching);
      return lhs.filter((sample) => !right.has(matchingSignature(sample.labels, matching)));
    }
  }
}

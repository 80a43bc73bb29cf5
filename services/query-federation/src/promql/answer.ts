/**
 * Engine values in the shapes of Prometheus' HTTP API (`data`): times in Unix seconds, values
 * as strings. A large vector or matrix is cut into items of a bounded number of samples, each
 * with a slice of `result`, for the runtime to stream. Pure.
 */

import { formatSampleValue, type Value } from "@entente/promql";
import type {
  PartialInfo,
  PromMatrixElement,
  PromqlAnswer,
  PromSample,
  PromVectorElement,
} from "@entente/protocol";

/** Samples per streamed item. */
export const SAMPLES_PER_ITEM = 5_000;

function sample(t: number, v: number): PromSample {
  return [t / 1000, formatSampleValue(v)];
}

/** The warnings Prometheus' API gives for a partial answer: one per failed instance. */
export function warningsOf(partial: PartialInfo | undefined): string[] {
  return (partial?.errors ?? []).map((e) => `instance ${e.instance}: ${e.code}: ${e.message}`);
}

/** The answer's items: one for a small answer, slices of `result` for a large one. */
export function promqlItems(value: Value, partial?: PartialInfo): PromqlAnswer[] {
  const warnings = warningsOf(partial);
  const extra = {
    ...(warnings.length > 0 ? { warnings } : {}),
    ...(partial ? { partial } : {}),
  };
  switch (value.type) {
    case "scalar":
      return [{ resultType: "scalar", result: sample(value.t, value.v), ...extra }];
    case "string":
      return [{ resultType: "string", result: [value.t / 1000, value.v], ...extra }];
    case "vector": {
      const result: PromVectorElement[] = value.value.map((s) => ({
        metric: { ...s.labels },
        value: sample(s.t, s.v),
      }));
      return slices(result, () => 1).map((slice, i) => ({
        resultType: "vector",
        result: slice,
        ...(i === 0 ? extra : {}),
      }));
    }
    case "matrix": {
      const result: PromMatrixElement[] = value.value.map((s) => ({
        metric: { ...s.labels },
        values: s.samples.map((p) => sample(p.t, p.v)),
      }));
      return slices(result, (e) => e.values.length).map((slice, i) => ({
        resultType: "matrix",
        result: slice,
        ...(i === 0 ? extra : {}),
      }));
    }
  }
}

function slices<T>(elements: T[], samplesOf: (element: T) => number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let held = 0;
  for (const element of elements) {
    const n = Math.max(1, samplesOf(element));
    if (current.length > 0 && held + n > SAMPLES_PER_ITEM) {
      out.push(current);
      current = [];
      held = 0;
    }
    current.push(element);
    held += n;
  }
  out.push(current);
  return out;
}

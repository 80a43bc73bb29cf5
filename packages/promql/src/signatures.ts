/**
 * The functions this engine evaluates, with their argument and return types, for the parser's
 * type checks. The set is Prometheus 2's float functions; native-histogram functions and the
 * experimental ones of later releases are refused by name.
 */
import type { ValueType } from "./ast.ts";

export interface FunctionSignature {
  args: ValueType[];
  /** How many trailing arguments may be left out; -1: the last may repeat without limit. */
  optional: number;
  returns: ValueType;
}

const v = "vector" as const;
const m = "matrix" as const;
const s = "scalar" as const;
const str = "string" as const;

const vectorToVector = { args: [v], optional: 0, returns: v };
const rangeToVector = { args: [m], optional: 0, returns: v };
const dateFunction = { args: [v], optional: 1, returns: v };

export const FUNCTIONS: Readonly<Record<string, FunctionSignature>> = {
  abs: vectorToVector,
  absent: vectorToVector,
  absent_over_time: rangeToVector,
  acos: vectorToVector,
  acosh: vectorToVector,
  asin: vectorToVector,
  asinh: vectorToVector,
  atan: vectorToVector,
  atanh: vectorToVector,
  avg_over_time: rangeToVector,
  ceil: vectorToVector,
  changes: rangeToVector,
  clamp: { args: [v, s, s], optional: 0, returns: v },
  clamp_max: { args: [v, s], optional: 0, returns: v },
  clamp_min: { args: [v, s], optional: 0, returns: v },
  cos: vectorToVector,
  cosh: vectorToVector,
  count_over_time: rangeToVector,
  day_of_month: dateFunction,
  day_of_week: dateFunction,
  day_of_year: dateFunction,
  days_in_month: dateFunction,
  deg: vectorToVector,
  delta: rangeToVector,
  deriv: rangeToVector,
  exp: vectorToVector,
  floor: vectorToVector,
  histogram_quantile: { args: [s, v], optional: 0, returns: v },
  hour: dateFunction,
  idelta: rangeToVector,
  increase: rangeToVector,
  irate: rangeToVector,
  label_join: { args: [v, str, str, str], optional: -1, returns: v },
  label_replace: { args: [v, str, str, str, str], optional: 0, returns: v },
  last_over_time: rangeToVector,
  ln: vectorToVector,
  log10: vectorToVector,
  log2: vectorToVector,
  max_over_time: rangeToVector,
  min_over_time: rangeToVector,
  minute: dateFunction,
  month: dateFunction,
  pi: { args: [], optional: 0, returns: s },
  predict_linear: { args: [m, s], optional: 0, returns: v },
  present_over_time: rangeToVector,
  quantile_over_time: { args: [s, m], optional: 0, returns: v },
  rad: vectorToVector,
  rate: rangeToVector,
  resets: rangeToVector,
  round: { args: [v, s], optional: 1, returns: v },
  scalar: { args: [v], optional: 0, returns: s },
  sgn: vectorToVector,
  sin: vectorToVector,
  sinh: vectorToVector,
  sort: vectorToVector,
  sort_desc: vectorToVector,
  sqrt: vectorToVector,
  stddev_over_time: rangeToVector,
  stdvar_over_time: rangeToVector,
  sum_over_time: rangeToVector,
  tan: vectorToVector,
  tanh: vectorToVector,
  time: { args: [], optional: 0, returns: s },
  timestamp: vectorToVector,
  vector: { args: [s], optional: 0, returns: v },
  year: dateFunction,
};

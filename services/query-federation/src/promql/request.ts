/**
 * An `entente.promql` request made ready to run: parsed, its times in milliseconds, within the
 * limits Prometheus' API sets. Pure.
 */

import {
  assertRangeQueryRange,
  type EvalRange,
  type Expr,
  PromQLError,
  parse,
  typeOf,
} from "@entente/promql";
import { EntenteError, type PartialPolicy, type PromqlRequest } from "@entente/protocol";
import { badData } from "./bad-data.ts";
import { parsePromDuration, parsePromTime } from "./time.ts";

export interface PromqlQuery {
  text: string;
  expr: Expr;
  range: EvalRange;
  instant: boolean;
  timeoutMs?: number;
  partial: PartialPolicy;
}

/** A PromQL error as an Entente error whose details tell Prometheus' error type. */
export function promqlError(err: unknown): unknown {
  if (!(err instanceof PromQLError)) return err;
  switch (err.kind) {
    case "bad_data":
    case "execution":
      return new EntenteError("BAD_REQUEST", err.message, { details: { errorType: err.kind } });
    case "timeout":
      return new EntenteError("DEADLINE_EXCEEDED", err.message);
    case "canceled":
      return new EntenteError("CANCELLED", err.message);
  }
}

export function parseQuery(text: string): Expr {
  try {
    return parse(text);
  } catch (err) {
    throw promqlError(err);
  }
}

export function normalizePromql(request: PromqlRequest, now = Date.now()): PromqlQuery {
  const expr = parseQuery(request.query);
  const ranged =
    request.start !== undefined || request.end !== undefined || request.step !== undefined;
  let range: EvalRange;
  if (ranged) {
    if (request.time !== undefined) {
      throw badData("time: an instant query's time cannot come with start, end and step");
    }
    if (request.start === undefined || request.end === undefined || request.step === undefined) {
      throw badData("a range query needs start, end and step");
    }
    const type = typeOf(expr);
    if (type !== "vector" && type !== "scalar") {
      const shown = type === "matrix" ? "range vector" : type;
      throw badData(
        `invalid expression type "${shown}" for range query, must be Scalar or instant Vector`,
      );
    }
    const start = parsePromTime("start", request.start);
    const end = parsePromTime("end", request.end);
    const step = parsePromDuration("step", request.step);
    range = { start, end, step };
    try {
      assertRangeQueryRange(range);
    } catch (err) {
      throw promqlError(err);
    }
  } else {
    const time = request.time === undefined ? now : parsePromTime("time", request.time);
    range = { start: time, end: time, step: 0 };
  }
  return {
    text: request.query,
    expr,
    range,
    instant: !ranged,
    partial: request.partial ?? "allow",
    ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
  };
}

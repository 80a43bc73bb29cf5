/**
 * Times and durations as Prometheus' HTTP API takes them: a time is Unix seconds (fractions
 * allowed, as a number or a string) or RFC 3339; a duration is Prometheus' `1h30m` form or float
 * seconds. Everything becomes integer milliseconds, PromQL's resolution. Pure.
 */
import { parseDuration } from "@entente/promql";
import { badData } from "./bad-data.ts";

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

function bad(field: string, message: string) {
  return badData(`${field}: ${message}`);
}

/** A time parameter in milliseconds. */
export function parsePromTime(field: string, value: string | number): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw bad(field, `cannot parse ${value} to a valid timestamp`);
    return Math.round(value * 1000);
  }
  // Unix seconds, fractions and exponents allowed (`1.7e9`), as Prometheus reads them.
  const text = value.trim();
  const seconds = Number(text);
  if (text !== "" && /^[+-]?[\d.]/.test(text) && Number.isFinite(seconds)) {
    return Math.round(seconds * 1000);
  }
  if (RFC3339.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw bad(
    field,
    `cannot parse ${JSON.stringify(value)} to a valid timestamp (Unix seconds or RFC 3339)`,
  );
}

/** A duration parameter (step, timeout) in milliseconds; must be positive. */
export function parsePromDuration(field: string, value: string | number): number {
  let ms: number;
  try {
    ms = typeof value === "number" ? value * 1000 : parseDuration(value.trim());
  } catch {
    throw bad(field, `cannot parse ${JSON.stringify(value)} to a valid duration`);
  }
  if (!Number.isFinite(ms) || ms <= 0) {
    throw bad(
      field,
      "zero or negative query resolution step widths are not accepted. Try a positive integer",
    );
  }
  return Math.round(ms);
}

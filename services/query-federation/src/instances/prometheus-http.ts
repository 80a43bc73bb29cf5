/**
 * Prometheus' HTTP API (also spoken by Thanos, VictoriaMetrics, Mimir): one call, its JSON
 * envelope, its errors mapped to Entente's codes, and its answers read into PromQL values.
 */
import {
  type LabelMatcher,
  type Labels,
  parseSampleValue,
  type Series,
  type Value,
  type Vector,
} from "@entente/promql";
import { EntenteError } from "@entente/protocol";
import { badResponse, tooManyPoints } from "./rows.ts";
import type { FetchOptions } from "./types.ts";

export interface PrometheusEndpoint {
  /** The instance's name, for errors. */
  instance: string;
  /** Base URL: the API is under `<url>/api/v1/`. */
  url: string;
  headers?: Readonly<Record<string, string>> | undefined;
  /** Longest a call may take, below the caller's own time. */
  timeoutMs?: number | undefined;
}

/**
 * Bytes a body may have per sample it is allowed to carry, plus a floor, and at most a ceiling:
 * the body is parsed whole, so its size bounds both the memory and the time it holds the worker.
 */
const BYTES_PER_SAMPLE = 64;
const BODY_FLOOR_BYTES = 1024 * 1024;
const BODY_CEILING_BYTES = 64 * 1024 * 1024;

/**
 * POSTs `params` (form-encoded) to `path` and returns the envelope's `data`. The call ends at
 * the caller's signal (its reason is thrown) or at the time left (DEADLINE_EXCEEDED), which is
 * also sent as Prometheus' `timeout` so the server stops working on it too.
 */
export async function callPrometheus(
  endpoint: PrometheusEndpoint,
  path: string,
  params: URLSearchParams,
  options: FetchOptions,
): Promise<unknown> {
  options.signal.throwIfAborted();
  const timeoutMs = Math.max(
    1,
    Math.floor(Math.min(options.timeoutMs, endpoint.timeoutMs ?? Infinity)),
  );
  const timer = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([options.signal, timer]);
  params.set("timeout", `${timeoutMs}ms`);
  const url = `${endpoint.url.replace(/\/+$/, "")}${path}`;
  let status: number;
  let body: string;
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        ...endpoint.headers,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: params,
      signal,
    });
    status = response.status;
    body = await readBounded(endpoint.instance, response, bodyLimit(options.maxPoints));
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason;
    if (timer.aborted) {
      throw new EntenteError(
        "DEADLINE_EXCEEDED",
        `instance ${endpoint.instance} did not answer within ${timeoutMs} ms`,
        { details: { instance: endpoint.instance } },
      );
    }
    if (err instanceof EntenteError) throw err;
    throw unreachable(endpoint, err);
  }
  return dataOf(endpoint.instance, path, status, body);
}

function bodyLimit(maxPoints: number): number {
  return Math.min(BODY_CEILING_BYTES, BODY_FLOOR_BYTES + maxPoints * BYTES_PER_SAMPLE);
}

/** The body as text, refused as TOO_LARGE past `limit` bytes: nothing unbounded is held. */
async function readBounded(instance: string, response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel();
    throw tooLargeBody(instance, limit);
  }
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel();
      throw tooLargeBody(instance, limit);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

function tooLargeBody(instance: string, limit: number): EntenteError {
  return new EntenteError(
    "TOO_LARGE",
    `instance ${instance} answered more than ${limit} bytes: narrow the time range or the selectors`,
    { details: { instance, maxBytes: limit } },
  );
}

function unreachable(endpoint: PrometheusEndpoint, err: unknown): EntenteError {
  // fetch reports a refused or reset connection as "fetch failed" with the reason in `cause`.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EntenteError(
    "UNAVAILABLE",
    `instance ${endpoint.instance}: ${endpoint.url} cannot be reached: ${reason}`,
    { details: { instance: endpoint.instance }, cause: err },
  );
}

interface Envelope {
  status: "success" | "error";
  data?: unknown;
  errorType?: string;
  error?: string;
}

function envelopeOf(body: string): Envelope | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const status = (parsed as { status?: unknown }).status;
  return status === "success" || status === "error" ? (parsed as Envelope) : undefined;
}

/** Statuses a proxy or an overloaded server answers with, often without Prometheus' body. */
const BUSY_STATUSES = new Set([429, 502, 503, 504]);

/**
 * The envelope's data, or its error: a query the server refuses is the query's problem
 * (BAD_REQUEST); a server that cannot work now is UNAVAILABLE, which a retry may cure.
 * Warnings are dropped: they are notes about the answer (a counter without the usual suffix),
 * not failures of any instance, and Entente's answer has no place for them per instance.
 */
function dataOf(instance: string, path: string, status: number, body: string): unknown {
  const envelope = envelopeOf(body);
  if (envelope === undefined) {
    if (BUSY_STATUSES.has(status)) {
      throw new EntenteError(
        "UNAVAILABLE",
        `instance ${instance}: ${path} answered HTTP ${status}`,
        {
          details: { instance, status },
        },
      );
    }
    throw badResponse(
      instance,
      `${path} answered HTTP ${status} with a body that is not Prometheus' JSON envelope`,
    );
  }
  if (envelope.status === "success") {
    if (!("data" in envelope)) throw badResponse(instance, `${path} answered success without data`);
    return envelope.data;
  }
  const errorType = String(envelope.errorType ?? "");
  const message = `instance ${instance}: ${String(envelope.error ?? "error")}`;
  const details = { instance, errorType };
  switch (errorType) {
    case "bad_data":
    case "execution":
      return throwError("BAD_REQUEST", message, details);
    case "timeout":
      return throwError("DEADLINE_EXCEEDED", message, details);
    case "not_found":
      return throwError("BAD_RESPONSE", `${message} (is ${path} served at this URL?)`, details);
    default:
      return throwError(status >= 500 || status === 429 ? "UNAVAILABLE" : "BAD_RESPONSE", message, {
        ...details,
        status,
      });
  }
}

function throwError(code: string, message: string, details: Record<string, unknown>): never {
  throw new EntenteError(code, message, { details });
}

/** Prometheus' times: Unix seconds, written exactly for whole milliseconds. */
export function secondsOf(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) return String(ms / 1000);
  const fraction = ms % 1000;
  const whole = (ms - fraction) / 1000;
  return fraction === 0 ? String(whole) : `${whole}.${String(fraction).padStart(3, "0")}`;
}

/** A duration in Prometheus' syntax, whole milliseconds. */
export function durationOf(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`;
}

const LEGACY_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** True when every Prometheus (2.x included) takes the name unquoted. */
export function isPlainLabelName(name: string): boolean {
  return LEGACY_LABEL_NAME.test(name);
}

/**
 * `{name="value",…}`. Values are double-quoted with JSON's escapes, which PromQL reads as Go
 * escapes; other names are quoted too, which only servers with UTF-8 names accept.
 */
export function selectorText(matchers: readonly LabelMatcher[]): string {
  const parts = matchers.map(
    (m) =>
      `${isPlainLabelName(m.name) ? m.name : JSON.stringify(m.name)}${m.op}${JSON.stringify(m.value)}`,
  );
  return `{${parts.join(",")}}`;
}

/** Counts the samples of one call against what it may return. */
export class SampleAllowance {
  private readonly instance: string;
  private readonly maxPoints: number;
  private left: number;

  constructor(instance: string, maxPoints: number) {
    this.instance = instance;
    this.maxPoints = maxPoints;
    this.left = maxPoints;
  }

  take(count: number): void {
    this.left -= count;
    if (this.left < 0) throw tooManyPoints(this.instance, this.maxPoints);
  }
}

/** A sample value as Prometheus writes it: Go's float text, "NaN", "+Inf" or "-Inf". */
function sampleValue(instance: string, text: unknown): number {
  if (typeof text !== "string")
    throw badResponse(instance, `sample value ${String(text)} is not a string`);
  const v = parseSampleValue(text);
  if (text.trim() === "" || (Number.isNaN(v) && text !== "NaN")) {
    throw badResponse(instance, `sample value ${JSON.stringify(text)} is not a number`);
  }
  return v;
}

/** `[<unix seconds>, "<value>"]` → milliseconds and the value. */
function samplePair(instance: string, pair: unknown): { t: number; v: number } {
  if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "number") {
    throw badResponse(instance, "a sample is not [<time>, <value>]");
  }
  return { t: Math.round(pair[0] * 1000), v: sampleValue(instance, pair[1]) };
}

function labelsOf(instance: string, metric: unknown): Labels {
  if (typeof metric !== "object" || metric === null || Array.isArray(metric)) {
    throw badResponse(instance, "a series' labels are not an object");
  }
  for (const value of Object.values(metric)) {
    if (typeof value !== "string") throw badResponse(instance, "a label value is not a string");
  }
  return metric as Labels;
}

function listOf(instance: string, value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw badResponse(instance, `${what} is not a list`);
  return value;
}

/**
 * One element of a vector or matrix, as an object. Native histograms are refused: they have no
 * place in Entente's float samples.
 */
function elementOf(instance: string, element: unknown): Record<string, unknown> {
  if (typeof element !== "object" || element === null || Array.isArray(element)) {
    throw badResponse(instance, "a result element is not an object");
  }
  if ("histogram" in element || "histograms" in element) {
    throw new EntenteError(
      "UNSUPPORTED",
      `instance ${instance} answered native histogram samples, which are not supported`,
      { details: { instance } },
    );
  }
  return element as Record<string, unknown>;
}

/** `data` of `/api/v1/query` or `/api/v1/query_range` as the engine's value. */
export function resultValueOf(instance: string, data: unknown, allowance: SampleAllowance): Value {
  if (typeof data !== "object" || data === null)
    throw badResponse(instance, "data is not an object");
  const { resultType, result } = data as { resultType?: unknown; result?: unknown };
  switch (resultType) {
    case "vector": {
      const elements = listOf(instance, result, "a vector");
      allowance.take(elements.length);
      const value: Vector = elements.map((element) => {
        const { metric, value: pair } = elementOf(instance, element);
        return { labels: labelsOf(instance, metric), ...samplePair(instance, pair) };
      });
      return { type: "vector", value };
    }
    case "matrix":
      return { type: "matrix", value: matrixOf(instance, result, allowance) };
    case "scalar": {
      allowance.take(1);
      return { type: "scalar", ...samplePair(instance, result) };
    }
    case "string": {
      if (
        !Array.isArray(result) ||
        typeof result[0] !== "number" ||
        typeof result[1] !== "string"
      ) {
        throw badResponse(instance, "a string result is not [<time>, <text>]");
      }
      return { type: "string", t: Math.round(result[0] * 1000), v: result[1] };
    }
    default:
      throw badResponse(instance, `unknown resultType ${JSON.stringify(resultType)}`);
  }
}

function matrixOf(instance: string, result: unknown, allowance: SampleAllowance): Series[] {
  return listOf(instance, result, "a matrix").map((element) => {
    const { metric, values } = elementOf(instance, element);
    const pairs = listOf(instance, values ?? [], "a series' values");
    allowance.take(pairs.length);
    return {
      labels: labelsOf(instance, metric),
      samples: pairs.map((p) => samplePair(instance, p)),
    };
  });
}

/** `data` of `/api/v1/series`: a list of label sets. */
export function labelSetsOf(instance: string, data: unknown, allowance: SampleAllowance): Labels[] {
  const sets = listOf(instance, data, "the series list");
  allowance.take(sets.length);
  return sets.map((labels) => labelsOf(instance, labels));
}

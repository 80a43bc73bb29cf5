/**
 * Prometheus' HTTP API (`/api/v1/…`, and the same under `/federated/api/v1/…`) on the query
 * federation's HTTP port, so Grafana's Prometheus data source can use Entente as its server.
 * Every route enters a NATS endpoint of the PromQL contract through the runtime's HTTP front
 * door; this module only turns Prometheus' parameters into those endpoints' requests and their
 * answers and errors into Prometheus' envelope.
 */
import {
  type EntenteError,
  joinPromqlItems,
  type PromqlAnswer,
  type PromqlLabelsAnswer,
  type PromqlSeriesAnswer,
  promqlBuildinfoSubject,
  promqlLabelsSubject,
  promqlMetadataSubject,
  promqlSeriesSubject,
  promqlValuesSubject,
} from "@entente/protocol";
import {
  type EndpointDefinition,
  endpoint,
  type HttpOutput,
  type HttpRequestParts,
  type HttpRoute,
} from "@entente/runtime";
import { z } from "zod";
import { badData } from "./promql/bad-data.ts";
import { parsePromDuration } from "./promql/time.ts";

/** Where the API is served: Prometheus' own path, and beside the federation's other routes. */
export const PROMETHEUS_API_PREFIXES = ["/api/v1", "/federated/api/v1"] as const;

/**
 * The Prometheus release whose API and PromQL semantics Entente follows. Grafana reads the
 * version as semver to pick features; Entente's own version rides as build metadata, which
 * semver ignores in comparisons and ranges (a pre-release tag would fail range checks).
 */
export const PROMETHEUS_API_VERSION = "2.42.0";

/** Prometheus' error types, each answered with Prometheus' status for it. */
export const PROMETHEUS_ERROR_STATUS = {
  bad_data: 400,
  execution: 422,
  canceled: 503,
  timeout: 503,
  unavailable: 503,
  not_found: 404,
  internal: 500,
} as const;
export type PrometheusErrorType = keyof typeof PROMETHEUS_ERROR_STATUS;

/** Entente's codes as Prometheus' error types; any other code is `internal`. */
const ERROR_TYPE_OF_CODE: Record<string, PrometheusErrorType> = {
  BAD_REQUEST: "bad_data",
  MALFORMED: "bad_data",
  NOT_FOUND: "not_found",
  DEADLINE_EXCEEDED: "timeout",
  CANCELLED: "canceled",
  UNAVAILABLE: "unavailable",
  NO_RESPONDERS: "unavailable",
  SHUTTING_DOWN: "unavailable",
  TOO_LARGE: "execution",
  // Something a query needs that an instance cannot do: the query's problem, not the server's.
  UNSUPPORTED: "execution",
};

/** A PromQL error says its own type (`details.errorType`); other errors by their code. */
export function prometheusErrorType(error: EntenteError): PrometheusErrorType {
  const declared = error.details?.errorType;
  if (typeof declared === "string" && declared in PROMETHEUS_ERROR_STATUS) {
    return declared as PrometheusErrorType;
  }
  return ERROR_TYPE_OF_CODE[error.code] ?? "internal";
}

export interface PrometheusErrorBody {
  status: "error";
  errorType: PrometheusErrorType;
  error: string;
}

export function prometheusError(error: EntenteError): {
  status: number;
  body: PrometheusErrorBody;
} {
  const errorType = prometheusErrorType(error);
  return {
    status: PROMETHEUS_ERROR_STATUS[errorType],
    body: { status: "error", errorType, error: error.message },
  };
}

export interface PrometheusSuccess {
  status: "success";
  data: unknown;
  warnings?: string[];
}

/** Prometheus' envelope; `warnings` only when there are some. */
export function success(data: unknown, warnings: readonly string[] | undefined): PrometheusSuccess {
  return warnings && warnings.length > 0
    ? { status: "success", data, warnings: [...warnings] }
    : { status: "success", data };
}

/** An envelope whose `data` and warnings the route's answer gives. */
function envelope(shape: (answer: unknown) => PrometheusSuccess): HttpOutput {
  return { answer: shape, error: prometheusError };
}

/** `query`, `query_range`: the joined answer's `resultType` and `result`; the rest are warnings. */
const queryOutput = envelope((answer) => {
  const { warnings, partial: _partial, ...data } = answer as PromqlAnswer;
  return success(data, warnings);
});

const seriesOutput = envelope((answer) => {
  const { series, warnings } = answer as PromqlSeriesAnswer;
  return success(series, warnings);
});

/** `labels` and `label/<name>/values`: the names or values. */
const valuesOutput = envelope((answer) => {
  const { values, warnings } = answer as PromqlLabelsAnswer;
  return success(values, warnings);
});

const plainOutput = envelope((answer) => success(answer, undefined));

/**
 * A parameter as Prometheus reads it (`FormValue`): from a form body first, then the query
 * string; an empty value counts as absent.
 */
function param(request: HttpRequestParts, name: string): string | undefined {
  const value = request.form?.get(name) || request.query.get(name);
  return value === null || value === "" ? undefined : value;
}

/** A repeated parameter (`match[]`): the form's values, then the query string's. */
function params(request: HttpRequestParts, name: string): string[] {
  return [...(request.form?.getAll(name) ?? []), ...request.query.getAll(name)].filter(
    (value) => value !== "",
  );
}

/** The parameters present, without the absent ones (the contract's schemas are strict). */
function present(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** `timeout` (a Prometheus duration) as the request's time budget. */
function timeoutOf(request: HttpRequestParts): number | undefined {
  const timeout = param(request, "timeout");
  if (timeout === undefined) return undefined;
  try {
    return parsePromDuration("timeout", timeout);
  } catch {
    // Its own message speaks of steps; this one names the parameter as Prometheus does.
    throw badData(
      `invalid parameter "timeout": cannot parse ${JSON.stringify(timeout)} to a positive duration`,
    );
  }
}

function instantInput(request: HttpRequestParts): unknown {
  return present({
    query: param(request, "query") ?? "",
    time: param(request, "time"),
    timeoutMs: timeoutOf(request),
  });
}

function rangeInput(request: HttpRequestParts): unknown {
  const range = {
    start: param(request, "start"),
    end: param(request, "end"),
    step: param(request, "step"),
  };
  // Without them the endpoint would answer an instant query.
  for (const [name, value] of Object.entries(range)) {
    if (value === undefined) throw badData(`invalid parameter "${name}": it is required`);
  }
  return present({ query: param(request, "query") ?? "", ...range, timeoutMs: timeoutOf(request) });
}

function seriesInput(request: HttpRequestParts): unknown {
  const match = params(request, "match[]");
  if (match.length === 0) throw badData("no match[] parameter provided");
  return present({
    match,
    start: param(request, "start"),
    end: param(request, "end"),
    timeoutMs: timeoutOf(request),
  });
}

function labelsInput(request: HttpRequestParts): unknown {
  const match = params(request, "match[]");
  return present({
    ...(request.params.name === undefined ? {} : { name: request.params.name }),
    ...(match.length > 0 ? { match } : {}),
    start: param(request, "start"),
    end: param(request, "end"),
    timeoutMs: timeoutOf(request),
  });
}

/** Routes whose endpoints take no parameters. */
const noInput = (): unknown => ({});

/** The routes of Prometheus' API under both prefixes, onto the PromQL contract's endpoints. */
export function prometheusApiRoutes(promqlSubject: string): Array<Omit<HttpRoute, "service">> {
  const both = ["GET", "POST"];
  const routes: Array<Omit<HttpRoute, "service"> & { methods: string[] }> = [
    {
      methods: both,
      path: "/query",
      endpoint: promqlSubject,
      input: instantInput,
      collect: joinPromqlItems,
      output: queryOutput,
    },
    {
      methods: both,
      path: "/query_range",
      endpoint: promqlSubject,
      input: rangeInput,
      collect: joinPromqlItems,
      output: queryOutput,
    },
    {
      methods: both,
      path: "/series",
      endpoint: promqlSeriesSubject(promqlSubject),
      input: seriesInput,
      output: seriesOutput,
    },
    {
      methods: both,
      path: "/labels",
      endpoint: promqlLabelsSubject(promqlSubject),
      input: labelsInput,
      output: valuesOutput,
    },
    {
      methods: ["GET"],
      path: "/label/:name/values",
      endpoint: promqlValuesSubject(promqlSubject),
      input: labelsInput,
      output: valuesOutput,
    },
    {
      methods: ["GET"],
      path: "/metadata",
      endpoint: promqlMetadataSubject(promqlSubject),
      input: noInput,
      output: plainOutput,
    },
    {
      methods: ["GET"],
      path: "/status/buildinfo",
      endpoint: promqlBuildinfoSubject(promqlSubject),
      input: noInput,
      output: plainOutput,
    },
  ];
  return PROMETHEUS_API_PREFIXES.flatMap((prefix) =>
    routes.flatMap(({ methods, path, ...route }) =>
      methods.map((method) => ({ ...route, method, path: `${prefix}${path}` })),
    ),
  );
}

/** What `status/buildinfo` answers: Prometheus' fields, naming Entente. */
export function buildInfo(serviceVersion: string): Record<string, string> {
  return {
    version: `${PROMETHEUS_API_VERSION}+entente.${serviceVersion}`,
    revision: `entente-${serviceVersion}`,
    branch: "entente",
    buildUser: "entente",
    buildDate: "",
    goVersion: `node ${process.versions.node}`,
  };
}

/**
 * The endpoints of the two routes no PromQL endpoint serves: `metadata` (Entente keeps no
 * metric metadata: always `{}`) and `status/buildinfo`.
 */
export function prometheusInfoEndpoints(
  promqlSubject: string,
  serviceVersion: string,
): EndpointDefinition[] {
  const info = buildInfo(serviceVersion);
  return [
    endpoint({
      name: "promql-metadata",
      subject: promqlMetadataSubject(promqlSubject),
      schema: z.unknown(),
      description: "Metric metadata as Prometheus' API answers it; Entente keeps none",
      handler: () => ({}),
    }),
    endpoint({
      name: "promql-buildinfo",
      subject: promqlBuildinfoSubject(promqlSubject),
      schema: z.unknown(),
      description: "The Prometheus version whose API and PromQL Entente follows, and its own",
      handler: () => info,
    }),
  ];
}

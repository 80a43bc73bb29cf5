import { type Attributes, context, diag, logs, propagation, trace } from "@opentelemetry/api";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace";
import { DeferredEnd } from "./deferred-end.ts";

export interface TracingOptions {
  /** `service.name` of this process; OTEL_SERVICE_NAME, when set, wins. */
  serviceName: string;
  /** More processors (a HopLatencyProcessor, an in-memory exporter), beside the exporter. */
  spanProcessors?: SpanProcessor[];
  /** Resource attributes of this process; OTEL_RESOURCE_ATTRIBUTES overrides them. */
  resourceAttributes?: Attributes;
  /**
   * Export here instead of where the environment says: an exporter, or the full URL of an
   * OTLP/HTTP (protobuf) traces endpoint such as `http://127.0.0.1:4318/v1/traces`.
   */
  exporter?: SpanExporter | string;
}

export interface Tracing {
  /** False when OTEL_SDK_DISABLED=true: nothing was registered and every span is a no-op. */
  readonly enabled: boolean;
  /** Where spans are exported ("otlp", "console", "custom"); empty when only kept in process. */
  readonly exporters: readonly string[];
  /** Exports every finished span now. */
  forceFlush(): Promise<void>;
  /** Flushes, stops the SDK and unregisters the OpenTelemetry globals. Idempotent. */
  shutdown(): Promise<void>;
}

type ExporterName = "otlp" | "console";

const OTLP_PROTOCOL = "http/protobuf";

/** Tracing owns the process-wide OpenTelemetry globals, so only one may run at a time. */
let owner: symbol | undefined;

/**
 * Starts the OpenTelemetry NodeSDK for this process, configured by the standard `OTEL_*`
 * variables: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER
 * (and _ARG), OTEL_PROPAGATORS, OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
 * _HEADERS, _TIMEOUT, _PROTOCOL and OTEL_BSP_*. Only traces: no metrics, no OpenTelemetry logs
 * (logs are JSON lines carrying the trace id) and no auto-instrumentation (hops are traced by
 * hand), which keeps startup light. The SDK itself is loaded only here, so importing the hop
 * helpers costs nothing.
 *
 * With neither OTEL_TRACES_EXPORTER nor an OTLP endpoint set, nothing is exported. The stock
 * SDK would export to localhost:4318 anyway; on a machine without a collector every batch then
 * fails after seconds of retries (connection errors once OTEL_LOG_LEVEL is set), and flush and
 * shutdown wait for it. The W3C propagator and a recording tracer provider are registered all
 * the same, so trace context still crosses every hop, log lines carry trace ids and hop
 * observations still reach their processor.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  if (owner !== undefined) {
    throw new Error(
      "tracing is already started in this process: shut it down before starting again",
    );
  }
  const token = Symbol("tracing");
  owner = token;
  try {
    return await start(options, token);
  } catch (err) {
    if (owner === token) owner = undefined;
    throw err;
  }
}

async function start(options: TracingOptions, token: symbol): Promise<Tracing> {
  const extra = options.spanProcessors ?? [];
  if (envFlag(process.env.OTEL_SDK_DISABLED)) return disabledTracing(extra, token);
  // Read the exporter choice before loading anything, so a bad variable fails fast and clearly.
  const chosen = options.exporter === undefined ? traceExportersFromEnv(process.env) : [];
  checkSamplerEnv(process.env);

  const [{ NodeSDK }, sdkTrace, resources, { ATTR_SERVICE_NAME }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/sdk-trace"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  const { BatchSpanProcessor, ConsoleSpanExporter, NoopSpanProcessor, SimpleSpanProcessor } =
    sdkTrace;
  const bsp = await batchOptionsFromEnv();
  // Batches are serialised after the task that fills them, not inside a request's span.end().
  const batch = (exporter: SpanExporter) =>
    new DeferredEnd(new BatchSpanProcessor({ exporter, ...bsp }));
  const otlp = async (url?: string) => {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    // Without a url the exporter reads the OTEL_EXPORTER_OTLP_* variables itself.
    return new OTLPTraceExporter(url === undefined ? {} : { url });
  };

  const exporters: string[] = [];
  const processors: SpanProcessor[] = [];
  if (typeof options.exporter === "string") {
    processors.push(batch(await otlp(options.exporter)));
    exporters.push("otlp");
  } else if (options.exporter !== undefined) {
    processors.push(batch(options.exporter));
    exporters.push("custom");
  }
  for (const name of chosen) {
    processors.push(
      name === "otlp"
        ? batch(await otlp())
        : new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }),
    );
    exporters.push(name);
  }
  processors.push(...extra);
  // NodeSDK registers no tracer provider for an empty list, and then nothing would propagate.
  if (processors.length === 0) processors.push(new NoopSpanProcessor());

  const serviceName = process.env.OTEL_SERVICE_NAME?.trim() || options.serviceName;
  const sdk = new NodeSDK({
    // The lowest layer: detected attributes, OTEL_RESOURCE_ATTRIBUTES included, merge over it.
    resource: resources.defaultResource().merge(
      resources.resourceFromAttributes({
        ...options.resourceAttributes,
        [ATTR_SERVICE_NAME]: serviceName,
      }),
    ),
    spanProcessors: processors,
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  try {
    sdk.start();
  } catch (err) {
    disableGlobals();
    disableDiag();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    enabled: true,
    exporters,
    forceFlush: async () => {
      await Promise.all(processors.map((p) => p.forceFlush()));
    },
    shutdown: () => {
      stopping ??= (async () => {
        // Unregister first: no new span may start on a provider that is shutting down.
        disableGlobals();
        try {
          await sdk.shutdown();
        } catch (err) {
          // A collector that is down loses the last spans; it must not fail the worker's stop.
          diag.warn("tracing: the last spans could not be exported", err);
        } finally {
          disableDiag();
          if (owner === token) owner = undefined;
        }
      })();
      return stopping;
    },
  };
}

function disabledTracing(processors: SpanProcessor[], token: symbol): Tracing {
  let stopping: Promise<void> | undefined;
  return {
    enabled: false,
    exporters: [],
    forceFlush: () => Promise.resolve(),
    shutdown: () => {
      stopping ??= Promise.all(processors.map((p) => p.shutdown())).then(() => {
        if (owner === token) owner = undefined;
      });
      return stopping;
    },
  };
}

/** NodeSDK.shutdown() stops the providers but leaves them registered; a restart needs them gone. */
function disableGlobals(): void {
  trace.disable();
  context.disable();
  propagation.disable();
  logs.disable();
}

/** NodeSDK installs a diag logger for OTEL_LOG_LEVEL only; a restart would warn it is replaced. */
function disableDiag(): void {
  if (process.env.OTEL_LOG_LEVEL?.trim()) diag.disable();
}

/**
 * The exporters the environment asks for. OTEL_TRACES_EXPORTER decides when set ("none" turns
 * export off); otherwise an OTLP endpoint variable alone means OTLP; otherwise nothing (see
 * {@link startTracing}). Unsupported values throw, naming the variable, rather than silently
 * exporting nowhere.
 */
export function traceExportersFromEnv(env: Record<string, string | undefined>): ExporterName[] {
  const listed = (env.OTEL_TRACES_EXPORTER ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  let names: ExporterName[];
  if (listed.length > 0) {
    if (listed.includes("none")) return [];
    names = [];
    for (const name of new Set(listed)) {
      if (name !== "otlp" && name !== "console") {
        throw new Error(
          `OTEL_TRACES_EXPORTER: unsupported exporter "${name}" (supported: otlp, console, none)`,
        );
      }
      names.push(name);
    }
  } else if (
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() ||
    env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  ) {
    names = ["otlp"];
  } else {
    return [];
  }
  if (names.includes("otlp")) {
    const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
      ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
      : "OTEL_EXPORTER_OTLP_PROTOCOL";
    const protocol = env[variable]?.trim() || OTLP_PROTOCOL;
    if (protocol !== OTLP_PROTOCOL) {
      throw new Error(
        `${variable}: unsupported OTLP protocol "${protocol}" (supported: ${OTLP_PROTOCOL}, e.g. Jaeger on port 4318)`,
      );
    }
  }
  return names;
}

/** The OTEL_TRACES_SAMPLER values the SDK builds from the environment. */
export const TRACE_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/**
 * Refuses an OTEL_TRACES_SAMPLER the SDK does not know, and a ratio OTEL_TRACES_SAMPLER_ARG
 * that is not a number in [0, 1]. The SDK itself would log the mistake only through its
 * diagnostic logger (off unless OTEL_LOG_LEVEL is set) and sample everything instead, so a
 * typo would silently cost a full trace volume.
 */
export function checkSamplerEnv(env: Record<string, string | undefined>): void {
  const sampler = env.OTEL_TRACES_SAMPLER?.trim();
  if (!sampler) return;
  if (!(TRACE_SAMPLERS as readonly string[]).includes(sampler)) {
    throw new Error(
      `OTEL_TRACES_SAMPLER: unknown sampler "${env.OTEL_TRACES_SAMPLER}" (accepted: ${TRACE_SAMPLERS.join(", ")})`,
    );
  }
  const arg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  if (sampler.endsWith("traceidratio") && arg) {
    const ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
      throw new Error(
        `OTEL_TRACES_SAMPLER_ARG: "${env.OTEL_TRACES_SAMPLER_ARG}" is not a sampling ratio (a number from 0 to 1, e.g. 0.1) for ${sampler}`,
      );
    }
  }
}

/** OTEL_BSP_* settings; NodeSDK reads them only for processors it builds itself. */
async function batchOptionsFromEnv() {
  const { getNumberFromEnv } = await import("@opentelemetry/core");
  const positive = (name: string) => {
    const value = getNumberFromEnv(name);
    return value !== undefined && value > 0 ? value : undefined;
  };
  return {
    maxQueueSize: positive("OTEL_BSP_MAX_QUEUE_SIZE"),
    maxExportBatchSize: positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"),
    scheduledDelayMillis: positive("OTEL_BSP_SCHEDULE_DELAY"),
    exportTimeoutMillis: positive("OTEL_BSP_EXPORT_TIMEOUT"),
  };
}

function envFlag(value: string | undefined): boolean {
  return value?.trim().toLowerCase() === "true";
}

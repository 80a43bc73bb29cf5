import { hostname } from "node:os";
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import {
  type DestinationStream,
  type LevelWithSilent,
  type Logger as PinoLogger,
  pino,
} from "pino";

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

export interface LoggerOptions {
  /** Written on every line, so lines of many services can share one stream. */
  service: string;
  /** Wins over ENTENTE_LOG_LEVEL; the default is info. */
  level?: LogLevel;
  /** Where lines go; standard output by default. */
  destination?: DestinationStream;
}

/** Fields that hold secrets, masked at any of the first four levels of a line. */
const SECRET_FIELDS = ["pass", "password", "token", "seed", "secret"] as const;
const REDACTED_PATHS: readonly string[] = SECRET_FIELDS.flatMap((field) =>
  ["", "*.", "*.*.", "*.*.*."].map((prefix) => `${prefix}${field}`),
);

const LEVELS: readonly string[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/**
 * A JSON-lines logger. Each line carries `service` and, inside an active OpenTelemetry span,
 * `trace_id`, `span_id` and `trace_flags` (the names of the OpenTelemetry log data model), so a
 * line leads to its trace in Jaeger and back.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? levelFromEnv(process.env.ENTENTE_LOG_LEVEL) ?? "info",
      base: { service: options.service, pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: readable by people and log pipelines alike.
      formatters: { level: (label) => ({ level: label }) },
      mixin: traceFields,
      // A settings object or link definition logged whole must not carry its secrets.
      redact: { paths: [...REDACTED_PATHS], censor: "***" },
    },
    options.destination,
  );
}

/** The active span's ids. A fresh object each time: pino merges the line's fields into it. */
function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return {};
  return {
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    trace_flags: spanContext.traceFlags.toString(16).padStart(2, "0"),
  };
}

function levelFromEnv(value: string | undefined): LogLevel | undefined {
  const level = value?.trim().toLowerCase();
  if (!level) return undefined;
  if (!LEVELS.includes(level)) {
    throw new Error(
      `ENTENTE_LOG_LEVEL: unknown log level "${value}" (expected one of ${LEVELS.join(", ")})`,
    );
  }
  return level as LogLevel;
}

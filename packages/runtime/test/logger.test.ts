import { trace } from "@opentelemetry/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../src/logger.ts";
import { startTracing, type Tracing } from "../src/tracing/sdk.ts";

/** Collects the JSON lines a logger writes. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } };
}

const savedLevel = process.env.ENTENTE_LOG_LEVEL;
let tracing: Tracing;

beforeAll(async () => {
  delete process.env.ENTENTE_LOG_LEVEL;
  tracing = await startTracing({ serviceName: "entente-logger-test" });
});

afterAll(async () => {
  await tracing.shutdown();
});

afterEach(() => {
  if (savedLevel === undefined) delete process.env.ENTENTE_LOG_LEVEL;
  else process.env.ENTENTE_LOG_LEVEL = savedLevel;
});

describe("createLogger", () => {
  it("writes JSON lines with the service and the active span's ids", () => {
    const { lines, destination } = capture();
    const logger = createLogger({ service: "query-federation", destination });
    logger.info({ rows: 3 }, "outside");
    const span = trace.getTracer("test").startActiveSpan("work", (active) => {
      logger.info({ rows: 4 }, "inside");
      logger.child({ actor: "join-1" }).warn("inside a child");
      active.end();
      return active;
    });
    logger.info("after");

    const [outside, inside, child, after] = lines;
    expect(outside).toMatchObject({
      level: "info",
      service: "query-federation",
      rows: 3,
      msg: "outside",
    });
    expect(outside).not.toHaveProperty("trace_id");
    expect(outside).not.toHaveProperty("span_id");
    expect(typeof outside?.time).toBe("string");

    const { traceId, spanId } = span.spanContext();
    expect(inside).toMatchObject({
      level: "info",
      service: "query-federation",
      rows: 4,
      msg: "inside",
      trace_id: traceId,
      span_id: spanId,
      trace_flags: "01",
    });
    expect(child).toMatchObject({
      level: "warn",
      actor: "join-1",
      trace_id: traceId,
      span_id: spanId,
    });
    expect(after).not.toHaveProperty("trace_id");
  });

  it("defaults to info, takes ENTENTE_LOG_LEVEL, and lets the option win", () => {
    const quiet = capture();
    createLogger({ service: "s", destination: quiet.destination }).debug("hidden");
    expect(quiet.lines).toEqual([]);

    process.env.ENTENTE_LOG_LEVEL = "DEBUG";
    const verbose = capture();
    createLogger({ service: "s", destination: verbose.destination }).debug("shown");
    expect(verbose.lines).toMatchObject([{ level: "debug", msg: "shown" }]);

    const explicit = capture();
    createLogger({ service: "s", level: "warn", destination: explicit.destination }).info("hidden");
    expect(explicit.lines).toEqual([]);
  });

  it("names ENTENTE_LOG_LEVEL when its value is not a level", () => {
    process.env.ENTENTE_LOG_LEVEL = "loud";
    expect(() => createLogger({ service: "s" })).toThrow(
      /ENTENTE_LOG_LEVEL: unknown log level "loud"/,
    );
  });
});

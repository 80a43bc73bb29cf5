import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { DeferredEnd } from "../src/tracing/deferred-end.ts";

/** A processor that records what reaches it and when it is flushed. */
function recorder() {
  const events: string[] = [];
  const processor: SpanProcessor = {
    onStart: () => events.push("start"),
    onEnd: (span) => events.push(`end ${span.name}`),
    forceFlush: async () => {
      events.push("flush");
    },
    shutdown: async () => {
      events.push("shutdown");
    },
  };
  return { events, processor };
}

const span = (name: string) => ({ name }) as ReadableSpan;
const nextTask = () => new Promise((resolve) => setImmediate(resolve));

describe("DeferredEnd", () => {
  it("hands ended spans on after the current task, in order", async () => {
    const { events, processor } = recorder();
    const deferred = new DeferredEnd(processor);
    deferred.onEnd(span("a"));
    deferred.onEnd(span("b"));
    expect(events).toEqual([]);
    await nextTask();
    expect(events).toEqual(["end a", "end b"]);
  });

  it("hands over what waits before flushing or shutting down", async () => {
    const { events, processor } = recorder();
    const deferred = new DeferredEnd(processor);
    deferred.onEnd(span("a"));
    await deferred.forceFlush();
    deferred.onEnd(span("b"));
    await deferred.shutdown();
    expect(events).toEqual(["end a", "flush", "end b", "shutdown"]);
    await nextTask();
    expect(events).toHaveLength(4);
  });
});

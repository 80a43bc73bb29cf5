import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace";

/**
 * Hands ended spans on to an exporting processor after the current task. A batch processor
 * serialises a whole batch inside the `span.end()` that fills it, which is the end of some
 * request; deferred, the serialising runs once the replies published in that task have left,
 * not between them and the socket. Nothing is dropped: flush and shutdown hand over what waits.
 */
export class DeferredEnd implements SpanProcessor {
  readonly #next: SpanProcessor;
  #pending: ReadableSpan[] = [];
  #scheduled = false;

  constructor(next: SpanProcessor) {
    this.#next = next;
  }

  onStart(span: Span, parentContext: Context): void {
    this.#next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.#pending.push(span);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#handOver());
  }

  async forceFlush(): Promise<void> {
    this.#handOver();
    await this.#next.forceFlush();
  }

  async shutdown(): Promise<void> {
    this.#handOver();
    await this.#next.shutdown();
  }

  #handOver(): void {
    this.#scheduled = false;
    const spans = this.#pending;
    if (spans.length === 0) return;
    this.#pending = [];
    for (const span of spans) this.#next.onEnd(span);
  }
}

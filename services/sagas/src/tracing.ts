/**
 * Every saga is one trace: a span for the saga on each worker that runs it, and a child span
 * per execution of a step, whose outgoing requests are in turn its children. The first span's
 * context is kept in the saga's record (as a W3C traceparent), so a worker that resumes the saga
 * opens its span under it and the trace stays one.
 */
import {
  type Context,
  isSpanContextValid,
  context as otelContext,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

const tracer = () => trace.getTracer("@entente/sagas");

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function traceparentOf(span: Span): string | undefined {
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, "0")}`;
}

export function traceIdOf(traceparent: string | undefined): string | undefined {
  return traceparent ? TRACEPARENT.exec(traceparent)?.[1] : undefined;
}

/** The context of a span kept as a traceparent, to open children under. */
function contextOf(traceparent: string | undefined): Context {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!m) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: Number.parseInt(m[3] as string, 16),
    isRemote: true,
  });
}

/** The saga's span on this worker: under the starting request's, or under the saga's first. */
export function startSagaSpan(
  saga: { id: string; name?: string | undefined },
  parent: Context | string | undefined,
  resumed: boolean,
): { span: Span; context: Context } {
  const parentContext =
    typeof parent === "string" || parent === undefined ? contextOf(parent) : parent;
  const span = tracer().startSpan(
    `saga ${saga.name ?? "inline"}${resumed ? " (resumed)" : ""}`,
    { attributes: { "entente.saga.id": saga.id, "entente.saga.resumed": resumed } },
    parentContext,
  );
  return { span, context: trace.setSpan(parentContext, span) };
}

/** Runs `work` under a span of its own, a child of the saga's. */
export async function inStepSpan<T>(
  sagaContext: Context,
  name: string,
  attributes: Record<string, string | number>,
  work: (context: Context) => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { attributes }, sagaContext);
  const context = trace.setSpan(sagaContext, span);
  try {
    const result = await otelContext.with(context, () => work(context));
    span.end();
    return result;
  } catch (err) {
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(err),
    });
    span.end();
    throw err;
  }
}

export function endSagaSpan(span: Span, state: string): void {
  span.setAttribute("entente.saga.state", state);
  if (state === "needs_operator") span.setStatus({ code: SpanStatusCode.ERROR, message: state });
  span.end();
}

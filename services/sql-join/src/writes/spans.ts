/**
 * Spans for the steps of a transaction (prepare, decide, commit, rollback per participant), as
 * children of the request that commits it, so one trace shows the whole transaction.
 */
import { type Attributes, type Context, context, SpanStatusCode, trace } from "@opentelemetry/api";

const tracer = () => trace.getTracer("entente.transactions");

export async function inSpan<T>(
  parent: Context | undefined,
  name: string,
  attributes: Attributes,
  work: () => Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, { attributes }, parent ?? context.active());
  try {
    const result = await work();
    span.end();
    return result;
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
    span.end();
    throw err;
  }
}

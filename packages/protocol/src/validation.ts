import type { z } from "zod";
import { EntenteError } from "./errors.ts";

/**
 * Validates a decoded message against its schema. A failure is a BAD_REQUEST naming every
 * offending field, so a caller can fix the request without reading server logs.
 */
export function parseMessage<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(message)";
    return { path, message: issue.message };
  });
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  throw new EntenteError("BAD_REQUEST", `invalid ${what}: ${summary}`, { details: { problems } });
}

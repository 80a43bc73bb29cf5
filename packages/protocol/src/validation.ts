import type { z } from "zod";
import { EntenteError } from "./errors.ts";
import { truncateText } from "./text.ts";

/** At most this many problems are listed; a request can be wrong in a million places. */
export const MAX_LISTED_PROBLEMS = 20;
/** A problem quotes at most this much of the input (an unknown key can be a megabyte long). */
const MAX_PROBLEM_CHARS = 200;

/**
 * Validates a decoded message against its schema. A failure is a BAD_REQUEST naming every
 * offending field (the first MAX_LISTED_PROBLEMS of them, with a count of the rest), so a caller
 * can fix the request without reading server logs.
 */
export function parseMessage<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const problems = issues.slice(0, MAX_LISTED_PROBLEMS).map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(message)";
    return {
      path: truncateText(path, MAX_PROBLEM_CHARS),
      message: truncateText(issue.message, MAX_PROBLEM_CHARS),
    };
  });
  const omitted = issues.length - problems.length;
  const summary = problems.map((p) => `${p.path}: ${p.message}`).join("; ");
  const more = omitted > 0 ? `; and ${omitted} more` : "";
  throw new EntenteError("BAD_REQUEST", `invalid ${what}: ${summary}${more}`, {
    details: omitted > 0 ? { problems, omitted } : { problems },
  });
}

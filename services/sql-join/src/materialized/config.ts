/** The `materialize:` section: where materialized results are kept, and their bounds. */
import { z } from "zod";

export const materializeConfigSchema = z
  .object({
    /**
     * The cold store source (`kind: coldstore`) the results are written to, as tables
     * `mat_<id>` in its schema `main`. Without it nothing can be materialized.
     */
    source: z.string().min(1).optional(),
    /** Most materialized results kept at once; a new one past it is refused with TOO_LARGE. */
    maxResults: z.number().int().positive().max(1_000_000).default(1000),
    /** Most rows one materialized result may hold; a larger one is refused with TOO_LARGE. */
    maxRows: z.number().int().positive().max(1_000_000_000).default(1_000_000),
    /** Longest a materialization or a refresh may run before it is stopped. */
    runTimeoutMs: z
      .number()
      .int()
      .positive()
      .max(24 * 60 * 60 * 1000)
      .default(5 * 60 * 1000),
    /** Servers the `<deployment>_materialized` KV bucket is replicated over (at most 5). */
    replicas: z.number().int().min(1).max(5).default(1),
  })
  .strict()
  .prefault({});

export type MaterializeSettings = z.output<typeof materializeConfigSchema>;

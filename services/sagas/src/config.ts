/**
 * The `sagas:` configuration section: sagas defined by name, and the defaults of retries,
 * leases and the resume scan.
 */
import { sagaDefinitionSchema } from "@entente/protocol";
import { z } from "zod";

export const sagasConfigSchema = z
  .strictObject({
    /** Sagas started by name (`{ op: "start", name }`). */
    definitions: z.record(z.string().min(1).max(200), sagaDefinitionSchema).default({}),
    /** Attempts of each action and each compensation, the first included. */
    maxAttempts: z.number().int().min(1).max(100).default(5),
    /** First pause before a retry; it doubles up to `maxBackoffMs`. */
    backoffMs: z.number().int().min(0).default(200),
    maxBackoffMs: z.number().int().min(0).default(30_000),
    /** A saga whose owner has not renewed its lease for this long is taken up by another worker. */
    leaseMs: z.number().int().min(300).default(15_000),
    /** How often a worker looks for sagas whose owner's lease expired. */
    resumeEveryMs: z.number().int().min(100).default(5_000),
    /** A step's budget when it names none. */
    stepTimeoutMs: z.number().int().min(1).default(30_000),
    /** A step's reply is kept in the saga up to this size (as JSON); beyond, a preview. */
    maxResultBytes: z
      .number()
      .int()
      .min(64)
      .max(64 * 1024)
      .default(4096),
  })
  .prefault({});

export type SagasSettings = z.output<typeof sagasConfigSchema>;

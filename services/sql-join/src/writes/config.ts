/** The `writes:` section: which sources statements may write, and the bounds of transactions. */
import { z } from "zod";

export const writesConfigSchema = z
  .object({
    /**
     * Sources INSERT, UPDATE and DELETE may write. Empty by default: every source is read-only
     * until the configuration names it here.
     */
    sources: z.array(z.string().min(1)).default([]),
    /** Most statements in one `statements` transaction. */
    maxStatements: z.number().int().positive().max(10_000).default(1_000),
    /** Most rows a read inside a transaction, or an INSERT … SELECT, may return. */
    maxRows: z.number().int().positive().default(100_000),
    /** An interactive transaction idle this long is rolled back. */
    sessionIdleMs: z.number().int().positive().default(30_000),
    /** Most interactive transactions one worker holds open at once. */
    maxSessions: z.number().int().positive().default(256),
    /** How often recovery looks for in-doubt transactions. */
    recoverEveryMs: z.number().int().positive().default(30_000),
    /**
     * A transaction prepared this long with no decision logged is presumed aborted and rolled
     * back. Longer than any coordinator takes from its first prepare to its decision.
     */
    recoverAfterMs: z.number().int().positive().default(60_000),
    /**
     * Servers the decision log is replicated over (a JetStream cluster's size, at most 5). A
     * decision is only as durable as this log: see docs/transactions.md.
     */
    logReplicas: z.number().int().min(1).max(5).default(1),
    /**
     * How long the decision log keeps a decision. Recovery keeps the decision of a transaction
     * still prepared somewhere; only a participant unreachable for longer loses it.
     */
    logRetentionMs: z
      .number()
      .int()
      .min(60 * 60 * 1000)
      .default(7 * 24 * 60 * 60 * 1000),
  })
  .strict()
  .prefault({});

export type WritesSettings = z.output<typeof writesConfigSchema>;

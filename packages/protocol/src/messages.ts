import { z } from "zod";

/** Control messages a requester sends to the producer of a batched reply. */
export const streamControlSchema = z.union([
  z.object({ credit: z.number().int().positive().max(1_000_000) }).strict(),
  z.object({ cancel: z.literal(true), reason: z.string().max(1000).optional() }).strict(),
]);
export type StreamControl = z.infer<typeof streamControlSchema>;

/** Diagnostics service messages. */
export const echoRequestSchema = z.object({ payload: z.unknown().optional() }).strict();
export type EchoRequest = z.infer<typeof echoRequestSchema>;

export const streamRequestSchema = z
  .object({
    /** Total bytes to generate, up to 4 GiB. */
    bytes: z
      .number()
      .int()
      .nonnegative()
      .max(4 * 1024 ** 3),
    /** Size of each generated item. */
    itemBytes: z
      .number()
      .int()
      .positive()
      .max(16 * 1024 ** 2)
      .default(64 * 1024),
    /** Pause between items, to simulate a slow producer. */
    delayMs: z.number().int().nonnegative().max(60_000).default(0),
  })
  .strict();
export type StreamRequest = z.input<typeof streamRequestSchema>;

import { z } from "zod";

/** Control messages a requester sends to the producer of a batched reply. */
export const streamControlSchema = z.union([
  z.object({ credit: z.number().int().positive().max(1_000_000) }).strict(),
  z.object({ cancel: z.literal(true), reason: z.string().max(1000).optional() }).strict(),
]);
export type StreamControl = z.infer<typeof streamControlSchema>;

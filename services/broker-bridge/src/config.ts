/**
 * The `bridge:` configuration section, as documented in docs/broker-bridge.md. Each link is
 * validated with the link definition of the wire contract (`linkSchema` in @entente/protocol),
 * which links added at run time are validated with too.
 */
import { linkName, linkSchema } from "@entente/protocol";
import { z } from "zod";

export const bridgeSchema = z
  .strictObject({
    links: z
      .record(z.string(), z.unknown())
      .superRefine((links, ctx) => {
        // Checked here rather than as the record's key schema, whose error does not say why.
        for (const name of Object.keys(links)) {
          const result = linkName.safeParse(name);
          if (!result.success) {
            ctx.addIssue({
              code: "custom",
              path: [name],
              message: `link name ${JSON.stringify(name)}: ${result.error.issues[0]?.message}`,
            });
          }
        }
      })
      .pipe(z.record(z.string(), linkSchema))
      .default({}),
    /** A link's owner renews its lease this often; another worker takes over after ttl. */
    leaseTtlMs: z.number().int().min(1000).default(5000),
    /** Status is published this often, and at every change. */
    statusIntervalMs: z.number().int().min(100).default(2000),
    /** A link with lag that forwards nothing for this long is stalled and restarted. */
    stallAfterMs: z.number().int().min(500).default(30_000),
    /** Larger messages are not forwarded (reported and dead-lettered). */
    maxMessageBytes: z
      .number()
      .int()
      .min(1)
      .default(8 * 1024 * 1024),
    /** How long a downstream confirmation may take before the message is redelivered. */
    confirmTimeoutMs: z.number().int().min(100).default(10_000),
  })
  .prefault({});

export type BridgeSettings = z.output<typeof bridgeSchema>;
